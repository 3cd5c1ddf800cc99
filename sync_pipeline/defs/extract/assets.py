"""Raw extracts from the project system."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import RawExpense
from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, WarehouseResource
from sync_pipeline.services.extract import extract_expenses, extract_time_entries_partition, window_changes


@asset(
    partitions_def=entity_period_partitions,
    group_name="extract",
    kinds={"python", "parquet"},
    pool="harvest",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Time entries of the entity's billing period, as the project system returned them.",
)
def raw_time_entries(context: AssetExecutionContext, harvest: HarvestResource, mapping: MappingResource,
                     warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    client = harvest.client(entity.harvest_account_id)
    try:  # streamed: one page and one row group in memory, whatever the size of the period
        done = extract_time_entries_partition(client.time_entries(start=ep.period.start, end=ep.period.end),
                                              warehouse.get(), ep.entity, ep.period)
        requests = client.http.request_count
        retries = client.http.retry_count
    finally:
        client.close()
    changes = done["changes"]  # deletions at the source show up as ids missing from the window
    if changes.deleted:
        context.log.warning(f"{len(changes.deleted)} entries deleted at the source since the last extract: "
                            f"{', '.join(changes.deleted[:20])}")
    return MaterializeResult(metadata={
        **changes.as_metadata(),
        "dagster/row_count": done["rows"],
        "superseded_versions": done["superseded_versions"],  # entries edited while we paged: newest kept
        "api_requests": requests,
        "api_retries": retries,
        **{f"harvest_{k}": v for k, v in harvest.health().items()},
        "path": done["path"],
        "preview": preview(done["preview"]),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="extract",
    kinds={"python", "parquet"},
    pool="harvest",
    description="Expenses of the entity's billing period, as the project system returned them (refunds negative).",
)
def raw_expenses(context: AssetExecutionContext, harvest: HarvestResource, mapping: MappingResource,
                 warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    client = harvest.client(entity.harvest_account_id)
    try:
        df = extract_expenses(client, ep.period)
        requests = client.http.request_count
    finally:
        client.close()
    wh = warehouse.get()
    previous = wh.read("raw_expenses", ep.entity, ep.period.key) if wh.exists(
        "raw_expenses", ep.entity, ep.period.key) else None
    changes = window_changes(previous, df, id_col="expense_id")
    path = wh.write("raw_expenses", ep.entity, ep.period.key, df, RawExpense)
    return MaterializeResult(metadata={
        **changes.as_metadata(),
        "dagster/row_count": len(df),
        "api_requests": requests,
        "path": str(path),
        "preview": preview(df),
    })
