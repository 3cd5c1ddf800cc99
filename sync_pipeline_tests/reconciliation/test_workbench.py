"""The workbench in a real headless Chromium (Playwright): bulk accept, reject, comment; roles enforced."""

from __future__ import annotations

import pytest

from sync_pipeline.connectors.xero import XeroTarget
from sync_pipeline.contracts.reconciliation import ReconciliationConfig
from sync_pipeline.defs.resources import XeroResource
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.generator.cash import Noise, generate
from sync_pipeline.sandbox.run import start_sandboxes
from sync_pipeline.services import cash_reconcile
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.server import BackgroundServer, target_settler
from sync_pipeline_tests.reconciliation.browser import Client, login

PERIOD = "2026-03"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A ledger in the Xero sandbox, two months of bank lines matched, the workbench serving the exceptions."""
    tmp_path = tmp_path_factory.mktemp("workbench")
    sandboxes = start_sandboxes(tmp_path / "sandbox")
    # mostly remittance texts without an invoice number, so that the months leave proposals to review
    ds = generate(seed=5, n_invoices=400, entity=demo_data.DEMO_ENTITY, noise=Noise(ref_exact=0.1))
    ds.seed_xero(sandboxes.xero, demo_data.XERO_TENANT_ID)
    xero = XeroResource(base_url=sandboxes.xero_server.url, client_id=sandboxes.xero.client_id,
                        client_secret=sandboxes.xero.client_secret, max_attempts=3)
    client = xero.client(demo_data.XERO_TENANT_ID)
    invoices, payments = cash_reconcile.load_receivables(XeroTarget(client), "GBP")
    client.close()
    opstore = OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    log = ml.MatchingLog(opstore)
    policy = ReconciliationConfig().policy(demo_data.DEMO_ENTITY)
    lines = ds.bank_lines[ds.bank_lines["date"].str[:7].isin(["2026-03", "2026-04"])].assign(source="bank.csv")
    cash_reconcile.match_period(lines, invoices, payments, entity=demo_data.DEMO_ENTITY, period=PERIOD, log_=log,
                                policy=policy, bank_currency="GBP", actor="test run")
    Identities(opstore).add("alice", ["accountant"], by="pytest", password="alice-secret")
    Identities(opstore).add("victor", ["viewer"], by="pytest", password="victor-secret")
    settler = target_settler(log, lambda entity: XeroTarget(xero.client(demo_data.XERO_TENANT_ID)), lambda e: policy)
    app = create_app(log, UserStore(opstore), policy_for=lambda e: policy, settler=settler)
    server = BackgroundServer(app).start()
    try:
        yield server.url, log, sandboxes
    finally:
        server.stop()
        sandboxes.stop()


def _checked(page, ids):
    for i in ids:
        page.check(f"tr[data-id='{i}'] input[name=ids]")


def test_bulk_accept_settles_and_logs(bench, browser):
    url, log, sandboxes = bench
    # rows whose proposal (or best candidate) the line does not over-pay: accepting them is allowed
    proposals = [d for d in log.decisions(statuses=["open"]) if d["candidates"] and d["line_currency"] == "GBP"
                 and d["line_amount_minor"] <= int(d["candidates"][0].get("expected_line_minor") or 0)]
    assert len(proposals) >= 2, "the generated months have proposals to review"
    chosen = [d["decision_id"] for d in proposals[:2]]
    page = browser.new_page()
    login(page, url, "alice", "alice-secret")
    page.select_option("#f-status", "open")
    page.click("#apply-filter")
    _checked(page, chosen)
    page.fill("#bulk-comment", "checked against the remittance advice")
    page.click("#bulk-accept")
    assert "accepted 2 decision(s), 2 settled" in page.inner_text("#flash")
    payments = {p["PaymentID"]: p for p in sandboxes.xero.all("Payments", demo_data.XERO_TENANT_ID)}
    for i in chosen:
        d = log.decision(i)
        assert d["status"] == "settled"
        assert all(payments[a["target_payment_id"]]["Invoice"]["InvoiceID"] == a["invoice_id"] for a in d["allocations"])
        actions = [(e["actor"], e["action"], e["text"]) for e in log.history(i)]
        assert ("alice", "accepted", "checked against the remittance advice") in actions
        assert actions[-1][:2] == ("alice", "settled")
    # the accepted rows left the open list
    page.goto(f"{url}/exceptions?status=open&outcome=proposed")
    assert all(page.locator(f"tr[data-id='{i}']").count() == 0 for i in chosen)
    page.close()


def test_bulk_reject_closes_and_is_never_proposed_again(bench, browser):
    url, log, _ = bench
    open_rows = [d for d in log.decisions(statuses=["open"]) if d["allocations"] or d["candidates"]]
    target = open_rows[-1]
    page = browser.new_page()
    login(page, url, "alice", "alice-secret")
    page.fill("#f-text", target["payer_name"][:12])
    page.click("#apply-filter")
    _checked(page, [target["decision_id"]])
    page.fill("#bulk-comment", "not this customer's invoice")
    page.click("#bulk-reject")
    assert "rejected 1 decision(s)" in page.inner_text("#flash")
    d = log.decision(target["decision_id"])
    assert d["status"] == "rejected"
    proposed = target["allocations"][0]["invoice_id"] if target["allocations"] else target["candidates"][0]["invoice_id"]
    assert {"line_id": target["line_id"], "invoice_id": proposed} in log.rejected_pairs(target["entity"])
    assert log.history(target["decision_id"])[-1]["text"] == "not this customer's invoice"
    page.close()


def test_comments_build_a_history(bench, browser):
    url, log, _ = bench
    target = log.decisions(statuses=["open"])[1]
    page = browser.new_page()
    login(page, url, "alice", "alice-secret")
    page.goto(f"{url}/decisions/{target['decision_id']}")
    for text in ("asked the customer for the remittance", "customer says it pays two invoices"):
        page.fill("#comment-text", text)
        page.click("#add-comment")
        assert page.inner_text("#flash") == "Comment added"
    history = page.inner_text("#history")
    assert "alice (accountant) comment: asked the customer for the remittance" in history
    assert history.index("asked the customer") < history.index("customer says it pays two invoices")
    assert [e["text"] for e in log.history(target["decision_id"]) if e["action"] == "comment"] == [
        "asked the customer for the remittance", "customer says it pays two invoices"]
    page.close()


def test_only_permitted_roles_decide(bench, browser):
    url, log, _ = bench
    target = log.decisions(statuses=["open"])[0]
    page = browser.new_page()
    login(page, url, "victor", "victor-secret")
    assert page.inner_text("#role") == "viewer"
    assert page.locator("#bulk-accept").count() == 0
    page.close()
    with Client(url) as c:
        assert c.post("/decisions/bulk", data={"ids": [target["decision_id"]], "action": "accept"}).status_code == 303
        assert c.sign_in("victor", "victor-secret").status_code == 303
        r = c.post("/decisions/bulk", data={"ids": [target["decision_id"]], "action": "accept"},
                   csrf_from="/exceptions")
        assert r.status_code == 403
    with Client(url) as c:
        assert c.sign_in("victor", "wrong").status_code == 401
    assert log.decision(target["decision_id"])["status"] == "open"
