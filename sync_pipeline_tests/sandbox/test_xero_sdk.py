"""The official xero-python SDK, pointed at the sandbox, gets a token (client credentials), creates a
contact and an invoice, reads them back, pays the invoice and sees it PAID."""

from __future__ import annotations

from datetime import date

import pytest

from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline.sandbox.xero import XeroSandbox
from sync_pipeline_tests.sandbox.conftest import TENANT

xero_python = pytest.importorskip("xero_python", reason="xero-python is a dev dependency: pip install -e '.[dev]'")


def test_official_sdk_round_trip(xero: tuple[XeroSandbox, SandboxServer], monkeypatch: pytest.MonkeyPatch) -> None:
    from xero_python.accounting import (
        Account,
        AccountingApi,
        Contact,
        Contacts,
        Invoice,
        Invoices,
        LineAmountTypes,
        LineItem,
        Payment,
    )
    from xero_python.api_client import ApiClient, Configuration
    from xero_python.api_client.oauth2 import OAuth2Token, TokenApi

    sb, server = xero
    # the SDK's identity endpoint is a class attribute; point it (only) at the sandbox
    monkeypatch.setattr(TokenApi, "client_credentials_token_url", f"{server.url}/connect/token")
    tokens: dict[str, dict] = {}
    client = ApiClient(Configuration(oauth2_token=OAuth2Token(client_id=sb.client_id, client_secret=sb.client_secret)),
                       pool_threads=1)
    client.oauth2_token_getter(lambda: tokens.get("token"))
    client.oauth2_token_saver(lambda token: tokens.__setitem__("token", token))
    client.get_client_credentials_token()
    assert tokens["token"]["access_token"]
    api = AccountingApi(client, base_url=f"{server.url}/api.xro/2.0")

    contact = api.create_contacts(TENANT, contacts=Contacts(contacts=[Contact(name="SDK Ltd", contact_number="SDK-1")]))
    contact_id = contact.contacts[0].contact_id
    invoice = Invoice(type="ACCREC", contact=Contact(contact_id=contact_id), date=date(2026, 10, 31),
                      due_date=date(2026, 11, 30), reference="SDK-INV-1", status="AUTHORISED",
                      line_amount_types=LineAmountTypes.EXCLUSIVE,
                      line_items=[LineItem(description="Consulting", quantity=2.0, unit_amount=50.0,
                                           account_code="200", tax_type="OUTPUT2")])
    created = api.create_invoices(TENANT, invoices=Invoices(invoices=[invoice]), summarize_errors=False,
                                  idempotency_key="sdk-invoice-1")
    made = created.invoices[0]
    assert not made.has_errors and made.invoice_number == "INV-00001"
    assert (made.sub_total, made.total_tax, made.total) == (100.0, 20.0, 120.0)

    got = api.get_invoice(TENANT, made.invoice_id).invoices[0]
    assert got.reference == "SDK-INV-1" and got.contact.name == "SDK Ltd" and got.status == "AUTHORISED"
    assert got.date == date(2026, 10, 31)
    found = api.get_invoices(TENANT, where='Reference=="SDK-INV-1"', page=1)
    assert [i.invoice_id for i in found.invoices] == [made.invoice_id]

    api.create_payment(TENANT, payment=Payment(invoice=Invoice(invoice_id=made.invoice_id),
                                               account=Account(code="090"), amount=120.0, date=date(2026, 11, 5)))
    paid = api.get_invoice(TENANT, made.invoice_id).invoices[0]
    assert paid.status == "PAID" and paid.amount_due == 0.0
