"""Cadence settings of the mapping produce the schedules and the change-feed sensor: crons, interval, and which
entities each one covers."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from dagster import SkipReason, build_schedule_context, instance_for_test

from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.defs.automation.schedules import SCHEDULED, cadence_schedule, previous_period_monthly_close
from sync_pipeline.defs.resources import MappingResource

T = "0b8e5a52-1c1d-4b0e-9f3a-2d6c7e8f9a0"
MAPPING = f"""version: 2
automation: {{hourly_cron: "15 * * * *", daily_cron: "0 4 * * *", weekly_cron: "0 6 * * 5",
              realtime_interval_seconds: 10, timezone: Europe/London}}
entities:
  - {{key: live, name: L, timezone: Europe/London, base_currency: GBP, harvest_account_id: "1", xero_tenant_id: {T}1}}
  - {{key: hourly, name: H, timezone: Europe/London, base_currency: GBP, harvest_account_id: "2",
     cadence: hourly, xero_tenant_id: {T}2}}
  - {{key: daily, name: D, timezone: Europe/London, base_currency: GBP, source: redmine, xero_tenant_id: {T}3}}
  - {{key: weekly, name: W, timezone: Europe/London, base_currency: GBP, source: csv, cadence: weekly,
     csv_export: {{kind: toggl, folder: exports}}, xero_tenant_id: {T}4}}
"""
TICK = datetime(2026, 11, 30, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def mapping_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cadence") / "mapping.yaml"
    p.write_text(MAPPING)
    return p


def _covered(schedule, mapping_file) -> list[str] | str:
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", ["live", "hourly", "daily", "weekly"])
        res = schedule(build_schedule_context(instance=instance, scheduled_execution_time=TICK,
                                              resources={"mapping": MappingResource(path=str(mapping_file))}))
    return res.skip_message if isinstance(res, SkipReason) else sorted(r.tags["sync_pipeline/entity"] for r in res)


@pytest.mark.parametrize(("name", "cron", "covered"), [
    ("hourly", "15 * * * *", ["hourly"]),
    ("daily", "0 4 * * *", ["daily", "live"]),  # realtime entities get a daily refresh too (deletions)
    ("weekly", "0 6 * * 5", ["weekly"]),
])
def test_each_cadence_has_its_schedule_with_the_mappings_cron(mapping_file, name, cron, covered):
    s = cadence_schedule(name, load_mapping(mapping_file).automation)
    assert (s.name, s.cron_schedule, s.execution_timezone, s.job_name) == (f"current_period_{name}", cron,
                                                                            "Europe/London", "sync_job")
    assert _covered(s, mapping_file) == covered
    assert set(SCHEDULED[name]) <= {"realtime", "hourly", "daily", "weekly"}


def test_the_monthly_close_covers_every_entity_whatever_its_cadence(mapping_file):
    assert _covered(previous_period_monthly_close, mapping_file) == ["daily", "hourly", "live", "weekly"]


def test_a_cadence_no_entity_has_is_a_skip_with_the_reason(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(MAPPING.replace("cadence: weekly", "cadence: daily"))
    assert _covered(cadence_schedule("weekly", load_mapping(p).automation), p) == \
        "no registered entity has cadence weekly in the mapping"


def test_the_code_location_builds_its_schedules_and_sensor_interval_from_the_mapping(mapping_file):
    """A fresh interpreter: the definitions read the mapping when the code location loads."""
    code = ("from sync_pipeline.defs.definitions import defs\n"
            "s = {x.name: x for x in defs.schedules if x.job_name == 'sync_job'}\n"
            "print(sorted((n, x.cron_schedule) for n, x in s.items()))\n"
            "print(defs.resolve_sensor_def('harvest_changefeed').minimum_interval_seconds)\n")
    import os

    env = {k: v for k, v in os.environ.items() if k != "SYNC_PIPELINE_SENSOR_INTERVAL"}
    out = subprocess.run([sys.executable, "-c", code], env={**env, "SYNC_PIPELINE_MAPPING": str(mapping_file)},
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["[('current_period_daily', '0 4 * * *'), ('current_period_hourly', '15 * * * *'), "
                   "('current_period_weekly', '0 6 * * 5'), ('previous_period_monthly_close', '0 6 2 * *')]", "10"]


def test_the_change_feed_sensor_polls_only_realtime_entities_and_registers_all(mapping_file, tmp_path):
    from dagster import build_sensor_context

    from sync_pipeline.defs.automation.sensors import harvest_changefeed
    from sync_pipeline.defs.resources import HarvestResource, RedmineResource, WarehouseResource

    p = tmp_path / "m.yaml"
    p.write_text(MAPPING.replace('harvest_account_id: "1",', 'harvest_account_id: "1", cadence: daily,'))
    dead = HarvestResource(base_url="http://127.0.0.1:9", access_token="unused", max_attempts=1)
    with instance_for_test() as instance:
        res = harvest_changefeed(build_sensor_context(instance=instance, resources={
            "harvest": dead, "redmine": RedmineResource(), "mapping": MappingResource(path=str(p)),
            "warehouse": WarehouseResource(root=str(tmp_path / "wh"))}))
    assert res.run_requests == []  # no entity is realtime: nothing polled (the dead address was never called)
    assert sorted(res.dynamic_partitions_requests[0].partition_keys) == ["daily", "hourly", "live", "weekly"]
