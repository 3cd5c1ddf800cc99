"""Raw extracts from the project system."""


import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.connectors.project import PreparedRows
from sync_pipeline.contracts.warehouse import RawExpense
from sync_pipeline.defs.metadata import preview, source_rows_table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, RedmineResource, WarehouseResource
from sync_pipeline.defs.sources import project_source
from sync_pipeline.services.extract import extract_time_entries_partition, read_expense_pages, window_changes
from sync_pipeline.store.warehouse import Warehouse


def _write_quarantine(context: AssetExecutionContext, warehouse: WarehouseResource, asset: str, entity: str,
                      period: str, quarantine: pd.DataFrame, noun: str) -> dict[str, object]:
    """Records that did not read strictly, one row per problem, to ``asset`` (replacing an earlier extract's list,
    emptied when none is left; the values quoted as read encrypted); the figures and a preview for the asset's
    metadata (without the values: they may be a person's name or notes)."""
    wh = warehouse.get()
    records = int(quarantine["record"].nunique()) if len(quarantine) else 0
    if records or wh.exists(asset, entity, period):
        wh.write(asset, entity, period, warehouse.seal(quarantine, asset))
    if records:
        context.log.warning(f"{records} {noun} record(s) did not read strictly and are quarantined: see {asset} "
                            f"{entity} {period} (record, field, value, problem)")
    return {f"quarantined_source_{noun}_records": records,
            **({f"{noun}_quarantine": preview(quarantine[["record", "field", "problem"]])} if records else {})}


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
    source = project_source(entity, harvest, redmine)
    try:  # streamed: one page and one row group in memory, whatever the size of the period
        read = source.time_entries(ep.period)
        done = extract_time_entries_partition(read.pages, wh, ep.entity, ep.period, flatten=read.reader,
                                              protect=warehouse.protect_rows("raw_time_entries.notes"))
        figures = source.figures()
    finally:
        source.close()
    if read.prepared is None:  # source records that did not read strictly, named with field and problem
        extra = _write_quarantine(context, warehouse, "raw_time_entries_quarantine", ep.entity, ep.period.key,
                                  done["quarantine"], "time-entry")
    else:  # rows the source refused or superseded before streaming (exports: file, row, column)
        superseded = warehouse.protect_frame(read.prepared.superseded, "raw_time_entries.notes")
        extra = _write_prepared(context, wh, ep.entity, ep.period.key, read.prepared, superseded,
                                warehouse.seal(read.prepared.quarantine, "raw_time_entries_quarantine"))
    changes = done["changes"]  # deletions at the source show up as ids missing from the window
    if changes.deleted:
        context.log.warning(f"{len(changes.deleted)} entries deleted at the source since the last extract: "
                            f"{', '.join(changes.deleted[:20])}")
    return MaterializeResult(metadata={
        **changes.as_metadata(),
        "dagster/row_count": done["rows"],
        "superseded_versions": done["superseded_versions"],  # entries edited while we paged: newest kept
        **figures,
        "source": source.system,
        **extra,
        "path": done["path"],
        "preview": preview(source_rows_table(done["preview"], "time")),
    })


def _write_prepared(context: AssetExecutionContext, wh: Warehouse, entity: str, period: str,
                    prepared: PreparedRows, superseded: pd.DataFrame, quarantine: pd.DataFrame) -> dict[str, object]:
    """Both written on every run (empty when nothing), so neither lists a previous run's rows; superseded rows are
    listed, never silently gone: a newer export of those person-days replaced them. ``quarantine``: the prepared
    quarantine with its raw rows encrypted."""
    wh.write("raw_time_entries_quarantine", entity, period, quarantine)
    wh.write("raw_time_entries_superseded", entity, period, superseded)  # people pseudonymized
    if prepared.quarantined:
        context.log.warning(f"{prepared.quarantined} export row(s) quarantined: see "
                            f"raw_time_entries_quarantine {entity} {period}")
    return {**prepared.metadata, "quarantine": preview(prepared.quarantine[["file", "row", "column", "problem"]]),
            "superseded": preview(superseded)}


@asset(
    partitions_def=entity_period_partitions,
    group_name="extract",
    kinds={"python", "parquet"},
    pool="harvest",
    description="Expenses of the entity's billing period, as the project system returned them (refunds negative).",
)
def raw_expenses(context: AssetExecutionContext, harvest: HarvestResource, redmine: RedmineResource,
                 mapping: MappingResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    quarantined: dict[str, object] = {}
    source = project_source(entity, harvest, redmine)
    if not source.supports("expenses"):  # e.g. Redmine and the CSV exports: an empty partition
        df, figures = pd.DataFrame(columns=list(RawExpense.to_schema().columns)), {"api_requests": 0}
    else:
        try:
            df, read = read_expense_pages(*source.expenses(ep.period))
            figures = {"api_requests": source.figures()["api_requests"]}
        finally:
            source.close()
        quarantined = _write_quarantine(context, warehouse, "raw_expenses_quarantine", ep.entity, ep.period.key,
                                        read.quarantine(), "expense")
    previous = wh.read("raw_expenses", ep.entity, ep.period.key) if wh.exists(
        "raw_expenses", ep.entity, ep.period.key) else None
    df = warehouse.protect_frame(df, "raw_expenses.notes")  # names → pseudonyms, notes encrypted
    changes = window_changes(previous, df, id_col="expense_id")
    path = wh.write("raw_expenses", ep.entity, ep.period.key, df, RawExpense)
    return MaterializeResult(metadata={
        **changes.as_metadata(),
        "dagster/row_count": len(df),
        **figures,
        "source": source.system,
        **quarantined,
        "path": str(path),
        "preview": preview(source_rows_table(df, "expense")),
    })
