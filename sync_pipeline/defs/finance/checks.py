"""Finance checks: allocations sum exactly to the pool; every cost line classified exactly once;
eliminations net to zero across entities; consolidated totals equal the translated entity totals."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from sync_pipeline.defs.finance.assets import (
    GROUP_KEY,
    consolidated_results,
    consolidation_eliminations,
    cost_allocations,
    finance_cost_lines,
)
from sync_pipeline.defs.partitions import closed_period_partitions, entity_closed_period_partitions, entity_period
from sync_pipeline.defs.resources import WarehouseResource
from sync_pipeline.domain.finance import (
    check_allocation,
    check_classification,
    check_consolidation,
    check_eliminations,
)
from sync_pipeline.domain.periods import Period


def _problems(problems: list[str]) -> MetadataValue:
    return MetadataValue.md("\n".join(f"- {x}" for x in problems[:50]) or "none")


@asset_check(asset=cost_allocations, partitions_def=entity_closed_period_partitions, blocking=True,
             description="Every shared line is allocated to the minor unit or listed as unallocated with a reason: "
                         "per line and per pool and currency, allocated + unallocated = pool.")
def allocations_sum_to_pool(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    out = check_allocation(wh.read("finance_cost_lines", e, p), wh.read("cost_allocations", e, p),
                           wh.read("cost_unallocated", e, p))
    return AssetCheckResult(passed=out.passed, severity=AssetCheckSeverity.ERROR, metadata={
        "pools": MetadataValue.json(out.figures["pools"]), "shared_lines": out.figures["lines"],
        "unallocated_lines": out.figures["unallocated_lines"], "problems": _problems(out.problems)})


@asset_check(asset=finance_cost_lines, partitions_def=entity_closed_period_partitions, blocking=True,
             description="Every extracted cost line ends in exactly one disposition and the money per currency is "
                         "conserved: extracted = shared + direct + capex + unpooled + quarantined.")
def cost_lines_conserved(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    ep = entity_period(context)  # type: ignore[arg-type]
    wh = warehouse.get()
    e, p = ep.entity, ep.period.key
    out = check_classification(wh.read("shared_cost_lines", e, p), wh.read("finance_cost_lines", e, p))
    return AssetCheckResult(passed=out.passed, severity=AssetCheckSeverity.ERROR, metadata={
        "per_currency": MetadataValue.json(out.figures), "problems": _problems(out.problems)})


@asset_check(asset=consolidation_eliminations, partitions_def=closed_period_partitions, blocking=True,
             description="Eliminations net to zero across entities, per intercompany pair and kind and in total.")
def eliminations_net_to_zero(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    period = Period.parse(context.partition_key)
    out = check_eliminations(warehouse.get().read("consolidation_eliminations", GROUP_KEY, period.key))
    return AssetCheckResult(passed=out.passed, severity=AssetCheckSeverity.ERROR, metadata={
        "per_pair": MetadataValue.json(out.figures["per_pair"]),
        "ic_differences": MetadataValue.json(out.figures["ic_differences"]),
        "problems": _problems(out.problems)})


@asset_check(asset=consolidated_results, partitions_def=closed_period_partitions, blocking=True,
             description="Consolidated totals equal the sum of the translated entity totals plus the eliminations, "
                         "per statement and account; no intercompany balance between group entities remains.")
def consolidated_equals_translated_entities(context: AssetCheckExecutionContext,
                                            warehouse: WarehouseResource) -> AssetCheckResult:
    period = Period.parse(context.partition_key)
    wh = warehouse.get()
    out = check_consolidation(wh.read("consolidation_translated", GROUP_KEY, period.key),
                              wh.read("consolidation_eliminations", GROUP_KEY, period.key),
                              wh.read("consolidated_results", GROUP_KEY, period.key))
    return AssetCheckResult(passed=out.passed, severity=AssetCheckSeverity.ERROR, metadata={
        "group_totals": MetadataValue.json(out.figures["group_totals"]), "problems": _problems(out.problems)})
