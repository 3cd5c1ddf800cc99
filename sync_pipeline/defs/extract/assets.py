"""Raw extracts from the project system."""


import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.connectors.harvest import HarvestClient, flatten_time_entry
from sync_pipeline.connectors.redmine import RedmineClient
from sync_pipeline.contracts.warehouse import RawExpense
from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, RedmineResource, WarehouseResource
from sync_pipeline.services.extract import (
    extract_expenses,
    extract_time_entries_partition,
    redmine_time_entry_pages,
    window_changes,
)


@asset(
    partitions_def=entity_period_partitions,
    group_name="extract",
    kinds={"python", "parquet"},
    pool="harvest",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Time entries of the entity's billing period, as the project system returned them.",
)
def raw_time_entries(context: AssetExecutionContext, harvest: HarvestResource, redmine: RedmineResource,
                     mapping: MappingResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    if entity.source == "redmine":
        client: HarvestClient | RedmineClient = redmine.client()
        pages, flatten = redmine_time_entry_pages(  # Redmine has no currency: the mapping's, else the base
            client, ep.period, lambda c: (entity.client(c).currency if c and entity.client(c) else None)
            or entity.base_currency)
    else:
        client = harvest.client(entity.harvest_account_id)
        pages, flatten = client.time_entries(start=ep.period.start, end=ep.period.end), flatten_time_entry
    try:  # streamed: one page and one row group in memory, whatever the size of the period
        done = extract_time_entries_partition(pages, warehouse.get(), ep.entity, ep.period, flatten=flatten)
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
        "source": entity.source,
        **({f"harvest_{k}": v for k, v in harvest.health().items()} if entity.source == "harvest" else {}),
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
    if entity.source != "harvest":  # Redmine tracks no expenses: an empty partition, so billing reads the same
        df, requests = pd.DataFrame(columns=list(RawExpense.to_schema().columns)), 0
    else:
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
        "source": entity.source,
        "path": str(path),
        "preview": preview(df),
    })
