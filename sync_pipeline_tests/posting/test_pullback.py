"""Payments, credit notes and statuses pulled back incrementally (If-Modified-Since) into the warehouse."""

from datetime import date
from decimal import Decimal

from sync_pipeline.connectors.xero import payment_payload
from sync_pipeline.contracts.payloads.accounting import PaymentDraftV1
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.xero import ms_date, utcnow
from sync_pipeline.services.pullback import pull_accounting
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.posting.conftest import as_target, drafts
from sync_pipeline_tests.posting.test_posting_service import BASE, post

TENANT = demo_data.XERO_TENANT_ID


def by_ref(df, col="reference"):
    return {r[col]: r for r in df.to_dict("records")}


def test_statuses_payments_and_credit_notes_come_back_incrementally(sandboxes, xero, any_store, tmp_path):
    # Xero-only: counts Xero's calls per pull and bounces a payment (a reversal the target interface has not)
    wh = Warehouse(tmp_path / "wh")
    post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    first = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    docs = by_ref(first.frames["accounting_invoices"])
    c1 = docs["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["status"], c1["total_minor"], c1["amount_due_minor"], c1["client_id"]) == ("AUTHORISED", 54000, 54000, "1")
    assert first.changed == {"invoices": 2, "credit_notes": 0, "payments": 0}

    # nothing changed: the next pull reads no documents, and the tables stay as they were
    again = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    assert again.changed == {"invoices": 0, "credit_notes": 0, "payments": 0} and again.api_calls == 3
    assert len(again.frames["accounting_invoices"]) == 2

    # a partial payment, then the rest: status, paid and due follow; each payment is one row
    inv_id = c1["document_id"]
    xero.create_payments([payment_payload(account_code="090", date="2026-11-05", amount=Decimal("200.00"),
                                          invoice_id=inv_id, reference="BACS ACME 1/2")], idempotency_key="pay-1")
    part = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    assert part.changed == {"invoices": 1, "credit_notes": 0, "payments": 1}
    c1 = by_ref(part.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["status"], c1["amount_paid_minor"], c1["amount_due_minor"]) == ("AUTHORISED", 20000, 34000)
    [p1] = part.frames["raw_payments"].to_dict("records")
    assert (p1["kind"], p1["amount_minor"], p1["partial"], p1["payment_reference"], p1["bank_account_code"]) == (
        "payment", 20000, True, "BACS ACME 1/2", "090")
    made = xero.create_payments([payment_payload(account_code="090", date="2026-11-20", amount=Decimal("340.00"),
                                                 invoice_id=inv_id)], idempotency_key="pay-2")
    paid = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    c1 = by_ref(paid.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["status"], c1["amount_due_minor"], c1["fully_paid_on"]) == ("PAID", 0, "2026-11-20")
    assert len(paid.frames["raw_payments"]) == 2

    # the second payment bounces: reversed in Xero, the row stays with status DELETED and the invoice reopens
    xero.delete_payment(made[0]["PaymentID"], idempotency_key="bounce")
    bounced = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    pays = by_ref(bounced.frames["raw_payments"], "settlement_id")
    assert pays[made[0]["PaymentID"]]["status"] == "DELETED"
    assert by_ref(bounced.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]["status"] == "AUTHORISED"

    # a late change on the EUR invoice: its credit note comes back, applied to the invoice
    edited = [*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "110", "3.0", "1005")]
    post(drafts("acme-uk", "2026-10", edited), xero, any_store)
    adj = pull_accounting(as_target(xero), any_store, wh, "acme-uk", "2026-10")
    [cn] = adj.frames["raw_credit_notes"].to_dict("records")
    assert (cn["reference"], cn["original_reference"], cn["ours"], cn["subtotal_minor"], cn["remaining_credit_minor"]) \
        == ("SP-acme-uk-2026-10-C2-R1-CN1", "SP-acme-uk-2026-10-C2-R1", True, 44000, 0)
    alloc = [r for r in adj.frames["raw_payments"].to_dict("records") if r["kind"] == "credit_note_allocation"]
    assert [(a["reference"], a["amount_minor"], a["source_id"]) for a in alloc] == [
        ("SP-acme-uk-2026-10-C2-R1", 52800, cn["credit_note_id"])]
    docs = by_ref(adj.frames["accounting_invoices"])
    assert docs["SP-acme-uk-2026-10-C2-R1"]["status"] == "PAID"  # fully credited
    assert docs["SP-acme-uk-2026-10-C2-R2"]["amount_due_minor"] == 39600
    assert docs["SP-acme-uk-2026-10-C2-R1-CN1"]["document_kind"] == "credit_note"


def test_retainer_drawdown_is_a_prepayment_settlement(sandboxes, xero, sqlite_store, tmp_path):
    """A retainer paid up front is drawn down against the month's invoice; Xero lists it on the invoice (Xero-only:
    written into the Xero sandbox's tables).

    The sandbox has no /Prepayments endpoint, so the drawdown is written onto the invoice as Xero shows it.
    """
    wh = Warehouse(tmp_path / "wh")
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    pull_accounting(as_target(xero), sqlite_store, wh, "acme-uk", "2026-10")
    store = sandboxes.xero.store
    [inv] = [d for d in store.query("Invoices", TENANT) if d["Reference"] == "SP-acme-uk-2026-10-C1-R1"]
    inv["Prepayments"] = [{"PrepaymentID": "7d0c5e2a-4b1f-4c3e-9a6d-2f8e1b3c5a70", "AppliedAmount": Decimal("300.00"),
                           "Date": "/Date(1793491200000+0000)/"}]
    inv["AmountCredited"], inv["AmountDue"] = Decimal("300.00"), Decimal("240.00")
    now = utcnow()
    store.put("Invoices", TENANT, inv["InvoiceID"].lower(), {**inv, "_updated": now.isoformat(),
                                                             "UpdatedDateUTC": ms_date(now)})
    res = pull_accounting(as_target(xero), sqlite_store, wh, "acme-uk", "2026-10")
    [dd] = [r for r in res.frames["raw_payments"].to_dict("records") if r["kind"] == "prepayment_allocation"]
    assert (dd["reference"], dd["amount_minor"], dd["source_id"], dd["partial"]) == (
        "SP-acme-uk-2026-10-C1-R1", 30000, "7d0c5e2a-4b1f-4c3e-9a6d-2f8e1b3c5a70", True)
    c1 = by_ref(res.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["amount_credited_minor"], c1["amount_due_minor"]) == (30000, 24000)


def test_payments_and_a_credit_note_come_back_from_either_target(target, sqlite_store, tmp_path):
    """Pull-back in neutral terms: payments written through ``AccountingTarget``, read back into the warehouse.

    The pulls follow the writes within a second or so: on QuickBooks (whole-second stamps) a payment usually lands
    in the second the previous pull's cursor stands in, and must still come back."""
    wh = Warehouse(tmp_path / "wh")
    post(drafts("acme-uk", "2026-10", BASE), target, sqlite_store)
    first = pull_accounting(target, sqlite_store, wh, "acme-uk", "2026-10")
    inv_id = by_ref(first.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]["document_id"]
    paid = target.create("payment", [PaymentDraftV1(invoice_id=inv_id, account_code="090", date=date(2026, 11, 5),
                                                    amount=Decimal("200.00"), reference="BACS ACME 1/2")],
                         idempotency_key="pay-1")
    assert paid[0].ok
    part = pull_accounting(target, sqlite_store, wh, "acme-uk", "2026-10")
    c1 = by_ref(part.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["status"], c1["amount_paid_minor"], c1["amount_due_minor"]) == ("AUTHORISED", 20000, 34000)
    [p1] = part.frames["raw_payments"].to_dict("records")
    assert (p1["kind"], p1["amount_minor"], p1["partial"], p1["bank_account_code"]) == ("payment", 20000, True, "090")
    target.create("payment", [PaymentDraftV1(invoice_id=inv_id, account_code="090", date=date(2026, 11, 20),
                                             amount=Decimal("340.00"))], idempotency_key="pay-2")
    full = pull_accounting(target, sqlite_store, wh, "acme-uk", "2026-10")
    c1 = by_ref(full.frames["accounting_invoices"])["SP-acme-uk-2026-10-C1-R1"]
    assert (c1["status"], c1["amount_due_minor"], c1["fully_paid_on"]) == ("PAID", 0, "2026-11-20")

    # a late change on the EUR invoice: its credit note comes back, applied to the invoice
    edited = [*BASE[:2], ("2", "Globex GmbH", "EUR", "21", "1", "110", "3.0", "1005")]
    post(drafts("acme-uk", "2026-10", edited), target, sqlite_store)
    adj = pull_accounting(target, sqlite_store, wh, "acme-uk", "2026-10")
    [cn] = adj.frames["raw_credit_notes"].to_dict("records")
    assert (cn["reference"], cn["original_reference"], cn["subtotal_minor"], cn["remaining_credit_minor"]) \
        == ("SP-acme-uk-2026-10-C2-R1-CN1", "SP-acme-uk-2026-10-C2-R1", 44000, 0)
    alloc = [r for r in adj.frames["raw_payments"].to_dict("records") if r["kind"] == "credit_note_allocation"]
    assert [(a["reference"], a["amount_minor"]) for a in alloc] == [("SP-acme-uk-2026-10-C2-R1", 52800)]
    docs = by_ref(adj.frames["accounting_invoices"])
    assert docs["SP-acme-uk-2026-10-C2-R1"]["status"] == "PAID"  # fully credited
    assert docs["SP-acme-uk-2026-10-C2-R2"]["amount_due_minor"] == 39600
