"""Xero target: MockTransport unit tests, sandbox integration with faults, the OpenAPI contract check itself."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.http import AuthError, TransientError
from sync_pipeline.connectors.limits import CircuitBreaker
from sync_pipeline.connectors.xero import (
    XeroClient,
    XeroTarget,
    bank_transaction_payload,
    credit_note_payload,
    if_modified_since,
    invoice_payload,
    parse_xero_date,
    payment_payload,
)
from sync_pipeline.contracts.payloads.accounting import Customer, InvoiceDraftV2, PaymentDraftV1
from sync_pipeline.sandbox import demo_data
from sync_pipeline_tests import xero_openapi

TENANT = demo_data.XERO_TENANT_ID
CONTACT = "5b7f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"


def _line(n: int) -> dict:
    return {"description": f"Dev {n}", "quantity": Decimal("1.5"), "unit_amount": Decimal("100"),
            "line_amount": Decimal("150.00"), "account_code": "200", "tax_type": "OUTPUT2"}


def _invoice(ref: str, contact: str = CONTACT) -> dict:
    return invoice_payload(contact_id=contact, reference=ref, currency="GBP", date="2026-10-31",
                           due_date="2026-11-30", status="DRAFT", lines=[_line(1)])


class FakeXero:
    """A MockTransport handler with a token endpoint and scripted API answers."""

    def __init__(self, api):
        self.api = api
        self.tokens = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/connect/token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"tok-{self.tokens}-abcdef", "expires_in": 1800})
        return self.api(request)


def client_for(api, **kw) -> tuple[XeroClient, FakeXero]:
    fake = FakeXero(api)
    kw.setdefault("breaker", CircuitBreaker(failure_threshold=50))
    return XeroClient("https://xero.test", "cid", "csecret-123456", TENANT, transport=httpx.MockTransport(fake),
                      **kw), fake


def test_batch_results_map_back_to_source_records_and_carry_idempotency_keys():
    def api(req):
        items = json.loads(req.content)["Invoices"]
        out = []
        for it in items:
            if it["Reference"].endswith("bad"):
                out.append({**it, "HasErrors": True, "ValidationErrors": [{"Message": "Account code '999' is not valid"}]})
            else:
                out.append({**it, "InvoiceID": f"id-{it['Reference']}", "InvoiceNumber": "INV-1", "HasErrors": False})
        assert req.url.params["summarizeErrors"] == "false"
        return httpx.Response(200, json={"Invoices": out})

    c, fake = client_for(api)
    records = [(f"key-{i}", _invoice(f"R{i}" + ("bad" if i % 7 == 3 else ""))) for i in range(120)]
    results = c.write_batches("Invoices", records, key_prefix="inv")
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert [len(json.loads(r.content)["Invoices"]) for r in puts] == [50, 50, 20]
    keys = [r.headers["Idempotency-Key"] for r in puts]
    assert len(set(keys)) == 3 and all(k.startswith("inv-") for k in keys)
    assert [r.source_key for r in results] == [k for k, _ in records]
    bad = [r for r in results if not r.ok]
    assert [r.source_key for r in bad] == [f"key-{i}" for i in range(120) if i % 7 == 3]
    assert bad[0].errors == ["Account code '999' is not valid"] and bad[0].document is None
    assert results[0].document["InvoiceID"] == "id-R0"
    # the same records give the same keys: a re-run replays instead of duplicating
    c2, fake2 = client_for(api)
    c2.write_batches("Invoices", records, key_prefix="inv")
    assert [r.headers["Idempotency-Key"] for r in fake2.requests if r.method == "PUT"] == keys


def test_a_batch_refused_as_a_whole_fails_each_of_its_items_with_the_reason():
    c, _ = client_for(lambda req: httpx.Response(400, json={"Message": "A validation exception occurred"}))
    results = c.write_batches("Invoices", [("a", _invoice("A")), ("b", _invoice("B"))], key_prefix="inv")
    assert [r.ok for r in results] == [False, False]
    assert "HTTP 400" in results[0].errors[0]


def test_writes_refuse_more_than_50_and_missing_idempotency_key():
    c, _ = client_for(lambda req: httpx.Response(200, json={}))
    with pytest.raises(ValueError, match="at most 50"):
        c.create_invoices([_invoice(str(i)) for i in range(51)], idempotency_key="k")
    with pytest.raises(ValueError, match="Idempotency-Key"):
        c.create("Payments", [{"Amount": 1}], "")


def test_token_is_refreshed_when_the_api_answers_401():
    state = {"n": 0}

    def api(req):
        state["n"] += 1
        if state["n"] == 1:
            return httpx.Response(401, json={"Detail": "TokenExpired"})
        assert req.headers["Authorization"] == "Bearer tok-2-abcdef"
        return httpx.Response(200, json={"Contacts": []})

    c, fake = client_for(api)
    assert c.find_contact_by_number("HV-1") is None
    assert fake.tokens == 2


def test_a_second_401_is_an_auth_error_that_names_what_to_fix():
    c, _ = client_for(lambda req: httpx.Response(401, json={"Detail": "AuthenticationUnsuccessful"}))
    with pytest.raises(AuthError, match="check the credentials of xero"):
        c.find_invoice_by_reference("X")


def test_if_modified_since_polling_sends_the_header_and_streams_pages():
    def api(req):
        assert req.headers["If-Modified-Since"] == "2026-10-01T12:00:00Z"
        page = int(req.url.params["page"])
        n = 100 if page == 1 else 3
        return httpx.Response(200, json={"Payments": [
            {"PaymentID": f"p{page}-{i}", "Amount": "10.00", "UpdatedDateUTC": "/Date(1791000000000+0000)/"}
            for i in range(n)]})

    c, _ = client_for(api)
    target = XeroTarget(c)
    docs = list(target.modified_since("payment", datetime(2026, 10, 1, 12, tzinfo=UTC)))
    assert len(docs) == 103 and docs[0].total == Decimal("10.00") and docs[0].updated_at == datetime(2026, 10, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError):
        if_modified_since(datetime(2026, 1, 1))


def test_transient_failures_are_retried_with_the_same_idempotency_key():
    seen = []

    def api(req):
        seen.append(req.headers["Idempotency-Key"])
        if len(seen) < 3:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"CreditNotes": [{"CreditNoteID": "c1", "HasErrors": False}]})

    c, _ = client_for(api)
    body = credit_note_payload(contact_id=CONTACT, reference="CN-1", currency="GBP", date="2026-11-02",
                               status="DRAFT", lines=[_line(1)])
    assert c.create_credit_notes([body], idempotency_key="cn-1")[0]["CreditNoteID"] == "c1"
    assert seen == ["cn-1"] * 3


def test_parse_xero_date():
    assert parse_xero_date("/Date(1730000000000+0000)/") == datetime(2024, 10, 27, 3, 33, 20, tzinfo=UTC)
    assert parse_xero_date("2026-10-01T00:00:00") == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_xero_date(None) is None


def test_xero_target_is_an_accounting_target_and_posts_v2_drafts():
    posted = []

    def api(req):
        if req.method == "GET":
            return httpx.Response(200, json={"Contacts": [{"ContactID": CONTACT, "ContactNumber": "HV-1"}]})
        items = json.loads(req.content)["Invoices"]
        posted.extend(items)
        return httpx.Response(200, json={"Invoices": [
            {**i, "InvoiceID": "0b7f0c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e", "InvoiceNumber": "INV-9", "Status": "DRAFT",
             "Total": "180.00", "AmountDue": "180.00", "UpdatedDateUTC": "/Date(1791000000000+0000)/"} for i in items]})

    c, _ = client_for(api)
    target = XeroTarget(c)
    assert isinstance(target, AccountingTarget)
    draft = InvoiceDraftV2(reference="acme-uk/2026-10/1", customer=Customer(number="HV-1", name="Acme", currency="GBP"),
                           currency="GBP", date=date(2026, 10, 31), due_date=date(2026, 11, 30),
                           lines=[{"description": "Dev", "quantity": "1.5", "unit_amount": "100",
                                   "line_amount_minor": 15000, "account_code": "200", "tax_type": "OUTPUT2",
                                   "source_entry_ids": ["1001", "1002"]}])
    [res] = target.post("invoice", [("inv-key-1", draft)], key_prefix="inv")
    assert res.ok and res.document.number == "INV-9" and res.document.total == Decimal("180.00")
    assert posted[0]["LineItems"][0]["LineAmount"] == 150.0 and posted[0]["Contact"] == {"ContactID": CONTACT}


# -- sandbox integration (faults on) ------------------------------------------------------------
@pytest.fixture
def xero(sandboxes):
    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret, TENANT,
                   max_attempts=4)
    c.http._backoff = lambda state: 0.01  # keep the suite fast; the backoff itself is tested above
    yield c
    c.close()


def test_sandbox_contacts_and_invoices_survive_faults(xero, sandboxes):
    faults = sandboxes.xero.faults
    target = XeroTarget(xero)
    faults.add("503", method="GET", path="Contacts", times=1, retry_after=0)
    contact_id = target.ensure_customer(Customer(number="HV-77", name="Initech", currency="GBP"))
    assert target.ensure_customer(Customer(number="HV-77", name="Initech", currency="GBP")) == contact_id
    # the write is committed but the answer is lost: the retry replays under the same Idempotency-Key
    faults.add("commit_then_drop", method="PUT", path="Invoices", times=1)
    faults.add("500", method="PUT", path="Invoices", times=1)
    bad = _invoice("SB-bad", contact_id)
    bad["LineItems"][0]["LineAmount"] = Decimal("999.00")
    records = [(f"k{i}", _invoice(f"SB-{i}", contact_id)) for i in range(3)] + [("bad", bad)]
    # the wrong line amount is rejected by the sandbox item by item; the others are created
    results = xero.write_batches("Invoices", records, key_prefix="sb")
    assert [r.ok for r in results] == [True, True, True, False]
    assert "does not match" in results[3].errors[0]
    assert len(xero.invoices_with_reference_prefix("SB-")) == 3  # no duplicate from the dropped answer
    assert ("commit_then_drop", "PUT", "/api.xro/2.0/Invoices") in faults.fired
    inv = xero.find_invoice_by_reference("SB-1")
    assert xero.find_invoice_by_number(inv["InvoiceNumber"])["InvoiceID"] == inv["InvoiceID"]
    doc = target.find("invoice", reference="SB-2")
    assert doc is not None and doc.total == Decimal("180.00") and doc.currency == "GBP"


def test_sandbox_if_modified_since(xero):
    target = XeroTarget(xero)
    cid = target.ensure_customer(Customer(number="HV-78", name="Hooli", currency="GBP"))
    before = datetime.now(UTC).replace(microsecond=0)
    xero.create_invoices([_invoice("IMS-1", cid)], idempotency_key="ims-1")
    assert [d.reference for d in target.modified_since("invoice", before)] == ["IMS-1"]
    assert list(target.modified_since("invoice", datetime(2100, 1, 1, tzinfo=UTC))) == []


def test_sandbox_outage_opens_the_circuit_and_reports_it(sandboxes):
    br = CircuitBreaker(name="xero", failure_threshold=3, reset_timeout=60)
    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret, TENANT,
                   max_attempts=10, breaker=br)
    c.http._backoff = lambda state: 0.0
    sandboxes.xero.faults.add("500", path="Invoices", times=-1)
    with pytest.raises(TransientError, match="circuit open"):
        c.find_invoice_by_reference("X")
    assert br.snapshot()["state"] == "open" and br.snapshot()["consecutive_failures"] == 3
    fired = len(sandboxes.xero.faults.fired)
    with pytest.raises(TransientError, match="circuit open"):
        c.find_invoice_by_reference("Y")
    assert len(sandboxes.xero.faults.fired) == fired  # failing fast: the sandbox was not called
    c.close()


# -- the contract check itself ------------------------------------------------------------------
def _recorded(method: str, path: str, body: dict | None, query: str = "summarizeErrors=false"):
    headers = {"authorization": "Bearer x", "xero-tenant-id": TENANT, "idempotency-key": "k",
               "content-type": "application/json"}
    from sync_pipeline.contracts.codec import dumps

    return xero_openapi.Recorded(method, path, query, headers, dumps(body) if body else None)


def test_openapi_check_accepts_our_payloads_and_rejects_a_wrong_one():
    if isinstance(xero_openapi.load_spec(), str):
        pytest.skip(xero_openapi.load_spec())
    from sync_pipeline.contracts.codec import dumps

    good = [
        ("put", "/api.xro/2.0/Invoices", {"Invoices": [_invoice("R1")]}),
        ("put", "/api.xro/2.0/CreditNotes", {"CreditNotes": [credit_note_payload(
            contact_id=CONTACT, reference="CN", currency="GBP", date="2026-11-01", status="DRAFT", lines=[_line(1)])]}),
        ("put", "/api.xro/2.0/Payments", {"Payments": [payment_payload(
            account_code="090", date="2026-11-05", amount=Decimal("180.00"), invoice_id=CONTACT)]}),
        ("put", "/api.xro/2.0/BankTransactions", {"BankTransactions": [bank_transaction_payload(
            type_="SPEND", bank_account_code="090", date="2026-11-05", currency="GBP",
            lines=[{"description": "Bank fee", "quantity": Decimal(1), "unit_amount": Decimal("2.50"),
                    "account_code": "404"}])]}),
    ]
    recs = [xero_openapi.Recorded(m, p, "summarizeErrors=false", _recorded(m, p, None).headers, dumps(b))
            for m, p, b in good]
    assert xero_openapi.validate(recs) == []
    bad = _recorded("put", "/api.xro/2.0/Invoices", {"Invoices": [{**_invoice("R2"), "Type": "SALE",
                                                                   "Contact": {"ContactID": "acme"}}]})
    [problem] = xero_openapi.validate([bad])
    assert "Invoices.0.Type" in problem and "Invoices.0.Contact.ContactID" in problem


def test_payment_draft_refuses_floats_and_needs_a_target():
    with pytest.raises(ValueError, match="never a binary float"):
        PaymentDraftV1(invoice_id="x", account_code="090", date=date(2026, 1, 1), amount=1.1)
    with pytest.raises(ValueError, match="applies to an invoice"):
        PaymentDraftV1(account_code="090", date=date(2026, 1, 1), amount=Decimal("1"))


def test_sandbox_credit_notes_payments_and_bank_transactions_through_the_target(xero, sandboxes):
    from sync_pipeline.contracts.payloads.accounting import (
        BankTransactionDraftV1,
        CreditNoteDraftV1,
        InvoiceDraftV1,
    )

    target = XeroTarget(xero)
    cust = Customer(number="HV-90", name="Umbrella Ltd", currency="GBP")
    line = {"description": "Development", "quantity": "2", "unit_amount": "100.00", "line_amount": "200.00",
            "account_code": "200", "tax_type": "OUTPUT2"}
    inv = InvoiceDraftV1(reference="UMB-2026-10", customer=cust, currency="GBP", date=date(2026, 10, 31),
                         due_date=date(2026, 11, 30), status="AUTHORISED", lines=[line])
    [posted] = target.post("invoice", [("inv-umb", inv)], key_prefix="inv")
    assert posted.ok, posted.errors
    assert posted.document.total == Decimal("240.00")
    sandboxes.xero.faults.add("503", method="PUT", path="CreditNotes", times=1, retry_after=0)
    cn = CreditNoteDraftV1(reference="UMB-2026-10-CN1", customer=cust, currency="GBP", date=date(2026, 11, 3),
                           due_date=date(2026, 11, 3), status="AUTHORISED",
                           lines=[{**line, "quantity": "0.5", "line_amount": "50.00"}])
    [credit] = target.post("credit_note", [("cn-umb", cn)], key_prefix="cn")
    assert credit.ok, credit.errors
    assert target.find("credit_note", reference="UMB-2026-10-CN1").total == Decimal("60.00")
    pays = [("pay-1", PaymentDraftV1(invoice_number=posted.document.number, account_code="090", date=date(2026, 11, 5),
                                     amount=Decimal("100.00"), reference="bank line 17")),
            ("pay-bad", PaymentDraftV1(invoice_id="00000000-0000-0000-0000-000000000000", account_code="090",
                                       date=date(2026, 11, 5), amount=Decimal("1.00")))]
    results = target.post("payment", pays, key_prefix="pay")
    assert [r.source_key for r in results] == ["pay-1", "pay-bad"]
    assert results[0].ok and not results[1].ok and results[1].errors  # mapped back to the bank line it came from
    assert target.find("invoice", reference="UMB-2026-10").amount_due == Decimal("140.00")
    fee = BankTransactionDraftV1(type="SPEND", bank_account_code="090", date=date(2026, 11, 5), currency="GBP",
                                 reference="Bank fee Nov", lines=[{"description": "Bank fee", "unit_amount": "2.50",
                                                                   "account_code": "404", "tax_type": "NONE"}])
    [bt] = target.post("bank_transaction", [("fee-nov", fee)], key_prefix="bt")
    assert bt.ok, bt.errors
    assert bt.document.total == Decimal("2.50")
