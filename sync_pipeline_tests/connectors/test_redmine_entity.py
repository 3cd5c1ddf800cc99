"""An entity whose mapping says ``source: redmine``, billed by the Dagster assets from a REAL Redmine 5 (the
seeded one of ../shared/tools/redmine): raw_time_entries streams Redmine's pages, raw_expenses is empty
(Redmine tracks none), and the billing assets and the blocking conservation check run as for Harvest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import yaml

from sync_pipeline.connectors.redmine import RedmineClient
from sync_pipeline.defs.resources import RedmineResource
from sync_pipeline.services.extract import extract_redmine_time_entries
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.dagster_billing import check_outcomes, extract_and_bill

pytestmark = pytest.mark.redmine

ENTITY = "redmine-co"


def _mapping(tmp_path) -> str:
    doc = {"version": 2, "entities": [{
        "key": ENTITY, "name": "Redmine Co Ltd", "timezone": "Europe/London", "base_currency": "GBP",
        "source": "redmine", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41", "require_approval": False,
        "clients": [{"source_id": "acme-web", "name": "ACME", "currency": "EUR"},
                    {"source_id": "data-pipeline", "name": "Data Co"}, {"source_id": "mobile-app", "name": "Mobile Co"}],
        "rate_cards": [{"rate": "100"}]}]}
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def test_a_redmine_entity_is_extracted_and_billed_by_the_assets(redmine, tmp_path, monkeypatch):
    monkeypatch.setenv("SP_TEST_REDMINE_KEY", redmine["api_key"])
    c = RedmineClient(redmine["url"], redmine["api_key"])
    try:
        october = extract_redmine_time_entries(c, date(2025, 10, 1), date(2025, 10, 31))
    finally:
        c.close()
    billable = october[october["billable"] & (october["hours"] > 0)]
    assert 0 < len(billable) < len(october)

    result = extract_and_bill(ENTITY, "2025-10", _mapping(tmp_path), tmp_path / "wh",
                              RedmineResource(base_url=redmine["url"], api_key_env="SP_TEST_REDMINE_KEY"))
    assert result.success
    assert check_outcomes(result) == [("conservation", True)]
    meta = result.asset_materializations_for_node("raw_time_entries")[0].metadata
    assert meta["source"].value == "redmine" and meta["dagster/row_count"].value == len(october)
    assert result.asset_materializations_for_node("raw_expenses")[0].metadata["dagster/row_count"].value == 0

    wh = Warehouse(tmp_path / "wh")
    raw = wh.read("raw_time_entries", ENTITY, "2025-10")
    assert set(raw["entry_id"]) == set(october["entry_id"]) and raw["source"].eq("redmine").all()
    # no currency in Redmine: the mapping's (ACME bills in EUR), else the entity's base currency
    assert dict(raw.groupby("client_id")["client_currency"].first()) == {
        "acme-web": "EUR", "data-pipeline": "GBP", "mobile-app": "GBP"}
    clean = wh.read("clean_time_entries", ENTITY, "2025-10")
    assert set(clean.loc[clean["disposition"] == "billable", "entry_id"]) == set(billable["entry_id"])
    drafts = wh.read("invoice_drafts", ENTITY, "2025-10")
    assert set(drafts["client_id"]) == set(billable["client_id"])
    # every billable hour at the entity's default card, 100 an hour
    assert sum(Decimal(str(q)) for q in drafts["quantity"]) == sum(billable["hours"])
    assert {str(u) for u in drafts["unit_amount"]} <= {"100", "100.0000", "100.00"}
