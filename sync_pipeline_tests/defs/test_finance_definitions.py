"""Finance in the code location: partitions (entity × period vs period across entities), lineage, blocking checks."""

from dagster import AssetKey, MultiPartitionsDefinition, TimeWindowPartitionsDefinition

from sync_pipeline.defs.definitions import defs

PER_ENTITY = ["shared_cost_lines", "finance_cost_lines", "capex_register", "cost_allocations", "project_revenue",
              "project_direct_costs", "project_profitability", "entity_results"]
PER_PERIOD = ["group_fx_rates", "fx_period_rates", "consolidation_translated", "consolidation_eliminations",
              "consolidated_results"]


def test_finance_assets_partitions_and_lineage():
    g = defs.resolve_asset_graph()
    for name in PER_ENTITY:
        assert isinstance(g.get(AssetKey(name)).partitions_def, MultiPartitionsDefinition), name
    for name in PER_PERIOD:
        assert isinstance(g.get(AssetKey(name)).partitions_def, TimeWindowPartitionsDefinition), name
    parents = {n: {k.path[-1] for k in g.get(AssetKey(n)).parent_keys} for n in PER_ENTITY + PER_PERIOD}
    assert {"finance_cost_lines", "clean_time_entries"} <= parents["cost_allocations"]
    assert {"project_revenue", "project_direct_costs", "cost_allocations", "fx_period_rates"} <= \
        parents["project_profitability"]
    assert {"entity_results", "fx_period_rates"} <= parents["consolidation_translated"]
    assert {"invoice_drafts", "posted_invoices"} <= parents["project_revenue"]


def test_finance_checks_are_blocking():
    from sync_pipeline.defs.finance import checks

    specs = {s.name: s for c in (checks.allocations_sum_to_pool, checks.cost_lines_conserved,
                                 checks.eliminations_net_to_zero, checks.consolidated_equals_translated_entities)
             for s in c.check_specs}
    assert set(specs) == {"allocations_sum_to_pool", "cost_lines_conserved", "eliminations_net_to_zero",
                          "consolidated_equals_translated_entities"}
    assert all(s.blocking for s in specs.values())
    for job in ("finance_fx_job", "finance_job", "reallocation_job", "consolidation_job"):
        assert defs.resolve_job_def(job) is not None
