"""Finance jobs: the monthly finance run per entity × period, and the accountants' re-allocation."""


from dagster import AssetSelection, define_asset_job

from sync_pipeline.defs.finance.assets import capex_register, cost_allocations, finance_cost_lines, shared_cost_lines

finance_job = define_asset_job(
    "finance_job",
    selection=AssetSelection.assets(shared_cost_lines, finance_cost_lines, capex_register, cost_allocations),
    description="Shared costs → Capex/Opex classification → cost allocation for one entity × period "
                "(after the sync job has produced clean_time_entries).",
)

reallocation_job = define_asset_job(
    "reallocation_job",
    selection=AssetSelection.assets(cost_allocations),
    description="Re-run the allocation of one entity × period with other drivers, weights or usage quantities "
                "(run config: ops.cost_allocations.config). The result becomes a new version; every earlier "
                "version stays stored and reproducible (`sync-pipeline finance versions / reproduce`).",
)
