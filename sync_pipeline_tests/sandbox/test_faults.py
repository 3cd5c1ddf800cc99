"""Each fault kind, injected per route from a test (the CLI path is in test_cli_sandbox.py)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from sync_pipeline.contracts.codec import dumps
from sync_pipeline_tests.sandbox.conftest import XeroApi


def _headers(api: XeroApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}", "Xero-Tenant-Id": api.tenant}


@pytest.mark.parametrize("kind", ["429", "500", "503"])
def test_status_faults_hit_only_their_route_and_count_down(api: XeroApi, kind: str) -> None:
    api.sb.faults.add(kind, path="/Invoices$", method="GET", times=2, retry_after=3)
    url = "/api.xro/2.0/Invoices"
    first = api.http.get(url, headers=_headers(api))
    assert first.status_code == int(kind)
    if kind in ("429", "503"):
        assert first.headers["Retry-After"] == "3"
    assert api.http.get("/api.xro/2.0/Contacts", headers=_headers(api)).status_code == 200  # other route
    assert api.http.get(url, headers=_headers(api)).status_code == int(kind)
    assert api.http.get(url, headers=_headers(api)).status_code == 200  # used up
    assert [f[0] for f in api.sb.faults.fired] == [kind, kind]


def test_slow_response_outlasts_a_client_timeout(api: XeroApi) -> None:
    api.sb.faults.add("slow", path="/Contacts", delay=0.6)
    with pytest.raises(httpx.ReadTimeout):
        api.http.get("/api.xro/2.0/Contacts", headers=_headers(api), timeout=0.2)


def test_connection_reset(api: XeroApi) -> None:
    api.sb.faults.add("reset", path="/Contacts")
    with httpx.Client(base_url=api.url) as fresh, pytest.raises(httpx.TransportError):
        fresh.get("/api.xro/2.0/Contacts", headers=_headers(api))


def test_truncated_body(api: XeroApi) -> None:
    api.sb.faults.add("truncate", path="/Accounts")
    with httpx.Client(base_url=api.url) as fresh, pytest.raises(httpx.TransportError):
        fresh.get("/api.xro/2.0/Accounts", headers=_headers(api))


def test_commit_then_drop_writes_but_never_answers(api: XeroApi) -> None:
    api.sb.faults.add("commit_then_drop", path="/Contacts", method="PUT")
    body = dumps({"Contacts": [{"Name": "Dropped Ltd"}]})
    with httpx.Client(base_url=api.url) as fresh, pytest.raises(httpx.TransportError):
        fresh.put("/api.xro/2.0/Contacts", content=body, headers={**_headers(api), "Idempotency-Key": "k1"})
    names = [c["Name"] for c in api.ok("GET", "Contacts")["Contacts"]]
    assert names == ["Dropped Ltd"]  # the write committed
    # the retry with the same key replays the first answer instead of creating a second contact
    again = api.call("PUT", "Contacts", {"Contacts": [{"Name": "Dropped Ltd"}]}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(api.ok("GET", "Contacts")["Contacts"]) == 1


def test_probability_and_forever(api: XeroApi) -> None:
    api.sb.faults.add("500", path="/Currencies", times=-1, probability=0.5)
    statuses = [api.http.get("/api.xro/2.0/Currencies", headers=_headers(api)).status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) > 5
    api.sb.faults.clear()
    assert api.http.get("/api.xro/2.0/Currencies", headers=_headers(api)).status_code == 200


def test_admin_endpoint_adds_lists_and_clears(api: XeroApi) -> None:
    r = api.http.post("/_sandbox/faults", json={"kind": "503", "path": "/TaxRates", "times": 1})
    assert r.status_code == 201
    assert api.http.get("/_sandbox/faults").json()["faults"][0]["kind"] == "503"
    assert api.http.get("/api.xro/2.0/TaxRates", headers=_headers(api)).status_code == 503
    assert api.http.post("/_sandbox/faults", json={"kind": "boom"}).status_code == 400
    assert api.http.post("/_sandbox/faults", json={"kind": "500", "colour": "red"}).status_code == 400
    assert api.http.delete("/_sandbox/faults").status_code == 200
    assert api.http.get("/_sandbox/faults").json()["faults"] == []


def test_idempotency_key_replays_and_rejects_another_body(api: XeroApi) -> None:
    cid = api.ok("PUT", "Contacts", {"Contacts": [{"Name": "Idem Ltd"}]})["Contacts"][0]["ContactID"]
    inv = {"Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2026-10-31", "Reference": "IDEM-1",
           "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": Decimal("5"), "AccountCode": "200"}]}
    first = api.call("PUT", "Invoices", {"Invoices": [inv]}, headers={"Idempotency-Key": "batch-1"})
    again = api.call("PUT", "Invoices", {"Invoices": [inv]}, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["Invoices"][0]["InvoiceID"] == again.json()["Invoices"][0]["InvoiceID"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.call("PUT", "Invoices", {"Invoices": [{**inv, "Reference": "IDEM-2"}]},
                     headers={"Idempotency-Key": "batch-1"})
    assert other.status_code == 400 and "different request" in other.json()["Message"]
    assert len(api.ok("GET", "Invoices")["Invoices"]) == 1
    # a validation failure is remembered too: the same request replays the same 400
    bad = {**inv, "LineItems": [{"Description": "x", "UnitAmount": 1, "AccountCode": "nope"}]}
    b1 = api.call("PUT", "Invoices", {"Invoices": [bad]}, headers={"Idempotency-Key": "bad-1"})
    b2 = api.call("PUT", "Invoices", {"Invoices": [bad]}, headers={"Idempotency-Key": "bad-1"})
    assert b1.status_code == b2.status_code == 400 and b2.headers["Idempotent-Replayed"] == "true"
