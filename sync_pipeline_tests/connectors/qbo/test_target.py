"""QboTarget against the QuickBooks Online sandbox (in process): customers, invoices in batches of 30, credit
memos, payments, lookups, pull-back; US sales tax and a non-US multicurrency company."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.limits import RateLimiter, RateLimits
from sync_pipeline.connectors.qbo import MemoryTokenStore, QboAuth, QboClient, QboSettings, QboTarget, Tokens
from sync_pipeline.contracts.payloads.accounting import (
    BankTransactionDraftV1,
    CreditNoteDraftV1,
    CreditNoteDraftV2,
    Customer,
    InvoiceDraftV1,
    InvoiceDraftV2,
    InvoiceLineV1,
    InvoiceUpdateV1,
    PaymentDraftV1,
)
from sync_pipeline.domain import ids
from sync_pipeline.sandbox.qbo import QboSandbox
from sync_pipeline.sandbox.qbo_oauth import TOKEN_PATH
from sync_pipeline.sandbox.server import SandboxServer

US, UK = "9130357000000001", "9130357000000002"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QboSandbox, str]]:
    sb = QboSandbox(str(tmp_path_factory.mktemp("qbo") / "qbo.sqlite3"), minute_limit=0, second_limit=0,
                    concurrent_limit=50, batch_minute_limit=0)
    sb.add_company(US, "Target US Inc", country="US")
    sb.add_company(UK, "Target UK Ltd", country="GB", multicurrency=True, custom_txn_numbers=True)
    server = SandboxServer(sb).start()
    sb.base_url = server.url
    try:
        yield sb, server.url
    finally:
        server.stop()


def make_target(sandbox: tuple[QboSandbox, str], realm: str, settings: QboSettings) -> QboTarget:
    sb, url = sandbox
    store = MemoryTokenStore({realm: Tokens(refresh_token=sb.issue_tokens(realm)["refresh_token"])})
    auth = QboAuth(realm, sb.client_id, sb.client_secret, store, token_url=url + TOKEN_PATH)
    client = QboClient(url, auth, batch_limiter=RateLimiter(RateLimits()))
    return QboTarget(client, settings)


@pytest.fixture(scope="module")
def us(sandbox) -> Iterator[QboTarget]:
    t = make_target(sandbox, US, QboSettings(realm_id=US, home_currency="USD", tax_model="us",
                                             tax_codes={"OUTPUT2": "TAX", "NONE": "NON"},
                                             us_sales_tax_code="California",
                                             accounts={"200": "Services", "090": "Checking"}))
    yield t
    t.close()


@pytest.fixture(scope="module")
def uk(sandbox) -> Iterator[QboTarget]:
    t = make_target(sandbox, UK, QboSettings(realm_id=UK, home_currency="GBP", tax_model="global",
                                             tax_codes={"OUTPUT2": "20.0% S", "ZERORATEDOUTPUT": "0.0% Z"},
                                             custom_doc_numbers=True,
                                             accounts={"200": "Services", "090": "Checking"}))
    yield t
    t.close()


def invoice(client: str, *, currency: str = "USD", tax: str = "OUTPUT2", period: str = "2026-10",
            entity: str = "acme") -> InvoiceDraftV1:
    return InvoiceDraftV1(
        reference=ids.invoice_reference(entity, client, period), currency=currency, date=date(2026, 10, 31),
        due_date=date(2026, 11, 30), status="AUTHORISED",
        customer=Customer(number=f"HV-{client}", name=f"Client {client}", currency=currency),
        lines=[InvoiceLineV1(description="Dev — Oct", quantity=Decimal("2.5"), unit_amount=Decimal("100"),
                             line_amount=Decimal("250.00"), account_code="200", tax_type=tax)])


def test_it_is_an_accounting_target(us: QboTarget) -> None:
    assert isinstance(us, AccountingTarget) and us.system == "qbo"


def test_sixty_five_invoices_go_in_three_batches_each_answering_for_itself(us: QboTarget) -> None:
    drafts = [(f"k{n}", invoice(str(n))) for n in range(65)]
    drafts[7] = ("k7", invoice("7", tax="NOSUCHTAX"))  # fails alone, before anything is sent
    before = us.client.batch_calls
    results = us.post("invoice", drafts, key_prefix="inv")
    assert us.client.batch_calls - before == 3
    assert [r.source_key for r in results] == [k for k, _ in drafts]
    bad = results[7]
    assert not bad.ok and "no QuickBooks tax code for tax type 'NOSUCHTAX'" in bad.errors[0]
    good = [r for r in results if r.ok]
    assert len(good) == 64, [r.errors for r in results if not r.ok][:3]
    doc = good[0].document
    assert doc.kind == "invoice" and doc.reference == ids.invoice_reference("acme", "0", "2026-10")
    assert doc.currency == "USD" and doc.total == Decimal("270.00")  # 250 + California 8 %
    assert doc.amount_due == doc.total and doc.status == "AUTHORISED" and doc.number


def test_posting_the_same_records_again_replays_instead_of_duplicating(us: QboTarget) -> None:
    drafts = [("again-1", invoice("501")), ("again-2", invoice("502"))]
    first = us.post("invoice", drafts, key_prefix="rerun")
    count = len(us.client.query("SELECT * FROM Invoice"))
    second = us.post("invoice", drafts, key_prefix="rerun")  # same keys and payloads: same requestid
    assert len(us.client.query("SELECT * FROM Invoice")) == count
    assert [r.document.id for r in first] == [r.document.id for r in second]


def test_customers_are_found_by_number_and_get_one_per_currency(uk: QboTarget) -> None:
    gbp = uk.ensure_customer(Customer(number="HV-77", name="O'Brien: Ltd", currency="GBP"))
    uk._customers.clear()
    assert uk.ensure_customer(Customer(number="HV-77", name="renamed", currency="GBP")) == gbp
    eur = uk.ensure_customer(Customer(number="HV-77", name="O'Brien: Ltd", currency="EUR"))
    assert eur != gbp
    assert uk.find("contact", number="HV-77").id == gbp
    names = sorted(r["DisplayName"] for r in uk.client.query("SELECT * FROM Customer"))
    assert "O'Brien Ltd [HV-77]" in names and "O'Brien Ltd [HV-77 EUR]" in names


def test_non_us_lines_carry_their_tax_code_and_a_foreign_currency(uk: QboTarget) -> None:
    (r,) = uk.post("invoice", [("eur-1", invoice("88", currency="EUR"))], key_prefix="uk")
    assert r.ok, r.errors
    raw = uk.client.read("Invoice", r.document.id)
    assert raw["GlobalTaxCalculation"] == "TaxExcluded" and raw["CurrencyRef"]["value"] == "EUR"
    assert raw["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == uk.tax_id("20.0% S")
    assert r.document.total == Decimal("300.00") and r.document.currency == "EUR"
    assert raw["DocNumber"] == r.document.number and len(raw["DocNumber"]) <= 21


def test_with_custom_numbers_a_repost_under_new_keys_finds_the_document(uk: QboTarget) -> None:
    draft = invoice("89", currency="GBP")
    (first,) = uk.post("invoice", [("n-1", draft)], key_prefix="num")
    (again,) = uk.post("invoice", [("n-1", draft)], key_prefix="num-other-run")  # new requestid: 6140 from QBO
    assert again.ok and again.document.id == first.document.id
    found = uk.find("invoice", reference=draft.reference)
    assert found is not None and found.id == first.document.id


def test_find_by_reference_without_custom_numbers(us: QboTarget) -> None:
    draft = invoice("601")
    (posted,) = us.post("invoice", [("f-1", draft)], key_prefix="find")
    assert us.find("invoice", reference=draft.reference).id == posted.document.id
    assert us.find("invoice", number=posted.document.number).id == posted.document.id
    assert us.find("invoice", reference=ids.invoice_reference("acme", "404", "2026-10")) is None


def test_a_credit_memo_and_a_payment_settle_the_invoice(us: QboTarget) -> None:
    draft = invoice("701")
    (inv,) = us.post("invoice", [("p-inv", draft)], key_prefix="pay")
    note = CreditNoteDraftV1(reference=ids.credit_note_reference(draft.reference, 1), currency="USD",
                             date=date(2026, 11, 5), due_date=date(2026, 11, 5), status="AUTHORISED",
                             customer=draft.customer, lines=draft.lines[:1], against_invoice_number=inv.document.number)
    (cm,) = us.post("credit_note", [("p-cm", note)], key_prefix="pay")
    assert cm.ok and cm.document.kind == "credit_note" and cm.document.total == Decimal("270.00")
    pay = PaymentDraftV1(invoice_id=inv.document.id, account_code="090", date=date(2026, 11, 20),
                         amount=Decimal("100.00"), reference="BANK-701")
    by_number = PaymentDraftV1(invoice_number=inv.document.number, account_code="090", date=date(2026, 11, 21),
                               amount=Decimal("20.00"))
    missing = PaymentDraftV1(invoice_id="999999", account_code="090", date=date(2026, 11, 21), amount=Decimal("1"))
    results = us.post("payment", [("p1", pay), ("p2", by_number), ("p3", missing)], key_prefix="pay")
    assert [r.ok for r in results] == [True, True, False], [r.errors for r in results]
    assert "no live QuickBooks invoice 999999" in results[2].errors[0]
    assert results[0].document.total == Decimal("100.00")
    assert us.find("invoice", reference=draft.reference).amount_due == Decimal("150.00")


def test_pull_back_reads_changes_strictly(us: QboTarget) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    docs = list(us.modified_since("invoice", since))
    assert docs and all(d.kind == "invoice" and d.updated_at for d in docs)
    assert {d.status for d in docs} <= {"AUTHORISED", "PAID"}
    assert list(us.modified_since("payment", since)) and us.rejected == []


def test_the_target_declares_what_services_rely_on(us: QboTarget) -> None:
    assert us.account_id == US and us.name == "QuickBooks Online"
    caps = us.capabilities
    assert (caps.max_batch, caps.max_concurrency, caps.page_size) == (30, 10, 1000)
    assert not caps.draft_invoices and not caps.line_tax_override and not caps.line_tracking
    assert caps.credit_allocation
    us.probe()
    usage = us.usage()
    assert usage.requests >= 1 and usage.circuit == "closed" and usage.remaining_minute is not None


def test_credit_applied_and_payments_come_back_as_allocations_and_amounts(uk: QboTarget) -> None:
    cid = uk.ensure_customer(Customer(number="HV-301", name="Tyrell", currency="GBP"))
    assert uk.find_contacts(["HV-301", "HV-NONE"])["HV-301"].id == cid
    line = {"description": "Development", "quantity": "2", "unit_amount": "100.00", "line_amount_minor": 20000,
            "account_code": "200", "tax_type": "OUTPUT2"}
    inv_draft = InvoiceDraftV2(reference="SP-tgt-2026-10-C301-R1", contact_id=cid, currency="GBP",
                               date=date(2026, 10, 31), due_date=date(2026, 11, 30), status="AUTHORISED", lines=[line])
    [inv] = uk.create("invoice", [inv_draft], idempotency_key="tgt-inv-1")
    assert inv.ok, inv.errors
    assert inv.document.total == Decimal("240.00") and inv.document.total_tax == Decimal("40.00")
    cn = CreditNoteDraftV2(reference="SP-tgt-2026-10-C301-R1-CN1", contact_id=cid, currency="GBP",
                           date=date(2026, 11, 2), due_date=date(2026, 11, 2), status="AUTHORISED",
                           lines=[{**line, "quantity": "0.5", "line_amount_minor": 5000}])
    [credit] = uk.create("credit_note", [cn], idempotency_key="tgt-cn-1")
    assert credit.ok, credit.errors
    uk.allocate_credit(credit.document.id, invoice_id=inv.document.id, amount=Decimal("60.00"),
                       on=date(2026, 11, 2), idempotency_key="tgt-alloc-1")
    [pay] = uk.post("payment", [("line-1", PaymentDraftV1(invoice_id=inv.document.id, account_code="090",
                                                          date=date(2026, 11, 5), amount=Decimal("100.00"),
                                                          reference="bank line 1"))], key_prefix="tgt-pay")
    assert pay.ok and pay.document.kind == "payment" and pay.document.invoice_id == inv.document.id

    [doc] = uk.documents("invoice", reference_prefix="SP-tgt-2026-10-").documents
    assert (doc.contact_id, doc.status, doc.currency, doc.date) == (cid, "AUTHORISED", "GBP", date(2026, 10, 31))
    assert doc.amount_due == Decimal("80.00") and doc.amount_credited == Decimal("60.00")
    assert doc.amount_paid == Decimal("100.00")
    assert doc.lines[0].quantity == Decimal("2") and doc.lines[0].account_code == "200"
    assert doc.lines[0].tax_type == "OUTPUT2"
    assert [(a.kind, a.document_id, a.amount) for a in doc.allocations] == [
        ("credit_note", credit.document.id, Decimal("60.00"))]
    [cnd] = uk.documents("credit_note", ids=[credit.document.id]).documents
    assert cnd.amount_due == Decimal("0.00") and cnd.allocations[0].document_id == inv.document.id
    payments = uk.documents("payment", modified_since=datetime(2020, 1, 1, tzinfo=UTC)).documents
    assert any(p.id == pay.document.id and p.total == Decimal("100.00") and p.account_code == "090" for p in payments)
    assert uk.documents("invoice", reference_prefix="SP-tgt-2026-10-", statuses=["PAID"]).documents == []


def test_an_invoice_is_voided_or_its_lines_replaced(us: QboTarget) -> None:
    (a,), (b,) = (us.post("invoice", [(k, invoice(c))], key_prefix="upd") for k, c in (("u1", "801"), ("u2", "802")))
    line = {"description": "Redone", "quantity": "1", "unit_amount": "50.00", "line_amount_minor": 5000,
            "account_code": "200", "tax_type": "NONE"}
    voided, changed = us.update("invoice", [
        InvoiceUpdateV1(id=a.document.id, status="VOIDED", currency="USD"),
        InvoiceUpdateV1(id=b.document.id, status="AUTHORISED", currency="USD", lines=[line])],
        idempotency_key="upd-1")
    assert voided.ok and voided.document.status == "VOIDED" and voided.document.total == Decimal("0")
    assert changed.ok and changed.document.total == Decimal("50.00")
    assert us.find("invoice", reference=invoice("801").reference) is None  # voided: not live


def test_bank_transactions_are_deposits(us: QboTarget) -> None:
    draft = BankTransactionDraftV1(type="RECEIVE", bank_account_code="090", date=date(2026, 11, 3),
                                   reference="interest Nov", currency="USD",
                                   lines=[{"description": "Interest", "unit_amount": "4.20", "account_code": "200"}])
    [r] = us.post("bank_transaction", [("bank-1", draft)], key_prefix="bank")
    assert r.ok, r.errors
    [doc] = us.documents("bank_transaction", direction="receive", ids=[r.document.id]).documents
    assert doc.direction == "receive" and doc.total == Decimal("4.20") and doc.reference == "interest Nov"
