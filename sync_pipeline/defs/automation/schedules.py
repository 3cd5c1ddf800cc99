"""Schedules: one per cadence of the mapping (``cadence`` per entity, crons under ``automation``), and the
monthly close.

| schedule | cron (mapping ``automation``) | current period of the entities with cadence |
|---|---|---|
| ``current_period_hourly`` | ``hourly_cron`` (``0 * * * *``) | ``hourly`` |
| ``current_period_daily`` | ``daily_cron`` (``0 5 * * *``) | ``daily``, and ``realtime`` (deletions the feed misses) |
| ``current_period_weekly`` | ``weekly_cron`` (``0 5 * * 1``) | ``weekly`` |
| ``previous_period_monthly_close`` | ``0 6 2 * *`` UTC | every entity (previous period) |

Each entity in its own time zone: the "current" period is the one containing the entity's local date at the
tick. The monthly close runs on the 2nd at 06:00 UTC, when the previous month has ended in every time zone
(UTC-12 included), so posting finds the period closed and issues final (AUTHORISED) invoices. Entities with
cadence ``realtime`` are synced by the ``harvest_changefeed`` sensor (``defs/automation/sensors.py``).
"""

from __future__ import annotations

from datetime import datetime

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from sync_pipeline.contracts.mapping import Automation, Cadence, MappingError
from sync_pipeline.defs.automation.sensors import ENTITY_TAG, TRIGGER_TAG, automation_settings
from sync_pipeline.defs.partitions import entity_partitions, partition_key
from sync_pipeline.defs.resources import MappingResource
from sync_pipeline.defs.sync.jobs import sync_job
from sync_pipeline.domain.periods import Period, local_date

MONTHLY_CLOSE_CRON = "0 6 2 * *"
# the cadences each current-period schedule covers
SCHEDULED: dict[str, tuple[Cadence, ...]] = {"hourly": ("hourly",), "daily": ("daily", "realtime"),
                                             "weekly": ("weekly",)}


def _requests(context: ScheduleEvaluationContext, mapping: MappingResource, *, previous: bool,
              trigger: str, cadences: tuple[Cadence, ...] | None = None) -> list[RunRequest] | SkipReason:
    tick: datetime = context.scheduled_execution_time
    m = mapping.load()
    entities = sorted(context.instance.get_dynamic_partitions(entity_partitions.name))
    if not entities:
        return SkipReason("no entity is registered yet (the change-feed sensor registers the mapping's entities)")
    covered = set(m.with_cadence(*cadences)) if cadences else {e.key for e in m.entities}
    out: list[RunRequest] = []
    for key in entities:
        try:
            entity = m.entity(key)
        except MappingError as e:
            context.log.warning(f"entity partition {key!r} is not in the mapping; not scheduled: {e}")
            continue
        if key not in covered:
            continue
        period = Period.of(local_date(tick, entity.timezone))
        if previous:
            period = period.previous()
        out.append(RunRequest(
            run_key=f"{trigger}:{key}|{period.key}:{tick.isoformat(timespec='minutes')}",
            partition_key=partition_key(key, period),
            tags={TRIGGER_TAG: trigger, ENTITY_TAG: key},
        ))
    if not out:
        return SkipReason(f"no registered entity has cadence {' or '.join(cadences or ())} in the mapping")
    return out


def cadence_schedule(name: str, automation: Automation) -> ScheduleDefinition:
    """The current-period schedule of one cadence (``hourly``, ``daily`` or ``weekly``), with the mapping's cron."""
    cadences = SCHEDULED[name]
    cron = getattr(automation, f"{name}_cron")
    trigger = f"current_period_{name}"

    @schedule(
        name=trigger,
        cron_schedule=cron,
        execution_timezone=automation.timezone,
        job=sync_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"{cron} ({automation.timezone}): re-sync the current billing period (draft invoices) of each "
                    f"entity whose cadence is {' or '.join(cadences)} (mapping: cadence, automation.{name}_cron).",
    )
    def _current(context: ScheduleEvaluationContext, mapping: MappingResource):
        return _requests(context, mapping, previous=False, trigger=trigger, cadences=cadences)

    return _current


_automation = automation_settings()
current_period_hourly = cadence_schedule("hourly", _automation)
current_period_daily = cadence_schedule("daily", _automation)
current_period_weekly = cadence_schedule("weekly", _automation)


@schedule(
    cron_schedule=MONTHLY_CLOSE_CRON,
    execution_timezone="UTC",
    job=sync_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="On the 2nd of each month at 06:00 UTC: close each entity's previous billing period "
                "(final sync, invoices authorised, reconciled).",
)
def previous_period_monthly_close(context: ScheduleEvaluationContext, mapping: MappingResource):
    return _requests(context, mapping, previous=True, trigger="previous_period_monthly_close")
