"""Checks on posting: the plan's guard (blocking), and what the accounting system holds afterwards."""


import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from sync_pipeline.defs.metadata import plan_totals_text, preview, table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.posting.assets import invoice_plan, posted_invoices, posted_lines
from sync_pipeline.defs.resources import OperationalStoreResource, WarehouseResource
from sync_pipeline.domain.invoice_plan import Limits, breaches_of, totals_of
from sync_pipeline.services.posting_links import billed_entries
from sync_pipeline.store.controls import PostingControls


@asset_check(asset=invoice_plan, partitions_def=entity_period_partitions, blocking=True,
             description="The plan stays within the entity's posting limits (max documents, max amount per "
                         "currency; `sync-pipeline posting limits`). When it does not, nothing is posted in this "
                         "run: review the plan, then raise the limits or have an approver approve the plan "
                         "(`sync-pipeline posting approve`), which overrides them.")
def plan_within_limits(context: AssetCheckExecutionContext, warehouse: WarehouseResource,
                       opstore: OperationalStoreResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    df = warehouse.get().read("invoice_plan", ep.entity, ep.period.key)
    ctl = PostingControls(opstore.get()).get(ep.entity)
    rows = [(str(r.currency), str(r.op), int(r.amount_minor), int(r.delta_minor))
            for r in df[df["op"].notna()].itertuples()]
    problems = breaches_of(rows, Limits(ctl.max_invoices, dict(ctl.max_total_minor)))
    return AssetCheckResult(
        passed=not problems, severity=AssetCheckSeverity.ERROR,
        metadata={"limits": {"max_invoices": ctl.max_invoices, "max_total_minor": ctl.max_total_minor},
                  "plan_totals_net_of_tax": plan_totals_text(totals_of(rows)),
                  "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")})


@asset_check(asset=posted_invoices, partitions_def=entity_period_partitions,
             description="Per invoice group, what the accounting system holds (live invoices minus credit notes) "
                         "equals what billing drafted, to the cent.")
def posted_subtotals_match_drafts(context: AssetCheckExecutionContext,
                                  warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    posted = wh.read("posted_invoices", ep.entity, ep.period.key)
    drafted = drafts.groupby("invoice_key")["line_amount_minor"].sum().to_dict() if len(drafts) else {}
    held: dict[str, int] = {}
    live = posted[~posted["status"].isin(["VOIDED", "DELETED"]) & posted["subtotal_minor"].notna()]
    for r in live.itertuples():
        sign = -1 if r.document_kind == "credit_note" else 1
        held[r.group_key] = held.get(r.group_key, 0) + sign * int(r.subtotal_minor)
    ccy = {**dict(zip(posted["group_key"], posted["currency"], strict=True)),
           **(dict(zip(drafts["invoice_key"], drafts["currency"], strict=True)) if len(drafts) else {})}
    bad = [{"group_key": k, "currency": ccy.get(k), "drafted_minor": drafted.get(k, 0), "held_minor": held.get(k, 0)}
           for k in sorted(set(drafted) | set(held)) if drafted.get(k, 0) != held.get(k, 0)]
    not_posted = posted[posted["outcome"].isin(["failed", "held", "pending"])]
    return AssetCheckResult(passed=not bad, metadata={
        "mismatches": len(bad),
        "failure_cases": preview(table(pd.DataFrame(bad, columns=["group_key", "currency", "drafted_minor", "held_minor"]),
                                       {"group_key": "invoice group", "drafted_minor": "drafted (net)",
                                        "held_minor": "accounting holds (net)"}, money=("drafted_minor", "held_minor"))),
        "not_posted": preview(not_posted[["reference", "outcome", "error"]])})


@asset_check(asset=posted_lines, partitions_def=entity_period_partitions,
             description="Every billable entry is billed exactly once on live documents (net of credit notes), and "
                         "no other entry is billed at all.")
def every_entry_billed_once(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    drafts = wh.read("invoice_drafts", ep.entity, ep.period.key)
    links = wh.read("posted_lines", ep.entity, ep.period.key)
    wanted = {e for s in drafts["source_entry_ids"] for e in str(s).split(",") if e} if len(drafts) else set()
    net = billed_entries(links)
    bad = [{"entry_id": e, "times_billed": net.get(e, 0), "billable": e in wanted}
           for e in sorted(wanted | set(net)) if net.get(e, 0) != (1 if e in wanted else 0)]
    return AssetCheckResult(passed=not bad, metadata={"entries": len(wanted), "problems": len(bad),
                                                      "failure_cases": preview(pd.DataFrame(bad))})
