"""An entity whose mapping says ``source: csv``: the raw_time_entries asset reads the exports dropped in its folder,
quarantines the rows it cannot read (with file, row, column, problem), and billing runs on the rest as for Harvest."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from dagster import AssetCheckEvaluation, DagsterInstance, materialize

from sync_pipeline.contracts.mapping import MappingError, load_mapping
from sync_pipeline.defs.billing.assets import (
    billables,
    clean_expenses,
    clean_time_entries,
    expense_billables,
    fx_rates,
    invoice_drafts,
)
from sync_pipeline.defs.billing.checks import conservation
from sync_pipeline.defs.extract.assets import raw_expenses, raw_time_entries
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import (
    FxResource,
    HarvestResource,
    MappingResource,
    RedmineResource,
    WarehouseResource,
)
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.connectors.test_csv_exports import HARVEST

ENTITY = "csv-co"


def _mapping(tmp_path, **entity) -> str:
    doc = {"version": 2, "entities": [{
        "key": ENTITY, "name": "CSV Co Ltd", "timezone": "Europe/London", "base_currency": "GBP",
        "source": "csv", "csv_export": {"kind": "harvest", "folder": str(tmp_path / "exports")},
        "xero_tenant_id": "t", "require_approval": False, **entity}]}
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def test_a_csv_entity_is_read_from_its_exports_and_billed(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "2026-10-a.csv").write_text(HARVEST, encoding="utf-8")
    lines = HARVEST.splitlines()
    (exports / "2026-10-b.csv").write_text("\n".join([lines[0], lines[1]]) + "\n", encoding="utf-8")  # overlaps a
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("entity", [ENTITY])
        result = materialize(
            [raw_time_entries, raw_expenses, fx_rates, clean_time_entries, billables, clean_expenses,
             expense_billables, invoice_drafts, conservation],
            instance=instance, partition_key=partition_key(ENTITY, "2026-10"),
            resources={"mapping": MappingResource(path=_mapping(tmp_path)),
                       "warehouse": WarehouseResource(root=str(tmp_path / "wh")), "redmine": RedmineResource(),
                       "harvest": HarvestResource(base_url="http://127.0.0.1:9", access_token="unused"),
                       "fx": FxResource()})
    assert result.success
    checks = [e.event_specific_data for e in result.all_events if isinstance(e.event_specific_data, AssetCheckEvaluation)]
    assert [(x.check_name, x.passed) for x in checks] == [("conservation", True)]
    meta = result.asset_materializations_for_node("raw_time_entries")[0].metadata
    # 3 good rows in a, 1 in b that is the same entry as a's first (same content, same id): kept once
    assert meta["dagster/row_count"].value == 3 and meta["superseded_versions"].value == 1
    assert meta["quarantined_export_rows"].value == 2 and meta["source"].value == "csv"

    wh = Warehouse(tmp_path / "wh")
    quarantine = wh.read("raw_time_entries_quarantine", ENTITY, "2026-10")
    assert sorted(set(zip(quarantine["source"], quarantine["row"], strict=True))) == [
        ("2026-10-a.csv: harvest_csv", 4), ("2026-10-a.csv: harvest_csv", 5)]
    drafts = wh.read("invoice_drafts", ENTITY, "2026-10")
    # Alice 2.5 h x 120 + Bob 3.0 h x 100 for Acme (GBP); Globex's 0.75 h is not billable
    assert sorted(Decimal(str(x)) for x in drafts["line_amount_minor"]) == [Decimal(30000), Decimal(30000)]
    assert set(drafts["currency"]) == {"GBP"}


def test_a_csv_entity_needs_its_exports_folder(tmp_path):
    doc = yaml.safe_load(open(_mapping(tmp_path), encoding="utf-8"))
    del doc["entities"][0]["csv_export"]
    (tmp_path / "m2.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MappingError, match="csv_export: required when source is csv"):
        load_mapping(tmp_path / "m2.yaml")
