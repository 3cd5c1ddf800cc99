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
