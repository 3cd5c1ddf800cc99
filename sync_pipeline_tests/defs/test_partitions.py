"""Partitions as the UI shows them: every check result per partition, jobs self-contained, a quiet terminal."""

from graphlib import CycleError, TopologicalSorter

import pytest

from sync_pipeline.defs.console_log import console_loggers, event_log_level
from sync_pipeline.defs.definitions import defs


def test_every_check_of_a_partitioned_asset_records_its_partition():
    graph = defs.resolve_asset_graph()
    checked = 0
    for key in graph.asset_check_keys:
        asset_parts = graph.get(key.asset_key).partitions_def
        check_parts = graph.get(key).partitions_def
        assert check_parts == asset_parts, f"{key.name}: its results would carry no partition"
        checked += asset_parts is not None
    assert checked >= 13


def test_materialize_all_in_sync_job_needs_nothing_from_another_job():
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("sync_job")
    keys = set(job.asset_layer.executable_asset_keys)
    outside = {(k.to_user_string(), p.to_user_string()) for k in keys for p in graph.get(k).parent_keys
               if p not in keys}
    assert outside == set()
    assert {k.to_user_string() for k in defs.resolve_job_def("cash_reconciliation_job")
            .asset_layer.executable_asset_keys} >= {"reconciliation_results", "cash_settlement"}


def _job_needs() -> dict[str, dict[str, set[str]]]:
    """Each asset job → the other jobs whose assets it reads without materialising them → which (asset ← parent)."""
    graph = defs.resolve_asset_graph()
    jobs = {j.name: set(j.asset_layer.executable_asset_keys) for j in defs.resolve_all_job_defs()
            if not j.name.startswith("__") and j.asset_layer.executable_asset_keys}
    needs: dict[str, dict[str, set[str]]] = {name: {} for name in jobs}
    for name, keys in jobs.items():
        for k in keys:
            for p in graph.get(k).parent_keys - keys:
                for other, other_keys in jobs.items():
                    if p in other_keys:
                        needs[name].setdefault(other, set()).add(f"{k.to_user_string()} ← {p.to_user_string()}")
    return needs


def test_no_job_reads_an_asset_of_a_job_that_reads_it_back():
    """Jobs run in an order (sync, then pull-back and refresh, then cash, KPIs, finance): a job may read what an
    earlier one materialised, never an asset of a job that itself needs this one (Materialize all would warn of
    upstream data another job owns, and neither run would have it fresh)."""
    needs = _job_needs()
    assert {"sync_job", "xero_refresh_job", "cash_reconciliation_job", "finance_job"} <= set(needs)
    try:
        order = list(TopologicalSorter({j: set(n) for j, n in needs.items()}).static_order())
    except CycleError as e:
        cycle = e.args[1]  # each job in it is read by the next
        pytest.fail("jobs need each other's assets: " + "; ".join(
            f"{b} reads {sorted(needs[b][a])} of {a}" for a, b in zip(cycle, cycle[1:], strict=False)))
    assert order.index("sync_job") < order.index("xero_refresh_job") < order.index("cash_reconciliation_job")


def test_the_terminal_event_log_level_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("SYNC_PIPELINE_EVENT_LOG", raising=False)
    assert event_log_level() == "debug"
    monkeypatch.setenv("SYNC_PIPELINE_EVENT_LOG", "WARNING")
    assert event_log_level() == "warning"
    schema = console_loggers()["console"].config_schema.as_field().config_type.fields
    assert schema["log_level"].default_value == "WARNING"
    monkeypatch.setenv("SYNC_PIPELINE_EVENT_LOG", "loud")
    with pytest.raises(ValueError, match="SYNC_PIPELINE_EVENT_LOG"):
        event_log_level()
