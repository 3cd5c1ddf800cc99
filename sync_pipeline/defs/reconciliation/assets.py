"""Reconciliation results: the accounting system's contents vs the source totals."""


from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.defs.metadata import counts, dimension_table, names_of, preview, sync_exceptions_table, table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource, XeroResource
from sync_pipeline.services.reconcile import reconcile_sync


class SyncReconciliationConfig(Config):
    tolerance_minor: int = 0
    """How many minor units a total may differ by before it breaches (missing/extra documents always do)."""


@asset(
    partitions_def=entity_period_partitions,
    group_name="reconciliation",
    deps=[posted_invoices],
    kinds={"xero", "parquet"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Source vs accounting system: per document, and counts/totals per client, project, tax code, "
                "account and currency.",
)
def sync_reconciliation(context: AssetExecutionContext, config: SyncReconciliationConfig, mapping: MappingResource,
                        xero: XeroResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    target = xero.target(entity)
    try:
        df = reconcile_sync(drafts, entity=ep.entity, period=ep.period, target=target,
                            tolerance_minor=config.tolerance_minor)
    finally:
        target.close()
    wh.write("sync_reconciliation", ep.entity, ep.period.key, df, SyncReconciliation)
    docs = df[df["level"] == "document"]
    dims = df[df["level"] != "document"]
    names = {"client": names_of(drafts, "client_id", "client_name"),
             "project": names_of(drafts, "project_id", "project_name")}
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "document_status": counts(docs, "status"),
        "breaches": int(df["breach"].sum()),
        "amounts": "net of tax (invoice subtotals), ours vs the accounting system's",
        "exceptions": sync_exceptions_table(docs[docs["status"] != "match"]),
        "per_dimension": dimension_table(dims, names),
    })


# the cash side lives in its own module; imported here so the definitions collect it with this domain
from sync_pipeline.defs.reconciliation.cash_assets import (  # noqa: E402
    bank_statement_lines,
    cash_matches,
    cash_settlement,
)

__all__ = ["sync_reconciliation", "bank_statement_lines", "cash_matches", "cash_settlement", "reconciliation_results"]


@asset(
    partitions_def=entity_period_partitions,
    group_name="reconciliation",
    deps=[sync_reconciliation, cash_settlement],
    kinds={"parquet"},
    description="The partition's reconciliation at a glance: sync breaches, and cash lines by status with totals.",
)
def reconciliation_results(context: AssetExecutionContext, warehouse: WarehouseResource,
                           opstore: OperationalStoreResource) -> MaterializeResult:
    import pandas as pd

    from sync_pipeline.store.matching_log import MatchingLog

    ep = entity_period(context)
    wh = warehouse.get()
    rows = []
    if wh.exists("sync_reconciliation", ep.entity, ep.period.key):
        sync = wh.read("sync_reconciliation", ep.entity, ep.period.key)
        for (level, status), grp in sync.groupby(["level", "status"]):
            rows.append({"kind": "sync", "group": f"{level}:{status}", "count": len(grp),
                         "currency": "", "amount_minor": int(grp["diff_minor"].abs().sum()),
                         "breaches": int(grp["breach"].sum())})
    decisions = MatchingLog(opstore.get()).decisions(entity=ep.entity, period=ep.period.key, limit=10_000_000)
    cash = pd.DataFrame(decisions, columns=["status", "line_currency", "line_amount_minor"])
    for (status, ccy), grp in cash.groupby(["status", "line_currency"]) if len(cash) else []:
        rows.append({"kind": "cash", "group": status, "count": len(grp), "currency": ccy,
                     "amount_minor": int(grp["line_amount_minor"].sum()), "breaches": 0})
    df = pd.DataFrame(rows, columns=["kind", "group", "count", "currency", "amount_minor", "breaches"])
    wh.write("reconciliation_results", ep.entity, ep.period.key, df)
    open_cash = cash[cash["status"] == "open"] if len(cash) else cash
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "sync_breaches": int(df[df["kind"] == "sync"]["breaches"].sum()) if len(df) else 0,
        "cash_open_exceptions": len(open_cash),
        "summary": preview(table(df, {"kind": "kind", "group": "group", "count": "count",
                                      "amount_minor": "amount", "breaches": "breaches"}, money=("amount_minor",)),
                           rows=30),
    })
