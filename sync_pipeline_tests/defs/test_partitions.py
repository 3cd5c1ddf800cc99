"""Partitions as the UI shows them: every check result per partition, jobs self-contained, a quiet terminal."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter

import pytest
from dagster import AssetKey

from sync_pipeline.defs.console_log import console_loggers, event_log_level
from sync_pipeline.defs.definitions import defs
from sync_pipeline.defs.partitions import closed_periods, open_period_partitions


def _period_dimension(asset: str):
    return defs.resolve_asset_graph().get(AssetKey(asset)).partitions_def.get_partitions_def_for_dimension("period")


def _last_period(asset: str, at: datetime) -> str:
    return _period_dimension(asset).get_partition_keys(current_time=at)[-1]


@pytest.mark.parametrize(("tz", "before", "after"), [
    # the last minute of 30 Nov and the first of 1 Dec, local time
    ("America/Los_Angeles", datetime(2026, 12, 1, 7, 59, tzinfo=UTC), datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
    ("Pacific/Auckland", datetime(2026, 11, 30, 10, 59, tzinfo=UTC), datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
])
def test_the_latest_closed_period_turns_over_at_local_midnight(tz, before, after):
    assert closed_periods(tz).get_partition_keys(current_time=before)[-1] == "2026-10-01"
    assert closed_periods(tz).get_partition_keys(current_time=after)[-1] == "2026-11-01"
    # the sync side keeps the open month: drafts of November until local midnight, then December's
    assert open_period_partitions(tz).get_partition_keys(current_time=before)[-1] == "2026-11-01"
    assert open_period_partitions(tz).get_partition_keys(current_time=after)[-1] == "2026-12-01"


def test_period_close_assets_offer_the_last_closed_month_as_latest():
    """The example mapping's entity is in Europe/London: on 7 Dec the latest closed period is November."""
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    for asset in ("kpi_touchless_billing", "entity_results", "cost_allocations"):
        assert _last_period(asset, at) == "2026-11-01", asset
    assert defs.resolve_asset_graph().get(AssetKey("consolidated_results")).partitions_def.get_partition_keys(
        current_time=at)[-1] == "2026-11-01"
    # what the schedules and sensors run mid-month still has the open month
    assert _last_period("posted_invoices", at) == _last_period("raw_time_entries", at) == "2026-12-01"


def test_the_period_dimensions_follow_the_entities_time_zones(tmp_path):
    """A fresh code location on a mapping with entities in Auckland and Los Angeles: a month is offered as closed
    once it has ended in Los Angeles, and as open once it has begun in Auckland."""
    t = "0b8e5a52-1c1d-4b0e-9f3a-2d6c7e8f9a0"
    (tmp_path / "mapping.yaml").write_text(f"""version: 2
entities:
  - {{key: nz, name: NZ, timezone: Pacific/Auckland, base_currency: NZD, harvest_account_id: "1", xero_tenant_id: {t}1}}
  - {{key: us, name: US, timezone: America/Los_Angeles, base_currency: USD, harvest_account_id: "2",
     xero_tenant_id: {t}2}}
""")
    code = ("from datetime import UTC, datetime\n"
            "from sync_pipeline.defs.partitions import closed_period_partitions as c, period_partitions as o\n"
            "for h in (7, 8):\n"
            "    print(c.get_partition_keys(current_time=datetime(2026, 12, 1, h, tzinfo=UTC))[-1])\n"
            "print(o.get_partition_keys(current_time=datetime(2026, 11, 30, 11, tzinfo=UTC))[-1])\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SYNC_PIPELINE_MAPPING": str(tmp_path /
                         "mapping.yaml")}, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["2026-10-01", "2026-11-01", "2026-12-01"]


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
