"""The billing-health page in a real headless Chromium: KPI charts over periods, latest values, exceptions."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from sync_pipeline.contracts.reconciliation import ReconciliationConfig
from sync_pipeline.domain.kpis import Kpi
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import kpis as kpi_service
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.health import HealthSource
from sync_pipeline.workbench.server import BackgroundServer
from sync_pipeline_tests.reconciliation.browser import Client, login

ENTITIES = ["acme-uk", "acme-de"]
# touchless share per entity and period, as the kpis assets keep them
TOUCHLESS = {("acme-uk", "2026-08"): "0.5000", ("acme-uk", "2026-09"): "0.7500", ("acme-uk", "2026-10"): "0.8667",
             ("acme-de", "2026-09"): "0.2500", ("acme-de", "2026-10"): "0.4000"}


def _seed(wh: Warehouse, log: ml.MatchingLog) -> None:
    for (e, p), v in TOUCHLESS.items():
        kpi_service.store_kpi(wh, e, Period.parse(p), Kpi("touchless_billing", D(v), "share of billable hours"))
        kpi_service.store_kpi(wh, e, Period.parse(p), Kpi("days_sales_outstanding", D("33.3"), "days"))
    kpi_service.store_kpi(wh, "acme-uk", Period.parse("2026-10"), Kpi(
        "sync_exceptions", D(5), "open exceptions", {"team time tracking": 2, "team billing": 0, "team accounting": 3}))
    kpi_service.store_kpi(wh, "acme-de", Period.parse("2026-10"), Kpi(
        "sync_exceptions", D(1), "open exceptions", {"team time tracking": 0, "team billing": 1, "team accounting": 0}))
    # one document differs between us and the accounting system
    wh.write("sync_reconciliation", "acme-uk", "2026-10", pd.DataFrame([
        {"entity": "acme-uk", "period": "2026-10", "level": "document", "key": "SP-acme-uk-2026-10-C1-R1",
         "currency": "GBP", "source_count": 1, "target_count": 1, "source_minor": 81750, "target_minor": 80000,
         "diff_minor": -1750, "status": "mismatch", "breach": True, "detail": "line 4 amount"},
        {"entity": "acme-uk", "period": "2026-10", "level": "document", "key": "SP-acme-uk-2026-10-C2-R1",
         "currency": "EUR", "source_count": 1, "target_count": 1, "source_minor": 58325, "target_minor": 58325,
         "diff_minor": 0, "status": "match", "breach": False, "detail": None}]))
    log.record("acme-uk", "2026-10", [{"line_id": "bank.csv:7", "outcome": "exception", "rule": "none",
                                       "confidence": 0.0, "line_amount_minor": 12000, "line_currency": "GBP",
                                       "payer_name": "ACME CORP LTD", "reason": "no candidate"}], actor="test run")


def _texts(locator) -> list[str]:
    """SVG text as the DOM holds it (``inner_text`` is for HTML elements)."""
    return locator.evaluate_all("ns => ns.map(n => n.textContent)")


@pytest.fixture(scope="module")
def health_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("health")
    wh = Warehouse(tmp / "warehouse")
    store = OperationalStore(f"sqlite:///{tmp / 'ops.sqlite3'}")
    log = ml.MatchingLog(store)
    _seed(wh, log)
    Identities(store).add("victor", ["viewer"], by="pytest", password="victor-secret")
    policy = ReconciliationConfig().policy("acme-uk")
    app = create_app(log, UserStore(store), policy_for=lambda e: policy,
                     health=HealthSource(wh, lambda: list(ENTITIES)))
    server = BackgroundServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_viewer_sees_kpi_charts_over_the_periods(health_app, browser):
    page = browser.new_page()
    login(page, health_app, "victor", "victor-secret")
    page.click("#nav-health")
    page.wait_for_url(f"{health_app}/health")
    chart = page.locator("svg#chart-touchless_billing")
    assert chart.is_visible()
    # one line per entity across the periods measured, a marker per point with its value in the tooltip
    assert sorted(chart.locator("polyline.series").evaluate_all("ls => ls.map(l => l.dataset.series)")) == sorted(ENTITIES)
    titles = _texts(chart.locator("circle title, rect title"))
    assert "acme-uk 2026-10: 86.67 %" in titles and "acme-de 2026-09: 25 %" in titles
    assert _texts(chart.locator("text.tick"))[-3:] == ["2026-08", "2026-09", "2026-10"]
    # a KPI nobody measured yet says so instead of drawing an empty frame
    assert "nothing measured yet" in page.inner_text("#chart-billing_corrections")
    # latest values in words a finance user reads
    uk = page.locator("#kpi-latest tr[data-entity='acme-uk']")
    assert uk.locator("td[data-kpi='touchless_billing']").inner_text() == "86.7 %"
    assert uk.locator("td[data-kpi='days_sales_outstanding']").inner_text() == "33.3 days"
    assert uk.locator("td[data-kpi='sync_exceptions']").inner_text() == "5"
    page.close()


def test_open_exceptions_per_team_and_document(health_app, browser):
    page = browser.new_page()
    login(page, health_app, "victor", "victor-secret")
    page.goto(f"{health_app}/health")
    bars = _texts(page.locator("svg#chart-exceptions-per-team rect.bar title"))
    assert sorted(bars) == ["acme-de · billing: 1", "acme-uk · accounting: 3", "acme-uk · time tracking: 2"]
    assert page.locator("#team-counts tr[data-entity='acme-uk']").inner_text().split() == ["acme-uk", "2", "0", "3"]
    sync = page.inner_text("#sync-exceptions tbody")
    assert "SP-acme-uk-2026-10-C1-R1\tmismatch\tGBP 817.50\tGBP 800.00\tGBP -17.50\tline 4 amount" in sync
    assert "C2-R1" not in sync  # matching documents are not exceptions
    cash = page.locator("#cash-exceptions tr[data-entity='acme-uk']").inner_text()
    assert "1" in cash and "GBP 120.00" in cash
    page.click("#cash-exceptions tr[data-entity='acme-uk'] a")
    page.wait_for_url("**/exceptions?entity=acme-uk&status=open")
    page.close()


def test_one_entity_at_a_time(health_app, browser):
    page = browser.new_page()
    login(page, health_app, "victor", "victor-secret")
    page.goto(f"{health_app}/health")
    page.select_option("#h-entity", "acme-de")
    page.click("#apply-entity")
    page.wait_for_url("**/health?entity=acme-de")
    series = page.locator("svg#chart-touchless_billing polyline.series").evaluate_all(
        "ls => ls.map(l => l.dataset.series)")
    assert series == ["acme-de"]
    assert page.locator("#kpi-latest tbody tr").count() == 1
    page.close()


def test_the_page_needs_a_signed_in_user(health_app):
    with Client(health_app) as c:
        r = c.get("/health")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
