"""Sync-reconciliation exceptions in the workbench (real Chromium and plain HTTP): listed beside the cash exceptions
with what differs, resolved by a signed-in accountant (audited), refused to a viewer; the role badge is readable."""

from __future__ import annotations

import pytest

from sync_pipeline.contracts.reconciliation import ReconciliationConfig
from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.store import audit
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.server import BackgroundServer
from sync_pipeline_tests.reconciliation.browser import Client, login
from sync_pipeline_tests.services.test_sync_exceptions import REF, reconciliation


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync-workbench")
    wh = Warehouse(tmp / "wh")
    wh.write("sync_reconciliation", "acme-uk", "2026-10", reconciliation("acme-uk", "2026-10", [
        (REF.format(1), "match", 10000, 10000, ""),
        (REF.format(2), "mismatch", 50000, 45000, "subtotal 500.00 GBP vs 450.00 GBP"),
        (REF.format(3), "missing", 20000, 0, "drafted but not in the accounting system"),
    ]), SyncReconciliation)
    store = OperationalStore(f"sqlite:///{tmp / 'ops.sqlite3'}")
    Identities(store).add("alice", ["accountant"], by="pytest", password="alice-secret")
    Identities(store).add("victor", ["viewer"], by="pytest", password="victor-secret")
    app = create_app(MatchingLog(store), UserStore(store), policy_for=lambda e: ReconciliationConfig().policy(e),
                     warehouse=wh)
    server = BackgroundServer(app).start()
    try:
        yield server.url, store
    finally:
        server.stop()


def test_accountant_sees_sync_beside_cash_exceptions_and_resolves_one(bench, browser):
    url, store = bench
    page = browser.new_page()
    login(page, url, "alice", "alice-secret")
    summary = page.inner_text("#sync-summary")
    assert REF.format(2) in summary and "subtotal 500.00 GBP vs 450.00 GBP" in summary and REF.format(3) in summary
    assert REF.format(1) not in summary  # a match is no exception
    assert page.is_visible("#rows")  # the cash exceptions table is still there, below
    # the role badge: dark text on its light background (it was white on light grey)
    assert page.eval_on_selector("#role", "e => getComputedStyle(e).color") == "rgb(29, 36, 51)"
    page.click("#to-sync")
    row = page.locator(f"tr[data-doc='{REF.format(2)}']")
    assert "-50.00 GBP" in row.inner_text() and "450.00 GBP" in row.inner_text()
    row.locator("input[name=comment]").fill("discount agreed by phone")
    row.locator("button[value=accept]").click()
    assert f"{REF.format(2)} (acme-uk 2026-10): accept recorded by alice" in page.inner_text("#flash")
    assert page.locator(f"tr[data-doc='{REF.format(2)}']").count() == 0  # no longer open
    page.select_option("#s-state", "resolved")
    page.click("#s-apply")
    assert "accept by alice (accountant)" in page.inner_text(f"tr[data-doc='{REF.format(2)}']")
    [event] = audit.events(store, action="sync_exception_accept")
    assert (event.actor, event.subject) == ("alice", f"2026-10/{REF.format(2)}")
    page.close()


def test_viewer_sees_but_may_not_resolve_and_forms_need_the_token(bench):
    url, store = bench
    with Client(url) as victor:
        assert victor.sign_in("victor", "victor-secret").status_code == 303
        page = victor.get("/sync-exceptions").text
        assert REF.format(3) in page and "your role may not resolve it" in page
        r = victor.post("/sync-exceptions/resolve", {"entity": "acme-uk", "period": "2026-10",
                                                     "document": REF.format(3), "resolution": "repost",
                                                     "comment": "x"}, csrf_from="/sync-exceptions")
        assert r.status_code == 403
    with Client(url) as alice:
        alice.sign_in("alice", "alice-secret")
        r = alice.post("/sync-exceptions/resolve", {"entity": "acme-uk", "period": "2026-10",
                                                    "document": REF.format(3), "resolution": "repost",
                                                    "comment": "x"})  # no CSRF token
        assert r.status_code == 403
        r = alice.post("/sync-exceptions/resolve", {"entity": "acme-uk", "period": "2026-10",
                                                    "document": REF.format(3), "resolution": "repost",
                                                    "comment": ""}, csrf_from="/sync-exceptions")
        assert r.status_code == 303
        assert "Not recorded: say why in the comment" in alice.get("/sync-exceptions").text
    assert audit.events(store, action="sync_exception_repost") == []


# -- re-post end to end: the Xero sandbox, the real sync job, the workbench over HTTP --------------------------------

def _signed_in(url: str, name: str, password: str) -> Client:
    c = Client(url)
    assert c.sign_in(name, password).status_code == 303
    return c


def _flash(c: Client) -> str:
    import re

    page = c.get("/sync-exceptions?state=all").text
    m = re.search(r'id="flash"[^>]*>(.*?)</', page, re.S)
    return m.group(1) if m else ""


def test_re_post_posts_the_voided_invoice_again_as_the_person_under_four_eyes(resources, instance, sandboxes):
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.contracts.payloads.accounting import InvoiceUpdateV1
    from sync_pipeline.defs.definitions import build_defs
    from sync_pipeline.defs.partitions import partition_key
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.services.dead_letters import PostingEnv
    from sync_pipeline.store.approvals import PlanApprovals
    from sync_pipeline.store.controls import PostingControls
    from sync_pipeline_tests.identity import approve_awaiting

    e, p = demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD
    store, wh = resources["opstore"].get(), resources["warehouse"].get()
    mapping = load_mapping(resources["mapping"].path)
    job = build_defs(resources).resolve_job_def("sync_job")
    # the period's first posting, four eyes: the run's plan awaits approval, carol approves it, the run posts
    assert not job.execute_in_process(instance=instance, partition_key=partition_key(e, p), raise_on_error=False).success
    assert approve_awaiting(store, e, p, approver="carol")
    assert job.execute_in_process(instance=instance, partition_key=partition_key(e, p)).success
    # someone voids the EUR invoice in Xero; the next reconciliation finds it missing
    eur = "SP-acme-uk-2026-10-C2-R1"
    live = {d["Reference"]: d for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)}
    target = resources["xero"].target(mapping.entity(e))
    try:
        [voided] = target.update("invoice", [InvoiceUpdateV1(id=live[eur]["InvoiceID"], status="VOIDED",
                                                             currency="EUR")], idempotency_key="tamper-1")
    finally:
        target.close()
    assert voided.ok, voided.errors
    from dagster import AssetKey

    job.execute_in_process(instance=instance, partition_key=partition_key(e, p), raise_on_error=False,
                           asset_selection=[AssetKey("sync_reconciliation")])
    Identities(store).add("alice", ["accountant"], by="pytest", password="alice-secret")
    Identities(store).add("carol", ["approver"], by="pytest", password="carol-secret")
    app = create_app(MatchingLog(store), UserStore(store), policy_for=lambda x: ReconciliationConfig().policy(x),
                     warehouse=wh, posting=PostingEnv(mapping, wh, store, resources["xero"].target))
    server = BackgroundServer(app).start()
    try:
        with _signed_in(server.url, "alice", "alice-secret") as alice:
            assert eur in alice.get("/sync-exceptions").text
            form = {"entity": e, "period": p, "document": eur, "resolution": "repost",
                    "comment": "voided by mistake, the client expects it"}
            # 1. alice's re-post makes a plan nobody approved yet: nothing is written, the row says why
            assert alice.post("/sync-exceptions/resolve", form, csrf_from="/sync-exceptions").status_code == 303
            flash = _flash(alice)
            assert "re-post by alice: not posted (awaiting approval)" in flash and "other than alice" in flash
            row = alice.get("/sync-exceptions").text
            assert eur in row and "not posted (awaiting approval)" in row  # still open, with the attempt
            [plan] = PlanApprovals(store).plans(e, p, ["awaiting_approval"])
            assert plan.created_by == "alice"
        # 2. carol (approver) approves alice's plan in the workbench
        with _signed_in(server.url, "carol", "carol-secret") as carol:
            r = carol.post(f"/plans/{plan.id}/decide", {"action": "approve", "plan_hash": plan.plan_hash,
                                                         "comment": "checked"}, csrf_from=f"/plans/{plan.id}")
            assert r.status_code == 303
        # 3. the kill switch is on: alice's re-post writes nothing and says so; the exception stays open
        PostingControls(store).pause(e, reason="month-end freeze", actor="olga")
        with _signed_in(server.url, "alice", "alice-secret") as alice:
            assert alice.post("/sync-exceptions/resolve", form, csrf_from="/sync-exceptions").status_code == 303
            flash = _flash(alice)
            assert "re-post by alice: not posted (blocked)" in flash and f"{eur[:-1]}" in flash, flash
            assert "not posted (blocked)" in alice.get("/sync-exceptions").text
        PostingControls(store).resume(e, actor="olga", reason="freeze over")
        # 4. alice re-posts: the plan posts, the new document's number is shown and kept
        with _signed_in(server.url, "alice", "alice-secret") as alice:
            assert alice.post("/sync-exceptions/resolve", form, csrf_from="/sync-exceptions").status_code == 303
            flash = _flash(alice)
            assert "re-post by alice: posted as " in flash, flash
            number = flash.split("posted as ", 1)[1].split(" ")[0]
            resolved = alice.get("/sync-exceptions?state=resolved").text
            assert eur in resolved and f"posted as <strong>{number}</strong>" in resolved
    finally:
        server.stop()
    # Xero holds a live EUR invoice with that number, posted in alice's run, approved by carol
    docs = [d for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID) if d["InvoiceNumber"] == number]
    assert [(d["Status"] != "VOIDED", d["CurrencyCode"]) for d in docs] == [(True, "EUR")]
    attempts = audit.events(store, action="sync_exception_repost")
    assert [(x.actor, x.detail["outcome"], x.detail.get("document_number")) for x in attempts] == [
        ("alice", "awaiting_approval", None), ("alice", "blocked", None), ("alice", "posted", number)]
    assert "month-end freeze" in attempts[1].detail["error"] or "paused" in attempts[1].detail["error"]
    assert audit.verify(store) == []
