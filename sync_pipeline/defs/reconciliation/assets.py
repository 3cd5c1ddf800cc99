"""Reconciliation results: the accounting system's contents vs the source totals."""


from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.defs.metadata import counts, preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import MappingResource, WarehouseResource, XeroResource
from sync_pipeline.services.reconcile import reconcile_sync


class SyncReconciliationConfig(Config):
    tolerance_minor: int = 0
    """How many minor units a total may differ by before it breaches (missing/extra documents always do)."""


@asset(
    partitions_def=entity_period_partitions,
    group_name="reconciliation",
    deps=[posted_invoices],
    kinds={"xero", "parquet"},
    description="Source vs accounting system: per document, and counts/totals per client, project, tax code, "
                "account and currency.",
)
def sync_reconciliation(context: AssetExecutionContext, config: SyncReconciliationConfig, mapping: MappingResource,
                        xero: XeroResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    client = xero.client(entity.xero_tenant_id)
    try:
        df = reconcile_sync(drafts, entity=ep.entity, period=ep.period, xero=client,
                            tolerance_minor=config.tolerance_minor)
    finally:
        client.close()
    wh.write("sync_reconciliation", ep.entity, ep.period.key, df, SyncReconciliation)
    docs = df[df["level"] == "document"]
    dims = df[df["level"] != "document"]
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "document_status": counts(docs, "status"),
        "breaches": int(df["breach"].sum()),
        "exceptions": preview(docs[docs["status"] != "match"][["key", "currency", "source_minor", "target_minor",
                                                                 "diff_minor", "status", "detail"]]),
        "per_dimension": preview(dims[["level", "key", "currency", "source_count", "target_count", "source_minor",
                                       "target_minor", "status"]], rows=30),
    })
