"""Raw extracts from the project system."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, WarehouseResource
from sync_pipeline.services.extract import extract_time_entries


@asset(
    partitions_def=entity_period_partitions,
    group_name="extract",
    kinds={"python", "parquet"},
    description="Time entries of the entity's billing period, as the project system returned them.",
)
def raw_time_entries(context: AssetExecutionContext, harvest: HarvestResource, mapping: MappingResource,
                     warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    client = harvest.client(entity.harvest_account_id)
    try:
        df = extract_time_entries(client, ep.period)
        requests = client.http.request_count
    finally:
        client.close()
    path = warehouse.get().write("raw_time_entries", ep.entity, ep.period.key, df, RawTimeEntry)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "api_requests": requests,
        "path": str(path),
        "preview": preview(df),
    })
