"""Raw extracts from the project system."""


import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.connectors.csv_exports import CsvOptions
from sync_pipeline.connectors.harvest import HarvestClient, read_time_entry
from sync_pipeline.connectors.redmine import RedmineClient
from sync_pipeline.contracts.warehouse import RawExpense
from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, RedmineResource, WarehouseResource
from sync_pipeline.services.csv_import import csv_rows_as_pages, import_csv_folder
from sync_pipeline.services.extract import (
    extract_time_entries_partition,
    read_expenses,
    redmine_time_entry_pages,
    window_changes,
)
from sync_pipeline.store.warehouse import Warehouse


def _write_quarantine(context: AssetExecutionContext, wh: Warehouse, asset: str, entity: str, period: str,
                      quarantine: pd.DataFrame, noun: str) -> dict[str, object]:
    """Records that did not read strictly, one row per problem, to ``asset`` (replacing an earlier extract's list,
    emptied when none is left); the figures and a preview for the asset's metadata."""
    records = int(quarantine["record"].nunique()) if len(quarantine) else 0
    if records or wh.exists(asset, entity, period):
        wh.write(asset, entity, period, quarantine)
    if records:
        context.log.warning(f"{records} {noun} record(s) did not read strictly and are quarantined: see {asset} "
                            f"{entity} {period} (record, field, value, problem)")
    return {f"quarantined_source_{noun}_records": records,
            **({f"{noun}_quarantine": preview(quarantine[["record", "field", "value", "problem"]])} if records else {})}


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
    wh = warehouse.get()
    extra: dict[str, object] = {}
    client: HarvestClient | RedmineClient | None = None
    if entity.source == "csv":  # exports dropped in a folder: read whole (exports are small), bad rows quarantined
        assert entity.csv_export is not None  # the mapping requires it for source csv
        export = entity.csv_export
        options = CsvOptions(decimal_separator=export.decimal_separator, encoding=export.encoding,
                             delimiter=export.delimiter, date_format=export.date_format)
        imported = import_csv_folder(export.folder, export.kind, ep.period, options)
        pages, flatten = csv_rows_as_pages(imported.entries)
        quarantined = int(imported.quarantine[["file", "row"]].drop_duplicates().shape[0])
        # both written on every run (empty when nothing), so neither lists a previous run's rows
        wh.write("raw_time_entries_quarantine", ep.entity, ep.period.key, imported.quarantine)
        # superseded rows are listed, never silently gone: a newer export of those person-days replaced them
        wh.write("raw_time_entries_superseded", ep.entity, ep.period.key, imported.superseded)
        if quarantined:
            context.log.warning(f"{quarantined} export row(s) quarantined: see "
                                f"raw_time_entries_quarantine {ep.entity} {ep.period.key}")
        extra = {"quarantined_export_rows": quarantined, "export_rows_outside_period": imported.outside_period,
                 "superseded_export_rows": len(imported.superseded), "exports": "\n".join(imported.files),
                 "quarantine": preview(imported.quarantine[["file", "row", "column", "problem"]]),
                 "superseded": preview(imported.superseded)}
    elif entity.source == "redmine":
        client = redmine.client()
        # Redmine has no currency: the client's in the mapping, else the entity's base currency
        pages, flatten = redmine_time_entry_pages(client, ep.period, entity.billing_currency)
    else:
        client = harvest.client(entity.harvest_account_id)
        pages, flatten = client.time_entries(start=ep.period.start, end=ep.period.end), read_time_entry
    try:  # streamed: one page and one row group in memory, whatever the size of the period
        done = extract_time_entries_partition(pages, wh, ep.entity, ep.period, flatten=flatten)
        requests = client.http.request_count if client else 0
        retries = client.http.retry_count if client else 0
    finally:
        if client:
            client.close()
    if entity.source != "csv":  # source records that did not read strictly, named with field and problem
        extra = _write_quarantine(context, wh, "raw_time_entries_quarantine", ep.entity, ep.period.key,
                                  done["quarantine"], "time-entry")
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
        **extra,
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
    wh = warehouse.get()
    quarantined: dict[str, object] = {}
    if entity.source != "harvest":  # Redmine and the CSV exports carry no expenses: an empty partition
        df, requests = pd.DataFrame(columns=list(RawExpense.to_schema().columns)), 0
    else:
        client = harvest.client(entity.harvest_account_id)
        try:
            df, read = read_expenses(client, ep.period)
            requests = client.http.request_count
        finally:
            client.close()
        quarantined = _write_quarantine(context, wh, "raw_expenses_quarantine", ep.entity, ep.period.key,
                                        read.quarantine(), "expense")
    previous = wh.read("raw_expenses", ep.entity, ep.period.key) if wh.exists(
        "raw_expenses", ep.entity, ep.period.key) else None
    changes = window_changes(previous, df, id_col="expense_id")
    path = wh.write("raw_expenses", ep.entity, ep.period.key, df, RawExpense)
    return MaterializeResult(metadata={
        **changes.as_metadata(),
        "dagster/row_count": len(df),
        "api_requests": requests,
        "source": entity.source,
        **quarantined,
        "path": str(path),
        "preview": preview(df),
    })
