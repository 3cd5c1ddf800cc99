"""Blocking contract checks on the assets that feed posting.

Each asset validates its frame before writing it, so a failure here means the stored partition no longer
satisfies the contract this code expects (written by an older contract version, edited by hand, or a
contract tightened since). The check re-reads the partition, validates it lazily (every failure, not the
first) and puts the failure cases in its metadata, visible on the asset's Checks tab; being blocking, it
stops posting in the same run. The per-entry assets (millions of rows in a big partition) are checked in
DuckDB over the stored file with the rules derived from the same pandera model (``store.contract_sql``);
the drafts (a few thousand lines) with pandera itself.
"""

import duckdb
import pandera.pandas as pa
import pyarrow.parquet as pq
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from sync_pipeline.contracts.warehouse import Billable, CleanTimeEntry, InvoiceDraftLine
from sync_pipeline.defs.billing.assets import billables, clean_time_entries, invoice_drafts
from sync_pipeline.defs.metadata import preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.store.contract_sql import check_parquet
from sync_pipeline.store.warehouse import Warehouse


def _what_to_do(asset: str) -> MetadataValue:
    return MetadataValue.md(f"Re-materialize `{asset}` for this partition with the current code; if it fails again "
                            "the source data breaks the contract: the failure cases name the column and check.")


def contract_result_sql(wh: Warehouse, asset: str, model: type[pa.DataFrameModel], entity: str,
                        period: str) -> AssetCheckResult:
    """The contract checked in SQL over the stored file (one scan; no row comes to pandas)."""
    con = duckdb.connect()
    try:
        with wh.local_file(asset, entity, period) as f:
            problems = check_parquet(con, model, str(f))
            rows = pq.ParquetFile(f).metadata.num_rows  # from the footer, no scan
    finally:
        con.close()
    meta = {"contract": model.__name__, "rows": int(rows), "failure_count": len(problems)}
    if problems:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata={
            **meta, "failure_cases": MetadataValue.md("\n".join(f"- {p}" for p in problems[:25])),
            "what_to_do": _what_to_do(asset)})
    return AssetCheckResult(passed=True, metadata=meta)


def contract_result(wh: Warehouse, asset: str, model: type[pa.DataFrameModel], entity: str,
                    period: str) -> AssetCheckResult:
    df = wh.read(asset, entity, period)
    try:
        model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        cols = [c for c in ("column", "check", "failure_case", "index") if c in cases.columns]
        return AssetCheckResult(
            passed=False, severity=AssetCheckSeverity.ERROR,
            metadata={"contract": model.__name__, "rows": len(df), "failure_count": len(cases),
                      "failing_checks": sorted({str(c) for c in cases["check"]})[:20],
                      "failure_cases": preview(cases[cols].astype(str), rows=25),
                      "what_to_do": _what_to_do(asset)})
    return AssetCheckResult(passed=True, metadata={"contract": model.__name__, "rows": len(df), "failure_count": 0})


@asset_check(asset=clean_time_entries, partitions_def=entity_period_partitions, blocking=True,
             description="The stored partition satisfies the CleanTimeEntry contract (failure cases in metadata).")
def clean_time_entries_contract(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    return contract_result_sql(warehouse.get(), "clean_time_entries", CleanTimeEntry, ep.entity, ep.period.key)


@asset_check(asset=billables, partitions_def=entity_period_partitions, blocking=True,
             description="The stored partition satisfies the Billable contract (failure cases in metadata).")
def billables_contract(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    return contract_result_sql(warehouse.get(), "billables", Billable, ep.entity, ep.period.key)


@asset_check(asset=invoice_drafts, partitions_def=entity_period_partitions, blocking=True,
             description="The stored invoice drafts satisfy the InvoiceDraftLine contract; posting waits for it.")
def invoice_drafts_contract(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    return contract_result(warehouse.get(), "invoice_drafts", InvoiceDraftLine, ep.entity, ep.period.key)
