"""Alerting sensors. Alerts go through the ``notifier`` resource (log + optional webhook URL).

- ``run_failure_alert``: any failed run of this code location, with the failed steps' errors.
- ``reconciliation_mismatch_alert``: a failed asset check on a reconciliation asset (mismatched,
  missing or extra documents), with the partition and the check's failure metadata.
- ``dead_letter_growth_alert``: new open dead letters in the operational store since the last tick.

A failed delivery fails the tick (visible in the UI) and leaves the cursor where it was, so the
alert is sent again on the next tick rather than lost.
"""

import json

from dagster import (
    AssetCheckKey,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from sync_pipeline.defs.resources import NotifierResource, OperationalStoreResource
from sync_pipeline.services import monitoring
from sync_pipeline.services.alerts import Alert

MONITORED_GROUPS = ("reconciliation",)


def _root_cause(error) -> str | None:
    """The innermost error message (Dagster wraps user errors in a step-execution error)."""
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    return error.message.strip()[:500]


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts (log + webhook) when a run of this code location fails, naming the failed steps.",
)
def run_failure_alert(context: RunFailureSensorContext, notifier: NotifierResource) -> None:
    run = context.dagster_run
    steps = [{"step": ev.step_key, "error": _root_cause(ev.step_failure_data.error if ev.step_failure_data else None)}
             for ev in context.get_step_failure_events()]
    notifier.send(Alert(
        kind="run_failure",
        summary=f"run {run.run_id[:8]} of {run.job_name} failed"
                + (f" for partition {run.tags['dagster/partition']}" if "dagster/partition" in run.tags else ""),
        details={"run_id": run.run_id, "job": run.job_name, "tags": dict(run.tags), "failed_steps": steps,
                 "message": context.failure_event.message},
        action="open the run in the Dagster UI, fix the cause, then re-execute from failure",
    ))


def check_failure_alert(key: AssetCheckKey, record) -> Alert:
    evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
    metadata = {k: getattr(v, "value", v) for k, v in (getattr(evaluation, "metadata", None) or {}).items()}
    where = f" for partition {record.partition}" if record.partition else ""
    return Alert(
        kind="reconciliation_mismatch",
        summary=f"check {key.name} on {key.asset_key.to_user_string()} failed{where}",
        details={"check": key.to_user_string(), "partition": record.partition, "run_id": record.run_id,
                 "metadata": {k: str(v)[:1000] for k, v in metadata.items()}},
        action="open the asset's Checks tab in the Dagster UI for the failure cases; fix in the accounting "
               "system or re-sync the partition",
    )


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Alerts when an asset check on a reconciliation asset fails (documents missing, extra or "
                "mismatched), with the partition and the check's failure cases.",
)
def reconciliation_mismatch_alert(context: SensorEvaluationContext, notifier: NotifierResource) -> SkipReason | None:
    graph = context.repository_def.asset_graph
    check_keys = sorted(
        (k for k in graph.asset_check_keys if graph.get(k.asset_key).group_name in MONITORED_GROUPS),
        key=lambda k: k.to_user_string())
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    storage = context.instance.event_log_storage
    alerts: list[Alert] = []
    new_cursor = dict(seen)
    for key in check_keys:
        name = key.to_user_string()
        records = storage.get_asset_check_execution_history(key, limit=200,
                                                            status={AssetCheckExecutionRecordStatus.FAILED})
        if not records:
            continue
        newest = max(r.id for r in records)
        if name not in seen:  # first look at this check: start from now, do not replay history
            new_cursor[name] = newest
            continue
        for r in sorted((r for r in records if r.id > seen[name]), key=lambda r: r.id):
            alerts.append(check_failure_alert(key, r))
        new_cursor[name] = max(newest, seen[name])
    for a in alerts:
        notifier.send(a)
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    return None if alerts else SkipReason(f"no new failed checks on {len(check_keys)} reconciliation check(s)")


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Alerts when new dead letters (documents that could not be posted) appear, per entity.",
)
def dead_letter_growth_alert(context: SensorEvaluationContext, opstore: OperationalStoreResource,
                             notifier: NotifierResource) -> SensorResult | SkipReason:
    source = monitoring.dead_letter_source(opstore.get())
    if source is None:
        return SkipReason("this build has no dead-letter store (sync_pipeline.store.dead_letters) to watch")
    last_id = int(context.cursor) if context.cursor else None
    letters = source.open_letters()
    top = max((int(d["id"]) for d in letters), default=last_id or 0)
    if last_id is None:  # first tick: remember where we are; the open backlog is reported once
        if letters:
            notifier.send(monitoring.dead_letter_alert(letters, backlog=True))
        return SensorResult(cursor=str(top))
    new = [d for d in letters if int(d["id"]) > last_id]
    if new:
        notifier.send(monitoring.dead_letter_alert(new, backlog=False, open_total=len(letters)))
    return SensorResult(cursor=str(max(top, last_id)))

