"""Checks on reconciliation results."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from sync_pipeline.defs.metadata import preview, table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.reconciliation.assets import cash_matches, sync_reconciliation
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.services.cash_summary import invariant_failures


@asset_check(asset=sync_reconciliation, blocking=True, partitions_def=entity_period_partitions,
             description="No missing or extra documents, and no total differing by more than the tolerance.")
def sync_totals_match(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    df = warehouse.get().read("sync_reconciliation", ep.entity, ep.period.key)
    bad = df[df["breach"]]
    within = df[(df["status"] != "match") & ~df["breach"]]
    return AssetCheckResult(
        passed=bad.empty, severity=AssetCheckSeverity.ERROR,
        metadata={"breaches": len(bad), "within_tolerance": len(within),
                  "failure_cases": preview(table(bad, {"level": "level", "key": "key", "source_minor": "ours (net)",
                                                       "target_minor": "accounting (net)", "diff_minor": "difference",
                                                       "status": "status", "detail": "what differs"},
                                                 money=("source_minor", "target_minor", "diff_minor")), rows=20)})


@asset_check(asset=cash_matches, blocking=True, partitions_def=entity_period_partitions,
             description="Automatic settlements add up: each line's parts plus write-off equal its amount, no pair "
                         "twice, no invoice receiving more than was due.")
def cash_settlements_add_up(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    frame = wh.read("cash_matches", ep.entity, ep.period.key)
    due = wh.read("cash_open_invoices", ep.entity, ep.period.key)
    bad = invariant_failures(frame, dict(zip(due["invoice_id"], due["amount_due_minor"], strict=True)))
    return AssetCheckResult(passed=bad.empty, severity=AssetCheckSeverity.ERROR,
                            metadata={"failures": len(bad), "failure_cases": preview(bad, rows=20)})
