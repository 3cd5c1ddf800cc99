"""Posting: the plan (a dry run to review), its application exactly once, and the entry ↔ document links."""


from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    multi_asset,
)

from sync_pipeline.contracts.posting import InvoicePlanRow, PostedEntryLink
from sync_pipeline.contracts.warehouse import PostedInvoice
from sync_pipeline.defs.billing.assets import invoice_drafts
from sync_pipeline.defs.metadata import counts, money_total, names_of, plan_totals_text, preview, table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import (
    HarvestResource,
    MappingResource,
    OperationalStoreResource,
    RedmineResource,
    WarehouseResource,
    XeroResource,
)
from sync_pipeline.defs.sources import project_source
from sync_pipeline.domain.access import SIGNED_LAUNCH_ONLY, AccessDenied, Actor, check_launch
from sync_pipeline.domain.display import named
from sync_pipeline.domain.tracing import trace_id_of
from sync_pipeline.services.approvals import AwaitingApproval
from sync_pipeline.services.posting import (
    PostingIncomplete,
    PostingRun,
    apply_plan,
    build_plan,
    plan_drift,
    plan_frame,
)
from sync_pipeline.services.posting_links import entry_links_frame, mark_source_entries
from sync_pipeline.services.pullback import pull_accounting
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.mapping_versions import mapping_hash
from sync_pipeline.store.operational import OperationalStore


def run_identity(context: AssetExecutionContext | OpExecutionContext, store: OperationalStore,
                 action: str = "dagster.post") -> PostingRun:
    """Who the run acts for — the user of its ticket (launched by the CLI), else its schedule or sensor, else
    ``dagster-ui`` (see ``Identities.run_actor``) — checked against the access table for ``action``.

    A ``triggered_by`` tag alone proves nothing (anyone can type it in the Launchpad) and is ignored. Who
    approved is never configured: it comes from the plan's approval (``services.approvals``).
    """
    tags = dict(context.run.tags) if context.run else {}
    actor = Identities(store).run_actor(tags)
    run_id = context.run.run_id if context.run else None
    try:
        require_action(actor, action)
    except AccessDenied as e:
        if action in SIGNED_LAUNCH_ONLY:  # a refused destructive write is a decision: in the audit trail
            store.audit(actor.name, "dagster_run_refused", subject=run_id,
                        detail={"action": action, "job": context.run.job_name if context.run else None,
                                "reason": str(e)})
            raise Failure(description=f"{e}; nothing was changed", allow_retries=False) from None
        raise Failure(description=f"{e}; nothing was posted") from None
    return PostingRun(triggered_by=actor.name, run_id=run_id)


def require_action(actor: Actor, action: str) -> Actor:
    """The access table's rule for a Dagster-launched write (``dagster.*``); the destructive ones also need a
    signed-in person or a named schedule or sensor (``domain.access.check_launch``)."""
    return check_launch(actor, action)


def awaiting_failure(e: AwaitingApproval, run: PostingRun) -> Failure:
    """Stop the run, post nothing, and say why in words and in metadata a finance user reads in the UI."""
    p = e.plan
    meta: dict = {"awaiting_approval": True, "triggered_by": run.triggered_by}
    if p is not None:
        meta.update({"plan_hash": p.plan_hash, "plan_status": p.status, "documents_to_write": p.documents,
                     "totals_net_of_tax": plan_totals_text(p.totals),
                     "approve_with": MetadataValue.md(
                         f"`sync-pipeline posting approve --entity {p.entity} --period {p.period} "
                         f"--plan-hash {p.plan_hash[:16]} --comment ...` (an approver other than "
                         f"{p.created_by})")})
    return Failure(description=str(e), metadata=meta, allow_retries=False)


@asset(
    partitions_def=entity_period_partitions,
    group_name="posting",
    deps=[invoice_drafts],
    kinds={"xero", "parquet"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Dry run: what the accounting system should hold vs what it holds, as the writes posting would "
                "make (create, update draft, void, credit, adjust), with counts and totals per currency. Nothing "
                "is written to the accounting system here.",
)
def invoice_plan(context: AssetExecutionContext, mapping: MappingResource, xero: XeroResource,
                 opstore: OperationalStoreResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    target = xero.target(entity)
    try:
        plan = build_plan(drafts, entity=entity, period=ep.period, target=target, store=opstore.get())
    finally:
        target.close()
    df = plan_frame(plan)
    wh.write("invoice_plan", ep.entity, ep.period.key, df, InvoicePlanRow)
    ctl = plan.controls
    meta = {
        "dagster/row_count": len(df),
        "actions": plan.counts(),
        "documents_to_write": plan.documents_written,
        "totals_net_of_tax": plan_totals_text(plan.totals()),
        "held_back": int(df["held"].notna().sum()) if len(df) else 0,
        "posting_enabled": ctl.posting_enabled,
        "mapping_hash": mapping_hash(entity),
        "limits": {"max_invoices": ctl.max_invoices, "max_total_minor": ctl.max_total_minor},
        "anomalies": MetadataValue.md("\n".join(f"- {a}" for a in plan.state.anomalies) or "none"),
        "writes": preview(table(df[df["op"].notna()], {
            "action": "action", "op": "write", "reference": "document", "client_name": "client",
            "status_after": "status after", "amount_minor": "amount (net)", "delta_minor": "change (net)",
            "held": "held", "explanation": "why"}, money=("amount_minor", "delta_minor")), rows=30),
    }
    if plan.state.duplicates:
        raise Failure(description="the accounting system holds duplicates of our documents: "
                                  + ", ".join(f"{d['reference']} ({d['number']})" for d in plan.state.duplicates)
                                  + "; void the extra ones by hand, then re-run", metadata=meta)
    return MaterializeResult(metadata=meta)


@asset(
    partitions_def=entity_period_partitions,
    group_name="posting",
    deps=[invoice_plan],
    kinds={"xero", "parquet"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="The invoice plan applied to the accounting system, exactly once: one row per document of the "
                "partition (invoice revisions and credit notes) with what this run did to it.",
)
def posted_invoices(context: AssetExecutionContext, mapping: MappingResource,
                    xero: XeroResource, opstore: OperationalStoreResource,
                    warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    store = opstore.get()
    run = run_identity(context, store)
    target = xero.target(entity)
    try:
        plan = build_plan(drafts, entity=entity, period=ep.period, target=target, store=store)
        drift = plan_drift(plan, wh.read("invoice_plan", ep.entity, ep.period.key)
                           if wh.exists("invoice_plan", ep.entity, ep.period.key) else None)
        try:
            result = apply_plan(plan, target=target, store=store, run=run)
        except AwaitingApproval as e:
            raise awaiting_failure(e, run) from None
    finally:
        target.close()
    df = result.frame
    trace_id = trace_id_of(context.run.tags, context.run.run_id)
    store.set_trace_id(context.run.run_id, trace_id)  # the ledger rows this run wrote carry the run's trace
    wh.write("posted_invoices", ep.entity, ep.period.key, df, PostedInvoice)
    if drift:
        context.log.warning(f"the state changed since invoice_plan was materialized: {drift}")
    if len(result.failed):
        context.log.error(f"{len(result.failed)} document(s) refused and parked as dead letters: "
                          f"{result.failed[['reference', 'dead_letter_id', 'error']].to_dict('records')}; "
                          "see `sync-pipeline dlq list`")
    invoices, credits = df[df["document_kind"] == "invoice"], df[df["document_kind"] == "credit_note"]
    clients = names_of(drafts, "client_id", "client_name")
    meta = {
        "dagster/row_count": len(df),
        "outcomes": counts(df, "outcome"),
        "invoiced_net": money_total(invoices, "subtotal_minor"),
        "invoiced_tax": money_total(invoices, "total_tax_minor"),
        "invoiced_gross": money_total(invoices, "total_minor"),
        "credited_net": money_total(credits, "subtotal_minor"),
        "credited_gross": money_total(credits, "total_minor"),
        "api_calls": result.api_calls,
        "triggered_by": run.triggered_by,
        "trace_id": trace_id,
        "approved_by": result.run.approved_by or "" if result.run else "",
        "approved_at": result.run.approved_at or "" if result.run else "",
        "plan_hash": result.run.plan_hash or "" if result.run else "",
        "mapping_hash": result.run.mapping_hash or "" if result.run else "",
        "plan_drift": drift or "none",
        "posting_enabled": plan.controls.posting_enabled,
        "preview": preview(table(df.assign(client=[named(clients.get(str(c)), c, "client") for c in df["client_id"]]), {
            "reference": "document", "document_kind": "kind", "client": "client", "outcome": "outcome",
            "invoice_number": "number", "status": "status", "subtotal_minor": "net", "total_tax_minor": "tax",
            "total_minor": "gross", "error": "error"}, money=("subtotal_minor", "total_tax_minor", "total_minor")),
            rows=20),
    }
    if len(result.pending):
        raise PostingIncomplete(
            f"{len(result.pending)} write(s) could not be confirmed because the accounting system kept failing "
            f"({result.pending['error'].iloc[0]}); nothing is lost or doubled: they are recorded as pending and the "
            "next run finds or repeats them under the same keys")
    return MaterializeResult(metadata=meta)


@asset(
    partitions_def=entity_period_partitions,
    group_name="posting",
    deps=[posted_invoices],
    kinds={"parquet"},
    description="Every source entry and the document lines that bill or credit it (entry → invoice/line and back), "
                "with who approved and who triggered the posting.",
)
def posted_lines(context: AssetExecutionContext, opstore: OperationalStoreResource,
                 warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    df = entry_links_frame(opstore.get(), ep.entity, ep.period.key)
    warehouse.get().write("posted_lines", ep.entity, ep.period.key, df, PostedEntryLink)
    live = df[df["live"]]
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "entries_billed": int(live[live["role"] == "billed"]["entry_id"].nunique()) if len(df) else 0,
        "roles": counts(live, "role"),
        "preview": preview(table(df, {"entry_id": "entry", "role": "role", "reference": "document",
                                      "document_number": "number", "line_no": "line", "line_amount_minor": "line (net)",
                                      "approved_by": "approved by"}, money=("line_amount_minor",)), rows=20),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="posting",
    deps=[posted_lines],
    kinds={"harvest"},
    pool="harvest",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="The project system told which entries are invoiced (is_billed and external_reference naming the "
                "document), so nothing is billed twice from either side; entries whose billing was credited away "
                "are unmarked. Resumable: only links not yet sent are sent.",
)
def source_entries_marked(context: AssetExecutionContext, mapping: MappingResource, harvest: HarvestResource,
                          redmine: RedmineResource, opstore: OperationalStoreResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    source = project_source(entity, harvest, redmine)
    if not source.supports("invoice_marks"):
        context.log.info(f"entity {ep.entity}: source {source.system} has no invoice marks to write; the posted "
                         "lines in our ledger are what keeps its entries from being billed twice")
        return MaterializeResult(metadata={"source": source.system, "marked": 0, "skipped": "source has no invoice marks"})
    try:
        figures = mark_source_entries(source.entry_writer(), opstore.get(), ep.entity, ep.period.key,
                                      service=entity.target)
    finally:
        source.close()
    return MaterializeResult(metadata={**figures, "api_requests": source.figures()["api_requests"]})


@multi_asset(
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    specs=[
        AssetSpec("accounting_invoices", group_name="accounting", kinds={"xero", "parquet"}, deps=[posted_invoices],
                  description="Our invoices and credit notes as the accounting system holds them now: status, "
                              "totals, paid, credited, due (pulled back incrementally with If-Modified-Since)."),
        AssetSpec("raw_payments", group_name="accounting", kinds={"xero", "parquet"}, deps=[posted_invoices],
                  description="Every settlement of our documents: payments (partial, reversed), credit notes "
                              "applied, retainer (prepayment) drawdowns, overpayments, refunds."),
        AssetSpec("raw_credit_notes", group_name="accounting", kinds={"xero", "parquet"}, deps=[posted_invoices],
                  description="Our credit notes, and any other credit note applied to our invoices."),
    ],
    partitions_def=entity_period_partitions,
)
def accounting_pullback(context: AssetExecutionContext, mapping: MappingResource, xero: XeroResource,
                        opstore: OperationalStoreResource, warehouse: WarehouseResource):
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    target = xero.target(entity)
    try:
        res = pull_accounting(target, opstore.get(), warehouse.get(), ep.entity, ep.period.key)
    finally:
        target.close()
    docs, pays, cns = res.frames["accounting_invoices"], res.frames["raw_payments"], res.frames["raw_credit_notes"]
    wh = warehouse.get()
    if res.quarantined or wh.exists("accounting_quarantine", ep.entity, ep.period.key):
        # replaced on every pull; the values quoted as read encrypted (they may be a person's name)
        wh.write("accounting_quarantine", ep.entity, ep.period.key, warehouse.seal(res.quarantine, "accounting_quarantine"))
    if res.quarantined:
        context.log.warning(f"{res.quarantined} {target.name} document(s) did not read strictly and were left out: see "
                            f"accounting_quarantine {ep.entity} {ep.period.key} (record, field, value, problem)")
    quarantined = {"quarantined_xero_documents": res.quarantined,
                   **({"xero_quarantine": preview(res.quarantine[["source", "record", "field", "problem"]])}
                      if res.quarantined else {})}
    live_pays = pays[pays["status"] != "DELETED"]
    yield MaterializeResult(asset_key="accounting_invoices", metadata={
        "dagster/row_count": len(docs), "changed_since_last_pull": res.changed, "api_calls": res.api_calls,
        **quarantined,
        "status": counts(docs, "status"),
        "due_gross": money_total(docs[docs["document_kind"] == "invoice"], "amount_due_minor"),
        "preview": preview(table(docs, {"reference": "document", "number": "number", "status": "status",
                                        "total_minor": "gross", "amount_paid_minor": "paid",
                                        "amount_credited_minor": "credited", "amount_due_minor": "due"},
                                 money=("total_minor", "amount_paid_minor", "amount_credited_minor",
                                        "amount_due_minor")), rows=20)})
    yield MaterializeResult(asset_key="raw_payments", metadata={
        "dagster/row_count": len(pays), "kinds": counts(live_pays, "kind"),
        "partial": int(live_pays["partial"].sum()) if len(live_pays) else 0,
        "settled_gross": money_total(live_pays, "amount_minor"),
        "preview": preview(table(pays, {"reference": "document", "kind": "kind", "date": "date",
                                        "amount_minor": "amount", "status": "status", "partial": "partial"},
                                 money=("amount_minor",)))})
    yield MaterializeResult(asset_key="raw_credit_notes", metadata={
        "dagster/row_count": len(cns), "ours": int(cns["ours"].sum()) if len(cns) else 0,
        "credited_net": money_total(cns, "subtotal_minor"),
        "credited_gross": money_total(cns, "total_minor"),
        "preview": preview(table(cns, {"reference": "document", "number": "number", "status": "status",
                                       "subtotal_minor": "net", "total_minor": "gross",
                                       "remaining_credit_minor": "credit remaining"},
                                 money=("subtotal_minor", "total_minor", "remaining_credit_minor")))})
