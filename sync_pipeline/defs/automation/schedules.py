"""Schedules: the current billing period refreshed daily, the previous one closed monthly.

Both request ``sync_job`` for every registered entity, each in its own time zone: the "current"
period is the one containing the entity's local date at the tick. The monthly close runs on the 2nd
at 06:00 UTC, when the previous month has ended in every time zone (UTC-12 included), so posting
finds the period closed and issues final (AUTHORISED) invoices.
"""

from datetime import datetime

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from sync_pipeline.contracts.mapping import MappingError
from sync_pipeline.defs.automation.sensors import ENTITY_TAG, TRIGGER_TAG
from sync_pipeline.defs.partitions import entity_partitions, partition_key
from sync_pipeline.defs.resources import MappingResource
from sync_pipeline.defs.sync.jobs import sync_job
from sync_pipeline.domain.periods import Period, local_date


def _requests(context: ScheduleEvaluationContext, mapping: MappingResource, *, previous: bool,
              trigger: str) -> list[RunRequest] | SkipReason:
    tick: datetime = context.scheduled_execution_time
    m = mapping.load()
    entities = sorted(context.instance.get_dynamic_partitions(entity_partitions.name))
    if not entities:
        return SkipReason("no entity is registered yet (the change-feed sensor registers the mapping's entities)")
    out: list[RunRequest] = []
    for key in entities:
        try:
            entity = m.entity(key)
        except MappingError as e:
            context.log.warning(f"entity partition {key!r} is not in the mapping; not scheduled: {e}")
            continue
        period = Period.of(local_date(tick, entity.timezone))
        if previous:
            period = period.previous()
        out.append(RunRequest(
            run_key=f"{trigger}:{key}|{period.key}:{tick.date().isoformat()}",
            partition_key=partition_key(key, period),
            tags={TRIGGER_TAG: trigger, ENTITY_TAG: key},
        ))
    return out


@schedule(
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    job=sync_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every day at 05:00 UTC: re-sync each entity's current billing period (draft invoices), "
                "which also catches entries deleted in the project system.",
)
def current_period_daily(context: ScheduleEvaluationContext, mapping: MappingResource):
    return _requests(context, mapping, previous=False, trigger="current_period_daily")


@schedule(
    cron_schedule="0 6 2 * *",
    execution_timezone="UTC",
    job=sync_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="On the 2nd of each month at 06:00 UTC: close each entity's previous billing period "
                "(final sync, invoices authorised, reconciled).",
)
def previous_period_monthly_close(context: ScheduleEvaluationContext, mapping: MappingResource):
    return _requests(context, mapping, previous=True, trigger="previous_period_monthly_close")
