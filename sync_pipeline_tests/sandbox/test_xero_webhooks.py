"""Xero webhooks from the sandbox: intent to receive, signatures, payload shape, retries, faults."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest
import yaml

from sync_pipeline.contracts.codec import loads
from sync_pipeline.sandbox.server import App, Request, Response, SandboxServer
from sync_pipeline.sandbox.xero_webhooks import sign
from sync_pipeline_tests.sandbox.conftest import XeroApi, shared_dir

KEY = "test-webhook-key"


class Receiver(App):
    """A subscriber that checks x-xero-signature like a real one (or misbehaves on request)."""

    name = "receiver"

    def __init__(self, key: str = KEY, check: bool = True, fail_first: int = 0) -> None:
        super().__init__()
        self.key, self.check, self.fail_first = key, check, fail_first
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.router.add("POST", "/hook", self._hook)

    def _hook(self, req: Request) -> Response:
        if self.check and req.headers.get("x-xero-signature") != sign(self.key, req.body):
            return Response(401)
        with self.lock:
            if self.fail_first > 0 and loads(req.body)["events"]:
                self.fail_first -= 1
                return Response(503)
            self.bodies.append(req.body)
        return Response(200)

    def events(self) -> list[dict[str, Any]]:
        return [e for b in self.bodies for e in loads(b)["events"]]


@pytest.fixture
def receiver():
    apps: list[SandboxServer] = []

    def make(**kw: Any) -> tuple[Receiver, str]:
        app = Receiver(**kw)
        server = SandboxServer(app).start()
        apps.append(server)
        return app, f"{server.url}/hook"

    yield make
    for s in apps:
        s.stop()


def _wait(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _invoice(api: XeroApi, ref: str) -> dict:
    cid = api.ok("PUT", "Contacts", {"Contacts": [{"Name": f"Client {ref}"}]})["Contacts"][0]["ContactID"]
    return api.ok("PUT", "Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2026-10-31", "Reference": ref, "Status": "AUTHORISED",
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": Decimal("10"), "AccountCode": "200"}]}]}
    )["Invoices"][0]


def test_intent_to_receive_accepts_a_receiver_that_checks_signatures(api: XeroApi, receiver) -> None:
    app, url = receiver()
    sub = api.sb.webhooks.subscribe(url, KEY)
    assert sub.status == "OK", sub.detail
    assert len(app.bodies) == 2  # the correctly signed half; the others were answered 401
    assert all(loads(b)["events"] == [] for b in app.bodies)
    lazy, lazy_url = receiver(check=False)
    bad = api.sb.webhooks.subscribe(lazy_url, KEY)
    assert bad.status == "FAILED" and "expected 401" in bad.detail
    _invoice(api, "R-1")
    api.sb.webhooks.flush()
    assert lazy.events() == []  # a subscription that failed the check gets no events


def test_events_are_signed_batched_sequenced_and_match_the_spec(api: XeroApi, receiver) -> None:
    app, url = receiver()
    api.sb.webhooks.subscribe(url, KEY)
    inv = _invoice(api, "R-1")
    cn = api.ok("PUT", "CreditNotes", {"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": inv["Contact"]["ContactID"]}, "Status": "AUTHORISED",
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": Decimal("2"), "AccountCode": "200"}]}]}
    )["CreditNotes"][0]
    api.ok("PUT", f"CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [
        {"Amount": Decimal("1"), "Date": "2026-11-01", "Invoice": {"InvoiceID": inv["InvoiceID"]}}]})
    assert api.sb.webhooks.flush()
    events = app.events()
    kinds = [(e["eventCategory"], e["eventType"]) for e in events]
    assert kinds[:2] == [("CONTACT", "CREATE"), ("INVOICE", "CREATE")]
    assert ("CREDITNOTE", "CREATE") in kinds and kinds.count(("INVOICE", "UPDATE")) == 1
    cn_event = next(e for e in events if e["eventCategory"] == "CREDITNOTE")
    assert cn_event["data"] == {"Type": "ACCRECCREDIT", "Status": "AUTHORISED"}
    assert events[1]["resourceId"] == inv["InvoiceID"]
    assert events[1]["resourceUrl"].endswith(f"/api.xro/2.0/Invoices/{inv['InvoiceID']}")
    sequences = []
    for body in app.bodies[2:]:
        payload = loads(body)
        sequences.extend(range(payload["firstEventSequence"], payload["lastEventSequence"] + 1))
        assert len(payload["entropy"]) == 20
    assert sequences == list(range(1, len(events) + 1))
    spec_path = shared_dir() / "contracts" / "xero" / "xero-webhooks.yaml"
    if not spec_path.exists():
        pytest.skip("xero-webhooks.yaml is not in shared/contracts/xero; payload shape not checked against it")
    from jsonschema import Draft202012Validator

    components = yaml.safe_load(spec_path.read_text())["components"]
    plain = Draft202012Validator({"$ref": "#/components/schemas/WebhookEvent", "components": components})
    credit = Draft202012Validator({"$ref": "#/components/schemas/CreditNoteWebhookEvent", "components": components})
    for body in app.bodies:
        payload = loads(body)
        plain.validate(payload)
        only_cn = [e for e in payload["events"] if e["eventCategory"] == "CREDITNOTE"]
        if only_cn:
            credit.validate({**payload, "events": only_cn})


def test_only_subscribed_categories_are_sent_and_failed_deliveries_are_retried(api: XeroApi, receiver) -> None:
    api.sb.webhooks.retry_base = 0.05
    app, url = receiver(fail_first=2)
    api.sb.webhooks.subscribe(url, KEY, categories=["INVOICE"])
    _invoice(api, "R-1")
    assert api.sb.webhooks.flush()
    assert [e["eventCategory"] for e in app.events()] == ["INVOICE"]
    statuses = [d["status"] for d in api.sb.webhooks.delivered if d["why"] == "event"]
    assert statuses == [503, 503, 200]


def test_duplicate_delivery_fault(api: XeroApi, receiver) -> None:
    app, url = receiver()
    api.sb.webhooks.subscribe(url, KEY, categories=["INVOICE"])
    api.sb.faults.add("duplicate", path="/hook", times=1)
    _invoice(api, "R-1")
    assert api.sb.webhooks.flush(timeout=60)
    deliveries = [b for b in app.bodies if loads(b)["events"]]
    assert len(deliveries) == 2 and deliveries[0] == deliveries[1]


def test_out_of_order_delivery_fault(api: XeroApi, receiver) -> None:
    app, url = receiver()
    api.sb.webhooks.subscribe(url, KEY, categories=["INVOICE"])
    api.sb.webhooks.hold_seconds = 60.0  # under load the successor may come late; never send the held batch early
    api.sb.faults.add("out_of_order", path="/hook", times=1)
    _invoice(api, "R-1")
    _wait(lambda: len(api.sb.webhooks._held) == 1)
    _invoice(api, "R-2")
    assert api.sb.webhooks.flush(timeout=60)
    firsts = [loads(b)["firstEventSequence"] for b in app.bodies if loads(b)["events"]]
    assert firsts == [2, 1]  # the first batch arrived after the second
