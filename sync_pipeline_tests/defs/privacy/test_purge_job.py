"""The retention purge job: run by its schedule's automation identity, it purges and says what it did."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
from dagster import DagsterInstance, build_schedule_context

from sync_pipeline.defs import settings
from sync_pipeline.defs.privacy.jobs import retention_purge_job
from sync_pipeline.defs.privacy.schedules import retention_purge_monthly
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource
from sync_pipeline.store import audit
from sync_pipeline.store.hours_reviews import HoursReviews
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse


def test_the_scheduled_purge_deletes_what_is_past_retention(tmp_path):
    wh = Warehouse(tmp_path / "warehouse")
    wh.write("raw_time_entries", "acme-uk", "2010-01", pd.DataFrame({"user_name": ["Alice Archer"], "hours": ["1"]}))
    wh.write("raw_time_entries", "acme-uk", "2026-10", pd.DataFrame({"user_name": ["Alice Archer"], "hours": ["1"]}))
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    hours = HoursReviews(OperationalStore(url))  # and operational-store rows past retention
    hours.decide("acme-uk", "3", date(2010, 1, 5), Decimal("12"), "release", note="Carol Chen", actor="mia")
    hours.decide("acme-uk", "3", date(2026, 10, 5), Decimal("12"), "release", note="Carol Chen", actor="mia")
    resources = {"mapping": MappingResource(path=settings.mapping_path()),
                 "warehouse": WarehouseResource(root=str(wh.root)), "opstore": OperationalStoreResource(url=url)}
    with DagsterInstance.ephemeral() as instance:
        ctx = build_schedule_context(instance=instance,
                                     scheduled_execution_time=datetime(2026, 12, 3, 4, tzinfo=UTC))
        request = retention_purge_monthly(ctx)
        result = retention_purge_job.execute_in_process(
            instance=instance, resources=resources,
            tags={**request.tags, "dagster/schedule_name": "retention_purge_monthly"})
    assert result.success
    summary = result.output_for_node("retention_purge_op")
    assert (summary["deleted"], summary["kept"]) == (1, 1)
    assert not wh.exists("raw_time_entries", "acme-uk", "2010-01") and wh.exists("raw_time_entries", "acme-uk", "2026-10")
    assert summary["store_rows_deleted"] == 1
    store = OperationalStore(url)
    assert [d.day for d in HoursReviews(store).latest("acme-uk", date(2010, 1, 1), date(2026, 12, 31))] == [
        "2026-10-05"]
    [event] = audit.events(store, action="retention_purge")
    assert event.actor == "schedule:retention_purge_monthly"
    assert {(t["where"], t["asset"], t["action"]) for t in event.detail["touched"]} >= {
        ("store", "hours_day_decisions", "delete")}
    store.dispose()


def test_a_purge_launched_from_the_ui_refuses_and_deletes_nothing(tmp_path):
    """No ticket, no schedule: Dagster does not know who pressed Launch, so the destructive write is refused."""
    wh = Warehouse(tmp_path / "warehouse")
    wh.write("raw_time_entries", "acme-uk", "2010-01", pd.DataFrame({"user_name": ["Alice Archer"], "hours": ["1"]}))
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    resources = {"mapping": MappingResource(path=settings.mapping_path()),
                 "warehouse": WarehouseResource(root=str(wh.root)), "opstore": OperationalStoreResource(url=url)}
    with DagsterInstance.ephemeral() as instance:
        result = retention_purge_job.execute_in_process(instance=instance, resources=resources,
                                                        raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "without a signed-in person" in message and "nothing was changed" in message
    assert "sync-pipeline privacy purge" in message and "retention_purge_monthly" in message
    assert wh.exists("raw_time_entries", "acme-uk", "2010-01")
    store = OperationalStore(url)
    [refused] = audit.events(store, action="dagster_run_refused")
    assert refused.actor == "dagster-ui" and refused.detail["action"] == "dagster.purge"
    assert audit.events(store, action="retention_purge") == []
    store.dispose()
