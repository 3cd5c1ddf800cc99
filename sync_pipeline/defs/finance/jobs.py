"""Finance jobs: the group's rates per period, the monthly finance run per entity × period, the accountants'
re-allocation, and the consolidation per period.

Order for a period: ``finance_fx_job`` (period) → ``finance_job`` (each entity × period, after the sync job)
→ ``consolidation_job`` (period). ``sync-pipeline finance run --period P`` does all three.
"""


from dagster import AssetSelection, define_asset_job

from sync_pipeline.defs.finance.assets import (
    capex_register,
    consolidated_results,
    consolidation_eliminations,
    consolidation_translated,
    cost_allocations,
    entity_results,
    finance_cost_lines,
    fx_period_rates,
    group_fx_rates,
    project_direct_costs,
    project_profitability,
    project_revenue,
    shared_cost_lines,
)

finance_fx_job = define_asset_job(
    "finance_fx_job",
    selection=AssetSelection.assets(group_fx_rates, fx_period_rates),
    description="The group's daily reference rates for a period and the average/closing/opening rates derived "
                "from them.",
)

finance_job = define_asset_job(
    "finance_job",
    selection=AssetSelection.assets(shared_cost_lines, finance_cost_lines, capex_register, cost_allocations,
                                    project_revenue, project_direct_costs, project_profitability, entity_results),
    description="Shared costs → Capex/Opex classification → cost allocation → project profitability and entity "
                "results for one entity × period (after the sync job and finance_fx_job).",
)

reallocation_job = define_asset_job(
    "reallocation_job",
    selection=AssetSelection.assets(cost_allocations, project_profitability, entity_results),
    description="Re-run the allocation of one entity × period with other drivers, weights or usage quantities "
                "(run config: ops.cost_allocations.config), then the profitability that depends on it. The result "
                "becomes a new version; every earlier version stays stored and reproducible "
                "(`sync-pipeline finance versions / reproduce`). Re-run consolidation_job for the period after.",
)

consolidation_job = define_asset_job(
    "consolidation_job",
    selection=AssetSelection.assets(consolidation_translated, consolidation_eliminations, consolidated_results),
    description="Translate every entity's results into the reporting currency, eliminate intercompany and total "
                "the group for one period.",
)
