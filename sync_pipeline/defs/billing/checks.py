"""Blocking checks on what is about to be posted."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from sync_pipeline.defs.billing.assets import invoice_drafts
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.services.billing import conservation_of_partition


@asset_check(asset=invoice_drafts, partitions_def=entity_period_partitions, blocking=True,
             description="Every source entry and expense ends in exactly one disposition and the money adds up "
                         "to the cent per currency: source value = drafted + rounding remainder.")
def conservation(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    result = conservation_of_partition(wh, e, p)  # time entries and, once extracted, expenses
    return AssetCheckResult(
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "dispositions": result.counts,
            "per_currency": result.per_currency,
            "problems": MetadataValue.md("\n".join(f"- {x}" for x in result.problems) or "none"),
        },
    )
