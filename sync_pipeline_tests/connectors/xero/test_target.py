"""XeroTarget as an AccountingTarget: neutral drafts in, neutral documents out, against the Xero sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.xero import XeroClient, XeroTarget
from sync_pipeline.contracts.payloads.accounting import (
    BankTransactionDraftV1,
    CreditNoteDraftV2,
    Customer,
    InvoiceDraftV2,
    InvoiceUpdateV1,
    PaymentDraftV1,
)
from sync_pipeline.sandbox import demo_data
from sync_pipeline_tests.connectors.xero.test_client import client_for

TENANT = demo_data.XERO_TENANT_ID
LINE = {"description": "Development", "quantity": "2", "unit_amount": "100.00", "line_amount_minor": 20000,
        "account_code": "200", "tax_type": "OUTPUT2", "tracking": [{"category": "Project", "option": "ACM-WEB"}]}


@pytest.fixture
def target(sandboxes):
    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret, TENANT,
                   max_attempts=4)
    c.http._backoff = lambda state: 0.01
    t = XeroTarget(c)
    yield t
    t.close()


def _invoice(ref: str, contact_id: str, status: str = "AUTHORISED", **line) -> InvoiceDraftV2:
    return InvoiceDraftV2(reference=ref, contact_id=contact_id, currency="GBP", date=date(2026, 10, 31),
                          due_date=date(2026, 11, 30), status=status, lines=[{**LINE, **line}])


def test_the_target_declares_what_services_rely_on(target):
    assert isinstance(target, AccountingTarget)
    assert target.system == "xero" and target.account_id == TENANT
    caps = target.capabilities
    assert (caps.max_batch, caps.max_concurrency, caps.page_size) == (50, 5, 1000)
    target.probe()
    assert target.usage().requests >= 1 and target.usage().circuit == "closed"


def test_documents_come_back_neutral_with_lines_allocations_and_amounts(target):
    cid = target.ensure_customer(Customer(number="HV-301", name="Tyrell", currency="GBP"))
    assert target.find_contacts(["HV-301", "HV-NONE"])["HV-301"].id == cid
    [inv] = target.create("invoice", [_invoice("TGT-2026-10-1", cid)], idempotency_key="tgt-inv-1")
    assert inv.ok and inv.document.number and inv.document.total == Decimal("240.00")
    cn = CreditNoteDraftV2(reference="TGT-2026-10-1-CN1", contact_id=cid, currency="GBP", date=date(2026, 11, 2),
                           due_date=date(2026, 11, 2), status="AUTHORISED",
                           lines=[{**LINE, "quantity": "0.5", "line_amount_minor": 5000}])
    [credit] = target.create("credit_note", [cn], idempotency_key="tgt-cn-1")
    assert credit.ok, credit.errors
    target.allocate_credit(credit.document.id, invoice_id=inv.document.id, amount=Decimal("60.00"),
                           on=date(2026, 11, 2), idempotency_key="tgt-alloc-1")
    [pay] = target.post("payment", [("line-1", PaymentDraftV1(invoice_id=inv.document.id, account_code="090",
                                                              date=date(2026, 11, 5), amount=Decimal("100.00"),
                                                              reference="bank line 1", reconciled=True))],
                        key_prefix="tgt-pay")
    assert pay.ok and pay.document.kind == "payment" and pay.document.invoice_id == inv.document.id

    [doc] = target.documents("invoice", reference_prefix="TGT-2026-10-").documents
    assert (doc.contact_id, doc.status, doc.currency, doc.date) == (cid, "AUTHORISED", "GBP", date(2026, 10, 31))
    assert doc.amount_due == Decimal("80.00") and doc.amount_credited == Decimal("60.00")
    assert doc.lines[0].quantity == Decimal("2") and doc.lines[0].tracking[0].option == "ACM-WEB"
    assert [(a.kind, a.document_id, a.amount) for a in doc.allocations] == [
        ("credit_note", credit.document.id, Decimal("60.00"))]
    [cnd] = target.documents("credit_note", ids=[credit.document.id]).documents
    assert cnd.amount_due == Decimal("0.00") and cnd.allocations[0].document_id == inv.document.id
    payments = target.documents("payment", modified_since=datetime(2020, 1, 1, tzinfo=UTC)).documents
    assert any(p.id == pay.document.id and p.total == Decimal("100.00") for p in payments)
    assert target.find("invoice", reference="TGT-2026-10-1").id == inv.document.id


def test_drafts_are_updated_and_voided_in_one_call(target):
    cid = target.ensure_customer(Customer(number="HV-302", name="Cyberdyne", currency="GBP"))
    made = target.create("invoice", [_invoice(f"UPD-2026-10-{n}", cid, "DRAFT") for n in (1, 2)],
                         idempotency_key="upd-create")
    assert all(r.ok for r in made)
    new_lines = [{**LINE, "quantity": "3", "line_amount_minor": 30000}]
    changed = target.update("invoice", [
        InvoiceUpdateV1(id=made[0].document.id, status="DRAFT", currency="GBP", line_amount_types="Exclusive",
                        lines=new_lines),
        InvoiceUpdateV1(id=made[1].document.id, status="DELETED", currency="GBP")], idempotency_key="upd-1")
    assert [r.ok for r in changed] == [True, True], [r.errors for r in changed]
    assert changed[0].document.subtotal == Decimal("300.00") and changed[1].document.status == "DELETED"
    assert target.find("invoice", reference="UPD-2026-10-2") is None  # deleted: not live


def test_a_refused_item_fails_alone_with_the_reason(target):
    cid = target.ensure_customer(Customer(number="HV-303", name="Soylent", currency="GBP"))
    spend = BankTransactionDraftV1(type="SPEND", bank_account_code="090", date=date(2026, 11, 5), currency="GBP",
                                   lines=[{"description": "Bank fee", "unit_amount": "2.50", "line_amount": "2.50",
                                           "account_code": "404", "tax_type": "NONE"}])
    [fee] = target.post("bank_transaction", [("fee-1", spend)], key_prefix="tgt-fee")
    assert fee.ok and fee.document.direction == "spend"
    results = target.create("invoice", [_invoice("BAD-2026-10-1", cid, line_amount_minor=99900),
                                        _invoice("BAD-2026-10-2", cid)], idempotency_key="bad-1")
    assert [r.ok for r in results] == [False, True] and "does not match" in results[0].errors[0]


def test_documents_that_do_not_read_are_rejected_by_name_never_guessed():
    bad = {"InvoiceID": "0b7f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e", "Type": "ACCREC", "Reference": "SP-x-2026-10-1",
           "CurrencyCode": "GBP", "Status": "AUTHORISED", "Total": "12.50", "UpdatedDateUTC": "/Date(1791000000000+0000)/"}
    good = {**bad, "InvoiceID": "1b7f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e", "Reference": "SP-x-2026-10-2", "Total": 12}

    def api(req):
        return httpx.Response(200, content=b'{"Invoices": [%s, %s]}' % (
            httpx.Response(200, json=bad).content, httpx.Response(200, json=good).content))

    c, _ = client_for(api)
    listing = XeroTarget(c).documents("invoice", reference_prefix="SP-x-2026-10-")
    assert [d.reference for d in listing.documents] == ["SP-x-2026-10-2"]
    [r] = listing.rejected
    assert listing.references[r.record] == "SP-x-2026-10-1" and r.problems[0].field == "Total"
