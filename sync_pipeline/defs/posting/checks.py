"""Checks on what was posted."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import WarehouseResource


@asset_check(asset=posted_invoices, description="Every drafted invoice is in the accounting system with the "
                                                "drafted subtotal; no posting failed.")
def posted_subtotals_match_drafts(context: AssetCheckExecutionContext,
                                  warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    posted = wh.read("posted_invoices", ep.entity, ep.period.key)
    drafted = drafts.groupby("invoice_key")["line_amount_minor"].sum().to_dict() if len(drafts) else {}
    got = {r.invoice_key: r.subtotal_minor for r in posted.itertuples()}
    bad = [{"invoice_key": k, "drafted_minor": v, "posted_minor": got.get(k)}
           for k, v in sorted(drafted.items()) if got.get(k) != v]
    import pandas as pd

    return AssetCheckResult(passed=not bad, metadata={"mismatches": len(bad), "failure_cases": preview(pd.DataFrame(bad))})
