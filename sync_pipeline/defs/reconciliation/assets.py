"""Reconciliation results: the accounting system's contents vs the source totals."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.defs.metadata import counts, preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import MappingResource, WarehouseResource, XeroResource
from sync_pipeline.services.reconcile import reconcile_sync


@asset(
    partitions_def=entity_period_partitions,
    group_name="reconciliation",
    deps=[posted_invoices],
    kinds={"xero", "parquet"},
    description="Per document and per currency: source subtotal vs what the accounting system holds.",
)
def sync_reconciliation(context: AssetExecutionContext, mapping: MappingResource, xero: XeroResource,
                        warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    client = xero.client(entity.xero_tenant_id)
    try:
        df = reconcile_sync(drafts, entity=ep.entity, period=ep.period, xero=client)
    finally:
        client.close()
    wh.write("sync_reconciliation", ep.entity, ep.period.key, df, SyncReconciliation)
    docs = df[df["level"] == "document"]
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "document_status": counts(docs, "status"),
        "preview": preview(df),
    })
