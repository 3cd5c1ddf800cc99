"""Schedules: which partitions each tick requests, per entity time zone."""

from datetime import UTC, datetime

from dagster import SkipReason, build_schedule_context, instance_for_test

from sync_pipeline.defs.automation.schedules import current_period_daily, previous_period_monthly_close
from sync_pipeline.defs.definitions import defs
from sync_pipeline.defs.resources import MappingResource

MAPPING = """version: 1
entities:
  - {key: acme-uk, name: Acme UK, timezone: Europe/London, base_currency: GBP, harvest_account_id: "1",
     xero_tenant_id: 0b8e5a52-1c1d-4b0e-9f3a-2d6c7e8f9a01}
  - {key: acme-nz, name: Acme NZ, timezone: Pacific/Auckland, base_currency: NZD, harvest_account_id: "2",
     xero_tenant_id: 0b8e5a52-1c1d-4b0e-9f3a-2d6c7e8f9a02}
"""


def _ctx(instance, tmp_path, when):
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    return build_schedule_context(instance=instance, scheduled_execution_time=when,
                                  resources={"mapping": MappingResource(path=str(tmp_path / "mapping.yaml"))})


def test_schedules_are_in_the_code_location():
    names = {s.name: s for s in defs.schedules if s.job_name == "sync_job"}
    assert {n: s.cron_schedule for n, s in names.items()} == {  # the example mapping's automation section
        "current_period_hourly": "0 * * * *", "current_period_daily": "0 5 * * *",
        "current_period_weekly": "0 5 * * 1", "previous_period_monthly_close": "0 6 2 * *"}


def test_daily_refresh_targets_each_entitys_local_current_period(tmp_path):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", ["acme-uk", "acme-nz", "gone-entity"])
        # 30 Nov 2026 14:00 UTC is already 1 Dec in Auckland
        reqs = current_period_daily(_ctx(instance, tmp_path, datetime(2026, 11, 30, 14, tzinfo=UTC)))
        assert sorted(str(r.partition_key) for r in reqs) == ["acme-nz|2026-12-01", "acme-uk|2026-11-01"]
        assert len({r.run_key for r in reqs}) == 2


def test_monthly_close_targets_the_previous_period(tmp_path):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", ["acme-uk", "acme-nz"])
        reqs = previous_period_monthly_close(_ctx(instance, tmp_path, datetime(2026, 12, 2, 6, tzinfo=UTC)))
        assert sorted(str(r.partition_key) for r in reqs) == ["acme-nz|2026-11-01", "acme-uk|2026-11-01"]
        assert {r.tags["sync_pipeline/trigger"] for r in reqs} == {"previous_period_monthly_close"}


def test_no_entities_is_a_skip_with_a_reason(tmp_path):
    with instance_for_test() as instance:
        res = current_period_daily(_ctx(instance, tmp_path, datetime(2026, 11, 30, 5, tzinfo=UTC)))
        assert isinstance(res, SkipReason) and "no entity" in res.skip_message
