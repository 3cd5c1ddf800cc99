"""The whole demo as a new user meets it: `sync-pipeline demo` on a fresh data folder (three entities, 2026-08 to
2026-10, bank statements in three formats, cash matching, two documents changed in the accounting system by hand),
then the workbench on its data in a real Chromium: cash and sync exceptions, both there. Minutes: full marker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.workbench.server import BackgroundServer, build
from sync_pipeline_tests.reconciliation.browser import login

pytestmark = pytest.mark.full


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("group-demo")
    env = {**os.environ, "SYNC_PIPELINE_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "dagster_home")}
    for k in ("HARVEST_BASE_URL", "XERO_BASE_URL", "SYNC_PIPELINE_MAPPING", "SYNC_PIPELINE_RECONCILIATION"):
        env.pop(k, None)
    done = subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "demo", "--free-ports"], env=env,
                          capture_output=True, text=True, timeout=1800)
    return tmp, done


def test_demo_bills_three_entities_matches_statements_and_reconciles(demo):
    tmp, done = demo
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "entities acme-uk, acme-de, acme-us; periods 2026-08 to 2026-10: OK" in out
    assert "acme-uk 2026-10: 2 invoice(s); net EUR 583.25 + tax EUR 116.65 = gross EUR 699.90; " \
           "net GBP 817.50 + tax GBP 163.50 = gross GBP 981.00" in out
    for entity, period in [("acme-de", p) for p in ("2026-08", "2026-09", "2026-10")] + [("acme-us", "2026-08")]:
        assert f"{entity} {period}: " in out and f"{entity} {period}: FAILED" not in out
    for statement in ("statement-2026-10.csv", "statement-2026-10.xml", "statement-2026-10.sta"):
        assert statement in out
    summary = [line for line in out.splitlines() if "sync exceptions" in line or "by hand" in line or "  acme-" in line]
    assert "first line recoded to account 260 in QuickBooks" in out  # acme-us posts to QuickBooks Online
    assert "sync exceptions open: 2 (" in out and " missing" in out and " mismatch" in out, summary
    token = tmp / "data" / "demo" / "admin.token"
    assert oct(token.stat().st_mode & 0o777) == "0o600" and token.read_text().strip() not in out


def test_workbench_after_the_demo_shows_cash_and_sync_exceptions(demo, browser, monkeypatch):
    tmp, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    data = tmp / "data"
    monkeypatch.setenv("SYNC_PIPELINE_DATA_DIR", str(data))
    monkeypatch.setenv("SYNC_PIPELINE_RECONCILIATION", str(data / "demo" / "reconciliation.yaml"))
    monkeypatch.setenv("SYNC_PIPELINE_MAPPING", str(data / "demo" / "mapping.yaml"))
    url_store = f"sqlite:///{data / 'operational.sqlite3'}"
    Identities(OperationalStore(url_store)).add("alice", ["accountant"], by="pytest", password="alice-secret")
    server = BackgroundServer(build(url_store, settle=False)).start()
    try:
        page = browser.new_page()
        login(page, server.url, "alice", "alice-secret")
        sync = page.inner_text("#sync-summary")
        assert "acme-de" in sync and "missing" in sync and "acme-us" in sync and "mismatch" in sync
        cash = page.locator("#rows tbody tr[data-id]")
        assert cash.count() >= 3, page.inner_text("#rows")
        for entity in ("acme-uk", "acme-de", "acme-us"):  # each entity's bank left lines for a person
            page.goto(f"{server.url}/exceptions?entity={entity}")
            assert page.locator("#rows tbody tr[data-id]").count() >= 1, entity
        page.goto(f"{server.url}/exceptions")
        page.click("#to-sync")
        assert page.locator("#sync-rows tbody tr[data-doc]").count() == 2
        page.close()
    finally:
        server.stop()


def test_billing_health_after_the_demo_draws_each_entitys_kpis(demo, browser, monkeypatch):
    tmp, done = demo
    assert done.returncode == 0, done.stdout + done.stderr
    assert "billing health (latest period" in done.stdout
    data = tmp / "data"
    monkeypatch.setenv("SYNC_PIPELINE_DATA_DIR", str(data))
    monkeypatch.setenv("SYNC_PIPELINE_RECONCILIATION", str(data / "demo" / "reconciliation.yaml"))
    monkeypatch.setenv("SYNC_PIPELINE_MAPPING", str(data / "demo" / "mapping.yaml"))
    url_store = f"sqlite:///{data / 'operational.sqlite3'}"
    Identities(OperationalStore(url_store)).add("vera", ["viewer"], by="pytest", password="vera-secret")
    server = BackgroundServer(build(url_store, settle=False)).start()
    try:
        page = browser.new_page()
        login(page, server.url, "vera", "vera-secret")
        page.goto(f"{server.url}/health")
        for kpi in ("touchless_billing", "billing_corrections", "close_to_invoice", "days_sales_outstanding",
                    "sync_exceptions"):
            lines = page.locator(f"svg#chart-{kpi} polyline.series").evaluate_all("ls => ls.map(l => l.dataset.series)")
            assert sorted(lines) == ["acme-de", "acme-uk", "acme-us"], kpi  # every entity over its periods
        assert page.locator("#kpi-latest tbody tr[data-entity]").count() == 3
        # acme-de's October invoice voided by hand is an exception for the accounting team (latest period)
        bars = page.locator("svg#chart-exceptions-per-team rect.bar title").evaluate_all(
            "ts => ts.map(t => t.textContent)")
        assert any(b.startswith("acme-de · accounting: ") for b in bars), bars
        assert page.locator("#sync-exceptions tbody tr").count() >= 2
        page.close()
    finally:
        server.stop()
