"""Cleaned entities, mapped billables and invoice drafts (DuckDB SQL models)."""


from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from sync_pipeline.contracts.warehouse import (
    CleanExpense,
    ExpenseBillable,
    FxRateRow,
    InvoiceDraftLine,
    MergeProposalRow,
)
from sync_pipeline.defs.executors import AFTER_THE_DRAFT, PRIORITY_TAG
from sync_pipeline.defs.extract.assets import raw_expenses, raw_time_entries
from sync_pipeline.defs.metadata import counts, money_total, money_total_exact, names_of, preview, table
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import FxResource, MappingResource, OperationalStoreResource, WarehouseResource
from sync_pipeline.domain.display import decimal_money_text, named, rate_text
from sync_pipeline.domain.periods import today_in
from sync_pipeline.services import billing
from sync_pipeline.services import fx as fx_service
from sync_pipeline.store.hours_reviews import HoursReviews, as_relation


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[raw_time_entries, raw_expenses],
    kinds={"parquet"},
    description="FX rates this entity x period converts with: reference rates (ECB by default) and the clients' "
                "contract rates, each with rate date, source and retrieval time. Stored once and never rewritten: "
                "re-materializing only adds rates not stored yet, so a past period reproduces byte for byte.",
)
def fx_rates(context: AssetExecutionContext, mapping: MappingResource, warehouse: WarehouseResource,
             fx: FxResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    existing = wh.read("fx_rates", ep.entity, ep.period.key) if wh.exists("fx_rates", ep.entity, ep.period.key) else None
    currencies = billing.currencies_needed(
        wh.distinct("raw_time_entries", ep.entity, ep.period.key, ["client_currency"]), entity)
    if wh.exists("raw_expenses", ep.entity, ep.period.key):  # expenses convert too
        currencies |= billing.currencies_needed(
            wh.distinct("raw_expenses", ep.entity, ep.period.key, ["client_currency"]), entity)
    df = fx_service.period_rates(fx.get(), currencies, ep.period, existing, today=today_in(entity.timezone))
    df = fx_service.merge_keep_existing(df, billing.contract_rates_frame(entity))
    added = len(df) - (len(existing) if existing is not None else 0)
    if added or existing is None:
        wh.write("fx_rates", ep.entity, ep.period.key, df, FxRateRow)
    latest = df.sort_values("rate_date").groupby(["base_currency", "quote_currency", "kind"]).tail(1)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "rows_added": added,
        "currencies": sorted(currencies),
        "latest_rates": preview(latest),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[raw_time_entries],
    kinds={"duckdb", "parquet"},
    description="Every raw entry typed and classified: billable, non-billable, held (with reason) or "
                "quarantined (with reason). Nothing is dropped. Person-days over the daily limit are held until "
                "a recorded decision (sync-pipeline hours decide) releases or quarantines them.",
)
def clean_time_entries(context: AssetExecutionContext, mapping: MappingResource, warehouse: WarehouseResource,
                       opstore: OperationalStoreResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    decisions = HoursReviews(opstore.get()).latest(ep.entity, ep.period.start, ep.period.end)
    done = billing.clean_time_entries_partition(warehouse.get(), entity, ep.period, today_in(entity.timezone),
                                                day_decisions=as_relation(decisions))
    return MaterializeResult(metadata={
        "dagster/row_count": done["rows"],
        "dispositions": done["dispositions"],
        "person_day_decisions_applied": len(decisions),
        "quarantined": preview(done["quarantined"]),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[clean_time_entries],
    kinds={"duckdb", "parquet"},
    description="Billable entries with their rate and exact (unrounded) value.",
)
def billables(context: AssetExecutionContext, mapping: MappingResource,
              warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    done = billing.billables_partition(warehouse.get(), entity, ep.period, today_in(entity.timezone))
    return MaterializeResult(metadata={
        "dagster/row_count": done["rows"],
        "value_net_of_tax": " · ".join(decimal_money_text(v, c) for c, v in sorted(done["value_per_currency"].items()))
                            or "none",
        "preview": preview(_billables_table(done["preview"])),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[raw_expenses],
    kinds={"duckdb", "parquet"},
    description="Every raw expense typed and classified (billable, non-billable, held or quarantined, with the "
                "reason) with the markup the mapping gives it. Nothing is dropped; refunds stay negative.",
)
def clean_expenses(context: AssetExecutionContext, mapping: MappingResource,
                   warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    df = billing.clean_expenses(wh.read("raw_expenses", ep.entity, ep.period.key), entity, ep.period,
                                today_in(entity.timezone))
    wh.write("clean_expenses", ep.entity, ep.period.key, df, CleanExpense)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "dispositions": counts(df, "disposition"),
        "quarantined": preview(df[df["disposition"] == "quarantined"][["expense_id", "spent_date", "total_cost",
                                                                      "reason"]]),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[clean_expenses],
    kinds={"duckdb", "parquet"},
    description="Billable expenses with their markup applied, exact (unrounded), on their client's invoice.",
)
def expense_billables(context: AssetExecutionContext, mapping: MappingResource,
                      warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    df = billing.expense_billables(wh.read("clean_expenses", ep.entity, ep.period.key), entity, ep.period)
    wh.write("expense_billables", ep.entity, ep.period.key, df, ExpenseBillable)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "value_net_of_tax": money_total_exact(df, "value"),
        "preview": preview(table(df.assign(client=[named(n, i, "client") for n, i in
                                                   zip(df["client_name"], df["client_id"], strict=True)]),
                                 {"expense_id": "expense", "client": "client", "category": "category",
                                  "spent_date": "date", "total_cost": "cost", "markup_percent": "markup %",
                                  "value": "value (net)"}, exact=("total_cost", "value"))),
    })


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[billables, expense_billables, fx_rates],
    kinds={"duckdb", "parquet"},
    description="Invoice lines we intend the accounting system to hold: time and expense lines, Xero's arithmetic "
                "(4-dp quantity and unit amount, line amount rounded once), tax, FX with provenance, approver and "
                "rate source per line.",
)
def invoice_drafts(context: AssetExecutionContext, mapping: MappingResource,
                   warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    df = billing.invoice_drafts_partition(wh, entity, ep.period, today_in(entity.timezone))
    wh.write("invoice_drafts", ep.entity, ep.period.key, df, InvoiceDraftLine)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "invoices": int(df["invoice_key"].nunique()) if len(df) else 0,
        "net_per_currency": money_total(df, "line_amount_minor"),
        "tax_per_currency": money_total(df, "tax_amount_minor"),
        "gross_per_currency": money_total(df.assign(gross=df["line_amount_minor"] + df["tax_amount_minor"]), "gross")
                              if len(df) else "none",
        "clients": ", ".join(named(n, i, "client") for i, n in sorted(names_of(df, "client_id", "client_name").items()))
                   or "none",
        "preview": preview(table(df, {"reference": "invoice", "line_no": "line", "description": "description",
                                      "quantity": "quantity", "unit_amount": "unit price",
                                      "line_amount_minor": "net", "tax_amount_minor": "tax"},
                                 money=("line_amount_minor", "tax_amount_minor"))),
    })


def _billables_table(head):
    """The first billable entries as a person reads them: who, which client and project, hours, rate, value."""
    if head.empty:
        return head
    rows = head.assign(client=[named(n, i, "client") for n, i in zip(head["client_name"], head["client_id"], strict=True)],
                       project=[named(n, i, "project") for n, i in zip(head["project_name"], head["project_id"],
                                                                       strict=True)],
                       rate_text=[rate_text(r, c) for r, c in zip(head["rate"], head["currency"], strict=True)])
    return table(rows, {"entry_id": "entry", "spent_date": "date", "client": "client", "project": "project",
                        "hours": "hours", "rate_text": "rate", "value": "value (net)"}, exact=("value",))


class MergeProposalConfig(Config):
    threshold: float = 90.0  # RapidFuzz token_sort_ratio on standardized names, 0-100


@asset(
    partitions_def=entity_period_partitions,
    group_name="billing",
    deps=[raw_time_entries],
    kinds={"parquet"},
    # nothing bills from it: in a run's one process the chain to the draft goes first (bench latency)
    op_tags={PRIORITY_TAG: str(AFTER_THE_DRAFT)},
    description="Clients and projects whose standardized names look alike (RapidFuzz), as merge proposals with "
                "scores. Nothing is merged until a person adds the duplicate id to the survivor's aliases in the mapping.",
)
def entity_merge_proposals(context: AssetExecutionContext, config: MergeProposalConfig, mapping: MappingResource,
                           warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    names = wh.distinct("raw_time_entries", ep.entity, ep.period.key,
                        ["client_id", "client_name", "project_id", "project_name"])
    df = billing.merge_proposals(names, entity, config.threshold)
    wh.write("entity_merge_proposals", ep.entity, ep.period.key, df, MergeProposalRow)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "threshold": config.threshold,
        "proposals": preview(df[["kind", "keep_id", "keep_name", "duplicate_id", "duplicate_name", "score"]]),
    })
