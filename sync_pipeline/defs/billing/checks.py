"""Blocking checks on what is about to be posted."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from sync_pipeline.defs.billing.assets import invoice_drafts
from sync_pipeline.defs.partitions import entity_period
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.domain.billing import check_conservation


@asset_check(asset=invoice_drafts, blocking=True,
             description="Every source entry ends in exactly one disposition and the money adds up to the "
                         "cent per currency: source value = drafted + rounding remainder.")
def conservation(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    raw = wh.read("raw_time_entries", e, p)
    result = check_conservation(len(raw), wh.read("clean_time_entries", e, p), wh.read("billables", e, p),
                                wh.read("invoice_drafts", e, p))
    return AssetCheckResult(
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "dispositions": result.counts,
            "per_currency": result.per_currency,
            "problems": MetadataValue.md("\n".join(f"- {x}" for x in result.problems) or "none"),
        },
    )
