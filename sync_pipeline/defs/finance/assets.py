"""Finance assets.

Per entity × period: shared costs → classified cost lines (Capex/Opex) → versioned cost allocations;
project revenue and direct costs → project profitability; entity results (functional currency).
Per period, across entities: the group's FX rates (daily, stored once) → period rates (average, closing,
opening) → translated results → intercompany eliminations → consolidated results.

Thin wiring: the arithmetic is in ``dbt_like_sql/finance_*.sql`` via ``sync_pipeline.services.finance``.
"""


from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sync_pipeline.contracts.finance import AllocationOverrides
from sync_pipeline.contracts.finance_tables import (
    CapexScheduleRow,
    ConsolidatedLine,
    CostAllocation,
    Elimination,
    EntityResult,
    FinanceCostLine,
    FxPeriodRate,
    ProjectDirectCost,
    ProjectProfitability,
    ProjectRevenue,
    SharedCostLine,
    TranslatedResult,
    UnallocatedCost,
)
from sync_pipeline.contracts.warehouse import FxRateRow
from sync_pipeline.defs.billing.assets import clean_time_entries, invoice_drafts
from sync_pipeline.defs.extract.assets import raw_time_entries
from sync_pipeline.defs.metadata import counts, money_total, preview, table
from sync_pipeline.defs.partitions import closed_period_partitions, entity_closed_period_partitions, entity_period
from sync_pipeline.defs.posting.assets import posted_invoices
from sync_pipeline.defs.resources import (
    FinanceConfigResource,
    FxResource,
    MappingResource,
    WarehouseResource,
    XeroResource,
)
from sync_pipeline.domain.display import money_text
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import finance as finance_svc
from sync_pipeline.services import fx as fx_service
from sync_pipeline.store.finance_versions import AllocationVersions

GROUP = "finance"


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    kinds={"xero", "parquet"},
    pool="xero",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="Expense and bill lines of the period (ACCPAY bills, SPEND bank transactions) and the configured "
                "shared costs, one row per line, net of tax in minor units.",
)
def shared_cost_lines(context: AssetExecutionContext, mapping: MappingResource, finance_config: FinanceConfigResource,
                      xero: XeroResource, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    cfg = finance_config.load()
    frames = []
    remote = [s for s in cfg.cost_sources if s != "configured"]
    calls = 0
    if remote:
        target = xero.target(entity)
        try:
            frames.append(finance_svc.extract_shared_costs(target, ep.period, entity=ep.entity, sources=remote,
                                                           project_category=cfg.direct_expense_tracking_category))
            calls = target.usage().requests
        finally:
            target.close()
    if "configured" in cfg.cost_sources:
        frames.append(finance_svc.configured_shared_costs(cfg, ep.entity, ep.period))
    df = finance_svc.combine_shared_costs(*frames)
    warehouse.get().write("shared_cost_lines", ep.entity, ep.period.key, df, SharedCostLine)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "sources": counts(df, "source"),
        "api_calls": calls,
        "net_per_currency": money_total(df, "amount_minor"),
        "preview": preview(table(df, {"line_id": "line", "date": "date", "contact_name": "supplier",
                                      "description": "description", "account_code": "account",
                                      "amount_minor": "amount (net)"}, money=("amount_minor",))),
    })


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[shared_cost_lines],
    kinds={"duckdb", "parquet"},
    description="Every cost line classified once: shared (into a pool), direct (a project's), capex (capitalized "
                "with its codes), unpooled (entity overhead) or quarantined (with reason). Capex and Opex split here.",
)
def finance_cost_lines(context: AssetExecutionContext, finance_config: FinanceConfigResource,
                       warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    wh = warehouse.get()
    df = finance_svc.classify_cost_lines(wh.read("shared_cost_lines", ep.entity, ep.period.key), finance_config.load(),
                                         ep.entity)
    wh.write("finance_cost_lines", ep.entity, ep.period.key, df, FinanceCostLine)
    by_disp = {str(d): money_total(g, "amount_minor") for d, g in df.groupby("disposition")} if len(df) else {}
    quarantined = df[df["disposition"] == "quarantined"] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "dispositions": counts(df, "disposition"),
        "amount_per_disposition": by_disp,
        "quarantined": preview(quarantined[["line_id", "description", "account_code", "reason"]]
                               if len(quarantined) else quarantined),
    })


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[finance_cost_lines],
    kinds={"duckdb", "parquet"},
    description="Capitalized lines of the period with capitalization code and straight-line depreciation "
                "schedule (exact to the minor unit).",
)
def capex_register(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    wh = warehouse.get()
    df = finance_svc.capex_register(wh.read("finance_cost_lines", ep.entity, ep.period.key))
    wh.write("capex_register", ep.entity, ep.period.key, df, CapexScheduleRow)
    first = df[df["month_no"] == 1] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "capitalized_lines": len(first),
        "capitalized_per_currency": money_total(first, "cost_minor"),
        "preview": preview(table(first, {"line_id": "line", "description": "description",
                                         "capitalization_code": "capitalized as", "depreciation_code": "depreciation",
                                         "cost_minor": "cost", "charge_minor": "monthly charge"},
                                 money=("cost_minor", "charge_minor"))),
    })


class FixedKeyWeightConfig(Config):
    project_id: str
    weight: str
    client_id: str | None = None


class PoolOverrideConfig(Config):
    key: str
    driver: str | None = None
    usage_metric: str | None = None
    fixed_key: list[FixedKeyWeightConfig] | None = None
    dispositions: list[str] | None = None


class UsageQuantityConfig(Config):
    project_id: str
    metric: str
    quantity: str
    client_id: str | None = None


class AllocationRunConfig(Config):
    """Re-allocation on demand: other drivers or weights for some pools, other usage quantities, and why.

    Empty = the finance configuration as it stands. Decimals are strings (e.g. "12.5") so they stay exact.
    """

    pools: list[PoolOverrideConfig] = []
    usage: list[UsageQuantityConfig] | None = None
    note: str = ""

    def overrides(self) -> AllocationOverrides:
        return AllocationOverrides.model_validate(self.model_dump())


def _who(context: AssetExecutionContext) -> str:
    tags = context.run.tags
    who = tags.get("triggered_by") or tags.get("user") or "dagster"
    return f"{who} (run {context.run.run_id[:8]})"


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[finance_cost_lines, clean_time_entries],
    kinds={"duckdb", "parquet"},
    description="Shared cost lines allocated to projects by the pools' declared drivers (hours, headcount, usage, "
                "fixed key), largest remainder in minor units. Every run is kept as a version; this is the latest.",
)
def cost_allocations(context: AssetExecutionContext, config: AllocationRunConfig, finance_config: FinanceConfigResource,
                     warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    lines = wh.read("finance_cost_lines", e, p)
    entries = wh.read_available("clean_time_entries", e, p, finance_svc.ENTRIES_SCHEMA.names)
    result = finance_svc.allocate(lines, entries, finance_config.load(), e, ep.period,
                                  config.overrides(), created_by=_who(context))
    versions = AllocationVersions(wh)
    known = versions.exists(e, p, result.version)
    finance_svc.save_allocation(versions, result)
    wh.write("cost_allocations", e, p, result.allocations, CostAllocation)
    wh.write("cost_unallocated", e, p, result.unallocated, UnallocatedCost)
    history = versions.manifests(e, p)
    return MaterializeResult(metadata={
        "dagster/row_count": len(result.allocations),
        "allocation_version": result.version,
        "version_was_already_stored": known,
        "versions_stored": len(history),
        "version_history": MetadataValue.md("\n".join(
            f"- `{m['version']}` {m['created_at']} by {m.get('created_by') or '?'}: {m.get('note') or '(no note)'}"
            for m in history)),
        "drivers": MetadataValue.json([pl.describe() for pl in result.pools]),
        "pool_totals": MetadataValue.json(result.manifest["totals"]),
        "allocated_per_currency": money_total(result.allocations, "allocated_minor"),
        "unallocated": preview(table(result.unallocated, {"line_id": "line", "pool_key": "pool",
                                                          "amount_minor": "amount", "reason": "reason"},
                                     money=("amount_minor",))),
        "preview": preview(table(result.allocations, {"line_id": "line", "pool_key": "pool", "driver": "driver",
                                                      "project_id": "project", "driver_quantity": "driver quantity",
                                                      "allocated_minor": "allocated"}, money=("allocated_minor",))),
    })


# -- the group's FX rates (per period) --------------------------------------------------------------------------

GROUP_KEY = "_group"  # warehouse "entity" of group-level partitions (no entity key can start with "_")
# Period-partitioned assets and entity × period assets depend on each other through the shared "period"
# dimension: Dagster maps them with MultiToSingleDimensionPartitionMapping (inferred), so a period's
# consolidation depends on every entity's partition of that period.


def _period(context) -> Period:
    return Period.parse(context.partition_key)


@asset(
    partitions_def=closed_period_partitions,
    group_name=GROUP,
    kinds={"parquet"},
    description="Daily reference rates (ECB by default) the group translates with for the period, with rate "
                "date, source and retrieval time; from 10 days before the period (for the opening rate) to its "
                "end. Stored once: re-materializing only adds rates not stored yet.",
)
def group_fx_rates(context: AssetExecutionContext, mapping: MappingResource, finance_config: FinanceConfigResource,
                   fx: FxResource, warehouse: WarehouseResource) -> MaterializeResult:
    period = _period(context)
    wh = warehouse.get()
    existing = wh.read("group_fx_rates", GROUP_KEY, period.key) if wh.exists("group_fx_rates", GROUP_KEY,
                                                                            period.key) else None
    currencies = finance_svc.consolidation_currencies(mapping.load(), finance_config.load())
    df = fx_service.period_rates(fx.get(), currencies, period, existing, today=datetime.now(UTC).date())
    added = len(df) - (len(existing) if existing is not None else 0)
    if added or existing is None:
        wh.write("group_fx_rates", GROUP_KEY, period.key, df, FxRateRow)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df), "rows_added": added,
        "currencies": sorted(set(df["quote_currency"])) if len(df) else [],
        "publication_days": int(df["rate_date"].nunique()) if len(df) else 0,
    })


@asset(
    partitions_def=closed_period_partitions,
    group_name=GROUP,
    deps=[group_fx_rates],
    kinds={"duckdb", "parquet"},
    description="Per currency pair: the period's average rate (mean of the daily rates), closing rate (last "
                "publication on or before the period end) and opening rate (previous closing), with provenance.",
)
def fx_period_rates(context: AssetExecutionContext, mapping: MappingResource, finance_config: FinanceConfigResource,
                    warehouse: WarehouseResource) -> MaterializeResult:
    period = _period(context)
    wh = warehouse.get()
    currencies = finance_svc.consolidation_currencies(mapping.load(), finance_config.load())
    daily = finance_svc.daily_cross_rates(wh.read("group_fx_rates", GROUP_KEY, period.key), currencies)
    df = finance_svc.fx_period_rates(daily, period)
    wh.write("fx_period_rates", GROUP_KEY, period.key, df, FxPeriodRate)
    rc = finance_config.load().reporting_currency
    to_rc = df[df["quote_currency"] == rc] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "reporting_currency": rc,
        "to_reporting_currency": preview(to_rc[["base_currency", "average_rate", "average_days", "closing_rate",
                                               "closing_rate_date", "opening_rate", "source", "retrieved_at"]]
                                         if len(to_rc) else to_rc, rows=30),
    })


# -- profitability and entity results (per entity × period) -----------------------------------------------------

def _read_or_none(wh, asset_name: str, entity: str, period: str):
    return wh.read(asset_name, entity, period) if wh.exists(asset_name, entity, period) else None


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[invoice_drafts, posted_invoices],
    kinds={"duckdb", "parquet"},
    description="Revenue per client, project and invoice currency: lines of live (AUTHORISED/PAID) invoices net "
                "of live credit notes (apportioned to the credited invoice's projects). Statuses as pulled back "
                "into accounting_invoices when it is materialized, else as posted.",
)
def project_revenue(context: AssetExecutionContext, finance_config: FinanceConfigResource,
                    warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    current = _read_or_none(wh, "accounting_invoices", e, p)
    df = finance_svc.project_revenue(wh.read("invoice_drafts", e, p), _read_or_none(wh, "posted_invoices", e, p),
                                     finance_config.load(), e, ep.period, current=current)
    wh.write("project_revenue", e, p, df, ProjectRevenue)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "invoiced_net": money_total(df, "invoiced_minor"),
        "credited_net": money_total(df, "credited_minor"),
        "revenue_net": money_total(df, "revenue_minor"),
    })


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[clean_time_entries, raw_time_entries, finance_cost_lines],
    kinds={"duckdb", "parquet"},
    description="Direct cost per project: hours x the person's cost rate (functional currency) and expenses "
                "tracked to the project. Entries without a cost rate are counted, not guessed.",
)
def project_direct_costs(context: AssetExecutionContext, mapping: MappingResource, warehouse: WarehouseResource
                         ) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    df = finance_svc.project_direct_costs(wh.read_available("clean_time_entries", e, p, finance_svc.ENTRIES_SCHEMA.names),
                                          wh.read_available("raw_time_entries", e, p, finance_svc.RAW_COST_SCHEMA.names),
                                          wh.read("finance_cost_lines", e, p), entity.base_currency, e, ep.period)
    wh.write("project_direct_costs", e, p, df, ProjectDirectCost)
    missing = int(df["entries_without_cost_rate"].sum()) if len(df) else 0
    if missing:
        context.log.warning(f"{missing} worked entr(y/ies) have no cost rate in the project system: their labour "
                            "cost is 0 until a cost rate is set")
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "cost_per_currency": money_total(df, "amount_minor"),
        "entries_without_cost_rate": missing,
    })


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[project_revenue, project_direct_costs, cost_allocations,
          fx_period_rates],
    kinds={"duckdb", "parquet"},
    description="Revenue − direct labour − direct expenses − allocated shared cost per client, project and "
                "transaction currency, and in the group reporting currency at the period's average rate.",
)
def project_profitability(context: AssetExecutionContext, finance_config: FinanceConfigResource,
                          warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    cfg = finance_config.load()
    df = finance_svc.project_profitability(
        wh.read("project_revenue", e, p), wh.read("project_direct_costs", e, p), wh.read("cost_allocations", e, p),
        wh.read("fx_period_rates", GROUP_KEY, p), cfg, e, ep.period)
    wh.write("project_profitability", e, p, df, ProjectProfitability)
    margin = int(df["margin_reporting_minor"].sum()) if len(df) else 0
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "margin_per_currency": money_total(df, "margin_minor"),
        "margin_reporting": money_text(margin, cfg.reporting_currency),
        "preview": preview(table(df, {"client_id": "client", "project_id": "project", "revenue_minor": "revenue",
                                      "direct_labour_minor": "labour", "direct_expense_minor": "expenses",
                                      "allocated_minor": "allocated", "margin_minor": "margin"},
                                 money=("revenue_minor", "direct_labour_minor", "direct_expense_minor",
                                        "allocated_minor", "margin_minor")), rows=20),
    })


@asset(
    partitions_def=entity_closed_period_partitions,
    group_name=GROUP,
    deps=[project_revenue, project_direct_costs, finance_cost_lines, capex_register, posted_invoices,
          fx_period_rates],
    kinds={"duckdb", "parquet"},
    description="The entity's results for the period in its functional currency, intercompany lines tagged: "
                "income and expenses, and the movements of fixed assets and intercompany balances.",
)
def entity_results(context: AssetExecutionContext, mapping: MappingResource, finance_config: FinanceConfigResource,
                   warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    capex = finance_svc.read_history(wh, "capex_register", [e], until=p)
    depreciation = capex[capex["charge_period"] == p] if len(capex) else capex
    df = finance_svc.entity_results(
        wh.read("project_revenue", e, p), wh.read("project_direct_costs", e, p), wh.read("finance_cost_lines", e, p),
        depreciation, _read_or_none(wh, "posted_invoices", e, p), wh.read("fx_period_rates", GROUP_KEY, p),
        finance_config.load(), e, entity.base_currency, ep.period,
        current=_read_or_none(wh, "accounting_invoices", e, p))
    wh.write("entity_results", e, p, df, EntityResult)
    pnl = df[df["statement"] == "pnl"] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "functional_currency": entity.base_currency,
        "result_functional": money_text(int(pnl["functional_minor"].sum()) if len(pnl) else 0, entity.base_currency),
        "intercompany_lines": int(df["counterparty"].notna().sum()) if len(df) else 0,
        "preview": preview(table(df.assign(functional=[money_text(int(v), entity.base_currency)
                                                       for v in df["functional_minor"]]), {
            "statement": "statement", "account": "account", "counterparty": "counterparty",
            "transaction_minor": "transaction amount", "functional": f"in {entity.base_currency}"},
            money=("transaction_minor",), currency_col="transaction_currency") if len(df) else df, rows=20),
    })


# -- consolidation (per period, across entities) -----------------------------------------------------------------

def _group_entities(mapping: MappingResource) -> list[str]:
    return [e.key for e in mapping.load().entities]


@asset(
    partitions_def=closed_period_partitions,
    group_name=GROUP,
    deps=[entity_results, fx_period_rates],
    kinds={"duckdb", "parquet"},
    description="Every entity's results translated into the group reporting currency: income and expenses at "
                "the average rate, balances at closing, the translation difference shown; rates' metadata kept.",
)
def consolidation_translated(context: AssetExecutionContext, mapping: MappingResource,
                             finance_config: FinanceConfigResource, warehouse: WarehouseResource) -> MaterializeResult:
    period = _period(context)
    wh = warehouse.get()
    entities = _group_entities(mapping)
    missing = [e for e in entities if not wh.exists("entity_results", e, period.key)]
    if missing:
        raise finance_svc.FinanceConfigError(
            f"consolidation of {period.key} needs entity_results of every entity of the group; missing: "
            f"{', '.join(missing)} — materialize entity_results for {', '.join(f'{m}|{period.partition_key}' for m in missing)}")
    history = finance_svc.read_history(wh, "entity_results", entities, until=period.key)
    cfg = finance_config.load()
    df = finance_svc.translate(history, wh.read("fx_period_rates", GROUP_KEY, period.key), cfg, period)
    wh.write("consolidation_translated", GROUP_KEY, period.key, df, TranslatedResult)
    cta = df[df["account"] == "translation_difference"] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "entities": len(entities),
        "method": cfg.translation.model_dump(),
        "translation_difference_per_entity": {r.entity: int(r.amount_reporting_minor) for r in cta.itertuples()},
    })


@asset(
    partitions_def=closed_period_partitions,
    group_name=GROUP,
    deps=[consolidation_translated],
    kinds={"duckdb", "parquet"},
    description="Elimination entries for intercompany lines between the group's entities; what the two sides of "
                "a pair do not cancel is shown as one ic_difference entry, so every pair nets to zero.",
)
def consolidation_eliminations(context: AssetExecutionContext, mapping: MappingResource,
                               finance_config: FinanceConfigResource, warehouse: WarehouseResource
                               ) -> MaterializeResult:
    period = _period(context)
    wh = warehouse.get()
    df = finance_svc.eliminate(wh.read("consolidation_translated", GROUP_KEY, period.key), _group_entities(mapping),
                               finance_config.load(), period)
    wh.write("consolidation_eliminations", GROUP_KEY, period.key, df, Elimination)
    diffs = df[df["account"] == "ic_difference"] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "pairs": int(df["pair"].nunique()) if len(df) else 0,
        "ic_differences": {f"{r.pair} {r.kind}": int(r.amount_reporting_minor) for r in diffs.itertuples()},
        "preview": preview(df[["pair", "kind", "entity", "account", "amount_reporting_minor"]] if len(df) else df,
                           rows=20),
    })


@asset(
    partitions_def=closed_period_partitions,
    group_name=GROUP,
    deps=[consolidation_translated, consolidation_eliminations],
    kinds={"duckdb", "parquet"},
    description="Group totals in the reporting currency per statement and account: translated entities + "
                "eliminations = consolidated. Intercompany accounts net to zero.",
)
def consolidated_results(context: AssetExecutionContext, finance_config: FinanceConfigResource,
                         warehouse: WarehouseResource) -> MaterializeResult:
    period = _period(context)
    wh = warehouse.get()
    cfg = finance_config.load()
    df = finance_svc.consolidated_totals(wh.read("consolidation_translated", GROUP_KEY, period.key),
                                         wh.read("consolidation_eliminations", GROUP_KEY, period.key), cfg, period)
    wh.write("consolidated_results", GROUP_KEY, period.key, df, ConsolidatedLine)
    totals = {s: int(df[df["statement"] == s]["consolidated_minor"].sum()) for s in ("pnl", "balance", "oci")} \
        if len(df) else {}
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "reporting_currency": cfg.reporting_currency,
        "group_result": money_text(totals.get("pnl", 0), cfg.reporting_currency),
        "translation_difference": money_text(totals.get("oci", 0), cfg.reporting_currency),
        "preview": preview(table(df.assign(currency=cfg.reporting_currency), {
            "statement": "statement", "account": "account", "entities_reporting_minor": "entities",
            "eliminations_minor": "eliminations", "consolidated_minor": "consolidated"},
            money=("entities_reporting_minor", "eliminations_minor", "consolidated_minor")), rows=30),
    })
