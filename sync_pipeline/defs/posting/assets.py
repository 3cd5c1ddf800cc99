"""Posted invoices: the drafts applied to the accounting system, exactly once."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import PostedInvoice
from sync_pipeline.defs.billing.assets import invoice_drafts
from sync_pipeline.defs.metadata import counts, preview, totals_minor
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource, XeroResource
from sync_pipeline.services.posting import post_invoices


@asset(
    partitions_def=entity_period_partitions,
    group_name="posting",
    deps=[invoice_drafts],
    kinds={"xero", "parquet"},
    description="Invoices in the accounting system for the partition: created now, or found already posted.",
)
def posted_invoices(context: AssetExecutionContext, mapping: MappingResource, xero: XeroResource,
                    opstore: OperationalStoreResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    client = xero.client(entity.xero_tenant_id)
    try:
        df = post_invoices(drafts, entity=entity, period=ep.period, xero=client, store=opstore.get(),
                           triggered_by=f"dagster run {context.run.run_id}")
        calls = client.http.request_count
    finally:
        client.close()
    wh.write("posted_invoices", ep.entity, ep.period.key, df, PostedInvoice)
    failed = df[df["outcome"] == "failed"]
    if len(failed):
        context.log.error(f"{len(failed)} invoice(s) failed to post: {failed[['reference', 'error']].to_dict('records')}")
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "outcomes": counts(df, "outcome"),
        "total_per_currency": totals_minor(df, "total_minor"),
        "api_calls": calls,
        "preview": preview(df[["reference", "outcome", "invoice_number", "status", "currency", "total_minor"]]),
    })
