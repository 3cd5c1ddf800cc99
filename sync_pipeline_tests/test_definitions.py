"""The code location loads, with the assets, partitions and lineage the UI shows."""

from dagster import AssetKey, MultiPartitionsDefinition

from sync_pipeline.defs.definitions import defs


def test_definitions_load():
    defs.validate_loadable(defs)
    job = defs.resolve_job_def("sync_job")
    assert job is not None


def test_assets_partitioned_by_entity_and_period_with_lineage():
    graph = defs.resolve_asset_graph()
    expected = ["raw_time_entries", "clean_time_entries", "billables", "invoice_drafts", "invoice_plan",
                "posted_invoices", "sync_reconciliation"]
    for name in expected:
        node = graph.get(AssetKey(name))
        pd = node.partitions_def
        assert isinstance(pd, MultiPartitionsDefinition)
        assert [d.name for d in pd.partitions_defs] == ["entity", "period"]
    for up, down in zip(expected, expected[1:], strict=False):
        assert AssetKey(up) in graph.get(AssetKey(down)).parent_keys, f"{up} should feed {down}"


def test_conservation_check_blocks_posting():
    graph = defs.resolve_asset_graph()
    checks = {k.name: k for k in graph.asset_check_keys}
    assert "conservation" in checks
    from sync_pipeline.defs.billing.checks import conservation

    specs = list(conservation.check_specs)
    assert [s.name for s in specs] == ["conservation"] and specs[0].blocking
