"""An entity whose mapping says ``source: csv``: the raw_time_entries asset reads the exports dropped in its folder,
quarantines the rows it cannot read (with file, row, column, problem), and billing runs on the rest as for Harvest."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
import yaml

from sync_pipeline.contracts.mapping import MappingError, load_mapping
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.connectors.test_csv_exports import HARVEST
from sync_pipeline_tests.dagster_billing import check_outcomes, extract_and_bill

ENTITY = "csv-co"


def _mapping(tmp_path, **entity) -> str:
    doc = {"version": 2, "entities": [{
        "key": ENTITY, "name": "CSV Co Ltd", "timezone": "Europe/London", "base_currency": "GBP",
        "source": "csv", "csv_export": {"kind": "harvest", "folder": str(tmp_path / "exports")},
        "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41", "require_approval": False, **entity}]}
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def test_a_csv_entity_is_read_from_its_exports_and_billed(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = HARVEST.splitlines()
    invoiced = "2026-10-07,Acme Corp,Acme Website,ACM-WEB,Development,Billed in Harvest,2.0,2.0,Yes,Yes,Yes,Bob,Baker,,"\
               "Yes,100,200,50,100,British Pound - GBP,"
    (exports / "2026-10-b.csv").write_text(HARVEST + invoiced + "\n", encoding="utf-8")
    # a corrected re-export of Alice's 5 October (2.5 h -> 2.0 h), newer than the first export; named to sort first
    (exports / "2026-10-a.csv").write_text("\n".join([lines[0], lines[1].replace(",2.5,2.5,", ",2.0,2.0,")]) + "\n",
                                           encoding="utf-8")
    os.utime(exports / "2026-10-b.csv", (1_000, 1_000))
    os.utime(exports / "2026-10-a.csv", (2_000, 2_000))
    result = extract_and_bill(ENTITY, "2026-10", _mapping(tmp_path), tmp_path / "wh")
    assert result.success
    assert check_outcomes(result) == [("conservation", True)]
    meta = result.asset_materializations_for_node("raw_time_entries")[0].metadata
    # b: 4 good rows, one of them (Alice's 5 October) superseded by a's corrected row; 2 rows quarantined
    assert meta["dagster/row_count"].value == 4 and meta["superseded_export_rows"].value == 1
    assert meta["quarantined_export_rows"].value == 2 and meta["source"].value == "csv"

    wh = Warehouse(tmp_path / "wh")
    quarantine = wh.read("raw_time_entries_quarantine", ENTITY, "2026-10")
    assert sorted(set(zip(quarantine["file"], quarantine["row"], strict=True))) == [
        ("2026-10-b.csv", 4), ("2026-10-b.csv", 5)]
    superseded = wh.read("raw_time_entries_superseded", ENTITY, "2026-10")
    assert list(zip(superseded["file"], superseded["row"], superseded["superseded_by"], strict=True)) == [
        ("2026-10-b.csv", 2, "2026-10-a.csv")]
    clean = wh.read("clean_time_entries", ENTITY, "2026-10").set_index("user_name")
    bob = clean[clean["hours"] == Decimal(2)].loc["Bob Baker"]
    assert (bob["disposition"], bob["reason"]) == (
        "non_billable", "already invoiced in the project system: Invoiced? = Yes in the Harvest export")
    drafts = wh.read("invoice_drafts", ENTITY, "2026-10")
    # Alice 2.0 h (corrected) x 120 + Bob 3.0 h x 100 for Acme (GBP); Bob's invoiced 2 h and Globex's 0.75 h are not
    assert sorted(Decimal(str(x)) for x in drafts["line_amount_minor"]) == [Decimal(24000), Decimal(30000)]
    assert set(drafts["currency"]) == {"GBP"}


def test_a_csv_entity_needs_its_exports_folder(tmp_path):
    doc = yaml.safe_load(open(_mapping(tmp_path), encoding="utf-8"))
    del doc["entities"][0]["csv_export"]
    (tmp_path / "m2.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MappingError, match="csv_export: required when source is csv"):
        load_mapping(tmp_path / "m2.yaml")
