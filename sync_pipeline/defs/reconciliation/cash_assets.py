"""Cash reconciliation assets: bank statement lines → matches (logged) → settlement in the accounting system."""


from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.connectors.bank_statements import LINE_COLUMNS, read_statements
from sync_pipeline.connectors.strict import QUARANTINE_COLUMNS, Rejected, quarantine_frame_rows
from sync_pipeline.contracts.warehouse import BankLine, CashMatch
from sync_pipeline.defs.metadata import counts, preview
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import (
    MappingResource,
    OperationalStoreResource,
    ReconciliationResource,
    WarehouseResource,
    XeroResource,
)
from sync_pipeline.domain.tracing import trace_id_of
from sync_pipeline.services import cash_reconcile
from sync_pipeline.services.cash_summary import settled_totals
from sync_pipeline.store.matching_log import MatchingLog


@asset(
    partitions_def=entity_period_partitions,
    group_name="cash",
    kinds={"csv", "ofx", "parquet"},
    description="The period's bank statement lines from the files in <statements_dir>/<entity>/ (CSV, OFX, camt.053, "
                "MT940).",
)
def bank_statement_lines(context: AssetExecutionContext, reconciliation: ReconciliationResource,
                         warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    cfg = reconciliation.load().entity(ep.entity)
    folder = Path(reconciliation.statements_root()) / ep.entity
    files = sorted({p for pattern in cfg.statement_files for p in folder.glob(pattern)})
    st = read_statements(files, account=cfg.bank_account or "090", default_currency=cfg.bank_currency)
    lines = st.lines
    in_period = lines[lines["date"].str.startswith(ep.period.key)] if len(lines) else lines
    # payer names (a payer may be a person) and texts encrypted at rest; cash_matches decrypts them in memory
    warehouse.get().write("bank_statement_lines", ep.entity, ep.period.key,
                          warehouse.seal(in_period[LINE_COLUMNS], "bank_statement_lines"), BankLine)
    if len(st.rejects):
        # file, row and why: the raw row is not quoted (a payer may be a person; the statement file has it)
        context.log.warning(f"{len(st.rejects)} statement row(s) could not be read: "
                            f"{st.rejects[['source', 'row', 'reason']].head(5).to_dict('records')}")
    return MaterializeResult(metadata={
        "dagster/row_count": len(in_period), "files": [p.name for p in files], "folder": str(folder),
        "rejected_rows": len(st.rejects), "rejects": preview(st.rejects[["source", "row", "reason"]]),
        "receipts": int((in_period["amount_minor"] > 0).sum()) if len(in_period) else 0,
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="cash",
    deps=[bank_statement_lines, posted_invoices],
    kinds={"xero", "duckdb", "parquet"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Each bank line's decision: the rule or model, confidence, invoices and amounts; every decision "
                "is also written to the matching log.",
)
def cash_matches(context: AssetExecutionContext, mapping: MappingResource, reconciliation: ReconciliationResource,
                 xero: XeroResource, opstore: OperationalStoreResource,
                 warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    cfg = reconciliation.load()
    policy = cfg.policy(ep.entity)
    wh = warehouse.get()
    lines = warehouse.open(wh.read("bank_statement_lines", ep.entity, ep.period.key), "bank_statement_lines")
    target = xero.target(entity)
    rejected: list[Rejected] = []  # documents that did not read strictly: left out of matching, listed
    try:
        invoices, payments = cash_reconcile.load_receivables(target, cfg.entity(ep.entity).bank_currency, rejected)
    finally:
        target.close()
    quarantine = pd.DataFrame(quarantine_frame_rows(rejected), columns=QUARANTINE_COLUMNS)
    if rejected or wh.exists("cash_quarantine", ep.entity, ep.period.key):
        wh.write("cash_quarantine", ep.entity, ep.period.key, warehouse.seal(quarantine, "cash_quarantine"))
    frame, stats = cash_reconcile.match_period(
        lines, invoices, payments, entity=ep.entity, period=ep.period.key, log_=MatchingLog(opstore.get()),
        policy=policy, bank_currency=cfg.entity(ep.entity).bank_currency,
        actor=f"dagster run {context.run.run_id}", run_id=context.run.run_id,
        trace_id=trace_id_of(context.run.tags, context.run.run_id))
    wh.write("cash_matches", ep.entity, ep.period.key, frame, CashMatch)
    # what was due before this run, for the blocking check
    due = invoices[["invoice_id", "amount_due_minor"]]
    wh.write("cash_open_invoices", ep.entity, ep.period.key, due)
    exceptions = frame[frame["outcome"].isin(["exception", "proposed"])].drop_duplicates("line_id")
    return MaterializeResult(metadata={
        "dagster/row_count": len(frame),
        "trace_id": trace_id_of(context.run.tags, context.run.run_id),
        "outcomes": counts(frame.drop_duplicates("line_id"), "outcome") if len(frame) else {},
        "rules": counts(frame.drop_duplicates("line_id"), "rule") if len(frame) else {},
        "auto_settled_per_currency_minor": settled_totals(frame),
        "timings_s": {k: round(v, 2) for k, v in stats.items() if k.endswith("_s")},
        "already_final_lines": stats.get("already_final", 0),
        "quarantined_xero_documents": len(rejected),
        "exceptions": preview(exceptions[["line_id", "outcome", "line_amount_minor", "line_currency", "reason"]]),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="cash",
    deps=[cash_matches],
    kinds={"xero"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Automatic matches, and those accepted in the workbench, applied in the accounting system: "
                "payments (reconciled), differences within tolerance written off.",
)
def cash_settlement(context: AssetExecutionContext, mapping: MappingResource, reconciliation: ReconciliationResource,
                    xero: XeroResource, opstore: OperationalStoreResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    target = xero.target(entity)
    log_ = MatchingLog(opstore.get())
    try:
        result = cash_reconcile.settle(target, log_, entity=ep.entity, policy=reconciliation.load().policy(ep.entity),
                                       actor=f"dagster run {context.run.run_id}")
    finally:
        target.close()
    if result["failed"]:
        context.log.error(f"{result['failed']} decision(s) could not be settled; see the matching log (status failed)")
    return MaterializeResult(metadata={**result, "matching_log_status": log_.counts(ep.entity)})
