"""Checks on reconciliation results."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period
from sync_pipeline.defs.reconciliation.assets import sync_reconciliation
from sync_pipeline.defs.resources import WarehouseResource


@asset_check(asset=sync_reconciliation, description="No missing, extra or mismatched documents.")
def sync_totals_match(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    df = warehouse.get().read("sync_reconciliation", ep.entity, ep.period.key)
    bad = df[df["status"] != "match"]
    return AssetCheckResult(passed=bad.empty, metadata={"exceptions": len(bad), "failure_cases": preview(bad)})
