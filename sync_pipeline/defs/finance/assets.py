"""Finance assets: shared costs → classified cost lines (Capex/Opex) → versioned cost allocations.

Thin wiring: the arithmetic is in ``dbt_like_sql/finance_*.sql`` via ``sync_pipeline.services.finance``.
"""


from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from sync_pipeline.contracts.finance import AllocationOverrides
from sync_pipeline.contracts.finance_tables import (
    CapexScheduleRow,
    CostAllocation,
    FinanceCostLine,
    SharedCostLine,
    UnallocatedCost,
)
from sync_pipeline.defs.billing.assets import clean_time_entries
from sync_pipeline.defs.metadata import counts, preview, totals_minor
from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import FinanceConfigResource, MappingResource, WarehouseResource, XeroResource
from sync_pipeline.services import finance as finance_svc
from sync_pipeline.store.finance_versions import AllocationVersions

GROUP = "finance"


@asset(
    partitions_def=entity_period_partitions,
    group_name=GROUP,
    kinds={"xero", "parquet"},
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
        client = xero.client(entity.xero_tenant_id)
        try:
            frames.append(finance_svc.extract_shared_costs(client, ep.period, entity=ep.entity, sources=remote,
                                                           project_category=cfg.direct_expense_tracking_category))
            calls = client.http.request_count
        finally:
            client.close()
    if "configured" in cfg.cost_sources:
        frames.append(finance_svc.configured_shared_costs(cfg, ep.entity, ep.period))
    df = finance_svc.combine_shared_costs(*frames)
    warehouse.get().write("shared_cost_lines", ep.entity, ep.period.key, df, SharedCostLine)
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "sources": counts(df, "source"),
        "api_calls": calls,
        "net_per_currency": totals_minor(df, "amount_minor"),
        "preview": preview(df[["line_id", "date", "contact_name", "description", "account_code", "currency",
                               "amount_minor"]]),
    })


@asset(
    partitions_def=entity_period_partitions,
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
    by_disp = {d: totals_minor(g, "amount_minor") for d, g in df.groupby("disposition")} if len(df) else {}
    quarantined = df[df["disposition"] == "quarantined"] if len(df) else df
    return MaterializeResult(metadata={
        "dagster/row_count": len(df),
        "dispositions": counts(df, "disposition"),
        "amount_per_disposition": by_disp,
        "quarantined": preview(quarantined[["line_id", "description", "account_code", "reason"]]
                               if len(quarantined) else quarantined),
    })


@asset(
    partitions_def=entity_period_partitions,
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
        "capitalized_per_currency": totals_minor(first, "cost_minor"),
        "preview": preview(first[["line_id", "description", "capitalization_code", "depreciation_code",
                                  "cost_minor", "charge_minor"]] if len(first) else first),
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


@asset(
    partitions_def=entity_period_partitions,
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
    result = finance_svc.allocate(lines, wh.read("clean_time_entries", e, p), finance_config.load(), e, ep.period,
                                  config.overrides(), created_by=f"dagster run {context.run.run_id}")
    versions = AllocationVersions(wh.root)
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
        "allocated_per_currency": totals_minor(result.allocations, "allocated_minor"),
        "unallocated": preview(result.unallocated[["line_id", "pool_key", "amount_minor", "currency", "reason"]]
                               if len(result.unallocated) else result.unallocated),
        "preview": preview(result.allocations[["line_id", "pool_key", "driver", "project_id", "driver_quantity",
                                               "allocated_minor", "currency"]] if len(result.allocations)
                           else result.allocations),
    })
