"""The Xero connector never sends what Xero's spec refuses: long text is fitted, the rest refused unsent."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.xero import XeroClient, XeroTarget, contact_payload, invoice_payload
from sync_pipeline.connectors.xero.outbound import OutboundContractError, shorten
from sync_pipeline.contracts import xero_spec
from sync_pipeline.contracts.payloads.accounting import Customer
from sync_pipeline.sandbox import demo_data

CONTACT = "5b7f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"


def _line(description: str = "Dev", **extra) -> dict:
    return {"description": description, "quantity": Decimal("1"), "unit_amount": Decimal("100"),
            "line_amount": Decimal("100.00"), "account_code": "200", "tax_type": "OUTPUT2", **extra}


def _invoice(ref: str, **line) -> dict:
    return invoice_payload(contact_id=CONTACT, reference=ref, currency="GBP", date="2026-10-31",
                           due_date="2026-11-30", status="DRAFT", lines=[_line(**line)])


def _recording_client() -> tuple[XeroClient, list[dict]]:
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return httpx.Response(200, json={"access_token": "tok-abcdef", "expires_in": 1800})
        body = json.loads(request.content)
        sent.append(body)
        coll = next(iter(body))
        return httpx.Response(200, json={coll: [{**it, "InvoiceID": CONTACT, "HasErrors": False}
                                                for it in body[coll]]})

    client = XeroClient("https://xero.test", "cid", "csecret-123456", demo_data.XERO_TENANT_ID,
                        transport=httpx.MockTransport(handler))
    return client, sent


@given(st.text(max_size=400), st.integers(min_value=1, max_value=300))
def test_shorten_keeps_short_text_and_cuts_long_text_to_the_limit_with_an_ellipsis(text: str, limit: int) -> None:
    out = shorten(text, limit)
    assert len(out) <= limit
    assert out == text if len(text) <= limit else (out.endswith("…") and text.startswith(out[:-1]))


def test_long_contact_names_and_line_descriptions_are_fitted_to_xeros_limits() -> None:
    contact = contact_payload("N" * 300, "C-1", "GBP")
    assert len(contact["Name"]) == xero_spec.max_length("Contact", "Name") == 255
    assert contact["Name"] == "N" * 254 + "…"
    line = _invoice("R-1", description="d" * 5000)["LineItems"][0]
    assert line["Description"] == "d" * 3999 + "…"


def test_a_record_the_spec_refuses_fails_alone_and_is_never_sent() -> None:
    client, sent = _recording_client()
    results = client.write_batches("Invoices", [("good", _invoice("R-good")),
                                                ("bad", _invoice("R-bad", tracking=[("P" * 101, "opt")]))],
                                   key_prefix="inv")
    by_key = {r.source_key: r for r in results}
    assert by_key["good"].ok
    assert not by_key["bad"].ok
    assert by_key["bad"].errors == ["refused before sending to Xero: LineItems[0].Tracking[0].Name: must be at "
                                    "most 100 characters long (it has 101)"]
    assert [it["Reference"] for body in sent for it in body["Invoices"]] == ["R-good"]
    client.close()


def test_any_other_write_the_spec_refuses_raises_before_sending() -> None:
    client, sent = _recording_client()
    with pytest.raises(OutboundContractError, match="ContactNumber: must be at most 50 characters"):
        client.create_contacts([contact_payload("Initech", "9" * 51, "GBP")], idempotency_key="contact-x")
    assert sent == []
    client.close()


def test_a_long_customer_name_reaches_the_sandbox_shortened(sandboxes) -> None:
    client = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret,
                        demo_data.XERO_TENANT_ID)
    try:
        contact_id = XeroTarget(client).ensure_customer(Customer(number="HV-LONG", name="Q" * 300, currency="GBP"))
        assert client.get_by_id("Contacts", contact_id)["Name"] == "Q" * 254 + "…"
    finally:
        client.close()
