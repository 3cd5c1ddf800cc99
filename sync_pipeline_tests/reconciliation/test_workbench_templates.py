"""Rule templates in a real headless Chromium: created by an admin, applied by an accountant, settled in Xero.

A small hand-made ledger in the Xero sandbox and one month of bank lines, matched by the real cascade with a
tight policy (write-offs up to 1.00, no automatic part payments) so that the month leaves the shapes templates
are for: a parent company paying a customer's invoice, a fee deducted from a referenced payment, a large
shortfall, and a receipt that two invoices of the same amount fit.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.connectors.xero import XeroTarget
from sync_pipeline.defs.resources import XeroResource
from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.run import start_sandboxes
from sync_pipeline.services import cash_reconcile
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.server import BackgroundServer, target_settler
from sync_pipeline_tests.reconciliation.browser import Client, login

TENANT = demo_data.XERO_TENANT_ID
POLICY = CashPolicy(writeoff_max_minor=100, auto_partial=False)
CONTACTS = {"ACME": "Acme Ltd", "BETA": "Beta Services", "GAMMA": "Gamma Consulting"}
INVOICES = [("INV-7001", "ACME", "1200.00"), ("INV-7002", "ACME", "845.50"), ("INV-7003", "BETA", "1800.00"),
            ("INV-7004", "GAMMA", "300.00"), ("INV-7005", "GAMMA", "300.00")]
LINES = [("b1", "2026-03-05", 84550, "NORTHWIND HOLDINGS", "remittance march"),   # Acme's parent pays INV-7002
         ("b2", "2026-03-06", 29800, "Gamma Consulting", "payment"),              # INV-7004 or INV-7005?
         ("b3", "2026-03-07", 111673, "Beta Services", "INV-7003"),               # 683.27 short
         ("b4", "2026-03-08", 119700, "Acme Ltd", "INV-7001 less charges")]       # a 3.00 bank charge


def _created(results) -> None:
    bad = [r for r in results if r.get("HasErrors")]
    assert not bad, bad


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("templates")
    sandboxes = start_sandboxes(tmp_path / "sandbox")
    xero_sb = sandboxes.xero
    _created(xero_sb.bulk_create("Contacts", TENANT, [{"Name": name, "ContactNumber": num, "DefaultCurrency": "GBP",
                                              "IsCustomer": True} for num, name in CONTACTS.items()]))
    _created(xero_sb.bulk_create("Invoices", TENANT, [
        {"Type": "ACCREC", "InvoiceNumber": number, "Reference": f"ref {number}", "Contact": {"ContactNumber": who},
         "Date": "2026-02-10", "DueDate": "2026-03-10", "Status": "AUTHORISED", "CurrencyCode": "GBP",
         "LineAmountTypes": "NoTax", "LineItems": [{"Description": "Services", "Quantity": Decimal(1),
                                                    "UnitAmount": Decimal(amount), "AccountCode": "200",
                                                    "TaxType": "NONE"}]}
        for number, who, amount in INVOICES]))
    xero = XeroResource(base_url=sandboxes.xero_server.url, client_id=xero_sb.client_id,
                        client_secret=xero_sb.client_secret, max_attempts=3)
    client = xero.client(TENANT)
    invoices, payments = cash_reconcile.load_receivables(XeroTarget(client), "GBP")
    client.close()
    opstore = OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    log = ml.MatchingLog(opstore)
    lines = pd.DataFrame([{"line_id": f"090:{lid}", "account": "090", "date": day, "amount_minor": amount,
                           "currency": "GBP", "payer_name": payer, "description": text}
                          for lid, day, amount, payer, text in LINES])
    cash_reconcile.match_period(lines, invoices, payments, entity=demo_data.DEMO_ENTITY, period="2026-03", log_=log,
                                policy=POLICY, bank_currency="GBP", actor="test run")
    Identities(opstore).add("alice", ["accountant"], by="pytest", password="alice-secret")
    Identities(opstore).add("ada", ["admin"], by="pytest", password="ada-secret")
    settler = target_settler(log, lambda entity: XeroTarget(xero.client(TENANT)), lambda e: POLICY)
    server = BackgroundServer(create_app(log, UserStore(opstore), policy_for=lambda e: POLICY,
                                         settler=settler)).start()
    ids = {c["ContactNumber"]: c["ContactID"] for c in xero_sb.all("Contacts", TENANT)}
    invoice_ids = {i["InvoiceNumber"]: i["InvoiceID"] for i in xero_sb.all("Invoices", TENANT)}
    try:
        yield server.url, log, xero_sb, ids, invoice_ids
    finally:
        server.stop()
        sandboxes.stop()


def _decision(log, lid):
    return next(d for d in log.decisions(limit=100) if d["line_id"] == f"090:{lid}")


def _payments(xero_sb, invoice_id):
    return [p for p in xero_sb.all("Payments", TENANT) if p["Invoice"]["InvoiceID"] == invoice_id]


def _create(page, url, form: str, fields: dict[str, str]) -> str:
    page.goto(f"{url}/templates")
    for selector, value in fields.items():
        if selector == "#alias-contact":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click(f"#create-{form}")
    flash = page.inner_text("#flash")
    assert flash.startswith("Template #"), flash
    return flash.split("#")[1].split()[0]


def test_alias_template_settles_the_parent_companys_receipt_and_teaches_the_alias(bench, browser):
    url, log, xero_sb, contacts, invoice_ids = bench
    page = browser.new_page()
    login(page, url, "ada", "ada-secret")
    tid = _create(page, url, "alias", {"#alias-name": "Northwind pays for Acme", "#alias-payer": "northwind",
                                       "#alias-contact": contacts["ACME"]})
    page.close()

    page = browser.new_page()
    login(page, url, "alice", "alice-secret")
    assert page.locator("#new-alias").count() == 0  # accountants apply templates, admins create them
    page.goto(f"{url}/templates")
    page.click(f"#apply-{tid} button")
    flash = page.inner_text("#flash")
    assert f"Template #{tid} accepted 1 decision(s) across 090, 1 settled in the accounting system" in flash
    d = _decision(log, "b1")
    assert d["status"] == ml.SETTLED and [a["invoice_number"] for a in d["allocations"]] == ["INV-7002"]
    assert [(p["Amount"], p["IsReconciled"]) for p in _payments(xero_sb, invoice_ids["INV-7002"])] == [
        (Decimal("845.50"), True)]
    assert [(a["payer_name"], a["contact_id"]) for a in log.aliases(demo_data.DEMO_ENTITY)] == [
        (log.payer_hash("NORTHWIND HOLDINGS"), contacts["ACME"])]
    assert [e["action"] for e in log.history(d["decision_id"])][-2:] == ["rule_applied", "settled"]
    page.close()


def test_writeoff_template_settles_the_fee_and_leaves_shortfall_and_tie_to_a_person(bench, browser):
    url, log, xero_sb, _, invoice_ids = bench
    page = browser.new_page()
    login(page, url, "ada", "ada-secret")
    tid = _create(page, url, "writeoff", {"#writeoff-name": "bank charges", "#writeoff-max": "5.00",
                                          "#writeoff-account": "429"})
    page.goto(f"{url}/templates")
    page.click(f"#apply-{tid} button")
    flash = page.inner_text("#flash")
    assert f"Template #{tid} accepted 1 decision(s) across 090, 1 settled in the accounting system" in flash
    short, tie = _decision(log, "b3"), _decision(log, "b2")
    assert f"#{short['decision_id']}: pays 1,116.73 against 1,800.00 due: 683.27 short, above the template's 5.00" \
        in flash
    assert f"#{tie['decision_id']}: proposes no invoice" in flash
    page.close()

    fee = _decision(log, "b4")
    assert (fee["status"], fee["writeoff_minor"], fee["writeoff_account"]) == (ml.SETTLED, -300, "429")
    assert [p["Amount"] for p in _payments(xero_sb, invoice_ids["INV-7001"])] == [Decimal("1200.00")]
    spend = [t for t in xero_sb.all("BankTransactions", TENANT) if t["Type"] == "SPEND"]
    assert [(t["LineItems"][0]["AccountCode"], t["Total"]) for t in spend] == [("429", Decimal("3.00"))]
    # the shortfall and the tie stay open, and nothing was paid on their invoices
    assert {short["status"], tie["status"]} == {ml.OPEN}
    assert [a["applied_minor"] for a in short["allocations"]] == [180000]
    for number in ("INV-7003", "INV-7004", "INV-7005"):
        assert _payments(xero_sb, invoice_ids[number]) == []


def test_only_admins_create_templates(bench):
    url, log, *_ = bench
    before = len(log.templates())
    with Client(url) as c:
        c.sign_in("alice", "alice-secret")
        r = c.post("/templates", data={"kind": "writeoff_difference", "name": "x", "max_amount": "500.00"},
                   csrf_from="/templates")
        assert r.status_code == 403
    assert len(log.templates()) == before

