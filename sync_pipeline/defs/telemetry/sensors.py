"""Run spans: when a run ends (success or failure), its steps become OpenTelemetry spans under the run's trace id
(``services.telemetry``: a JSON-lines file under the data dir; OTLP where configured), whoever launched it.

- ``run_spans_success`` / ``run_spans_failure``: run-status sensors, at once, for runs of this code location
  (sensor, schedule, UI and backfill launches);
- ``run_spans_catch_up``: every minute, any finished run of the instance not exported yet — the command line's
  in-process runs (which no run-status sensor sees), ``dagster job execute``, runs that ended while the daemon or
  the sensors were off;
- the CLI exports its own runs as soon as they end (``export_finished_run``), daemon or not.

A run is exported once: the export tags it ``sync_pipeline/spans_exported`` (its trace id) and every path skips a
tagged run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

EXPORTED_TAG = "sync_pipeline/spans_exported"
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
FIRST_LOOK_BACK = timedelta(days=1)  # the catch-up sensor's first tick: the runs that ended in the last day
BATCH = 200


def export_dagster_run(instance: DagsterInstance, run_id: str, path: Path | None = None) -> str | None:
    """A finished run of ``instance`` as spans, tagged as exported; its trace id, or None when the run is unknown,
    not finished, or exported already."""
    from sync_pipeline.services.telemetry import export_run  # the OpenTelemetry SDK, only where spans are made

    run = instance.get_run_by_id(run_id)
    if run is None or run.status not in FINISHED or run.tags.get(EXPORTED_TAG):
        return None
    stats = instance.get_run_stats(run_id)
    steps = [{"step_key": s.step_key, "status": s.status.value if s.status else None, "start_time": s.start_time,
              "end_time": s.end_time} for s in instance.get_run_step_stats(run_id)]
    trace_id = export_run(run_id=run_id, job_name=run.job_name, tags=dict(run.tags), start=stats.start_time,
                          end=stats.end_time, steps=steps, ok=run.status == DagsterRunStatus.SUCCESS, path=path)
    instance.add_run_tags(run_id, {EXPORTED_TAG: trace_id})
    return trace_id


def export_finished_run(instance: DagsterInstance, run_id: str) -> str | None:
    """For entry points that run a job in process (the CLI): export it now; a failed export is logged, never
    fails the command (the catch-up sensor tries again)."""
    import logging

    try:
        return export_dagster_run(instance, run_id)
    except Exception as e:  # noqa: BLE001 - telemetry must not fail the run that was traced
        logging.getLogger("sync_pipeline.telemetry").warning(
            f"run {run_id} not exported as spans ({type(e).__name__}: {e}); the run_spans_catch_up sensor retries")
        return None


def _export_the_run(context: RunStatusSensorContext) -> None:
    trace_id = export_dagster_run(context.instance, context.dagster_run.run_id)
    context.log.info(f"run {context.dagster_run.run_id} exported as trace {trace_id}" if trace_id
                     else f"run {context.dagster_run.run_id} was exported already")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   description="Exports each successful run as OpenTelemetry spans under its trace id "
                               "(data/traces/spans.jsonl; OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set).")
def run_spans_success(context: RunStatusSensorContext) -> None:
    _export_the_run(context)


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, default_status=DefaultSensorStatus.RUNNING,
                   description="Exports each failed run as OpenTelemetry spans under its trace id (the failed step "
                               "marked as an error).")
def run_spans_failure(context: RunStatusSensorContext) -> None:
    _export_the_run(context)


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Exports as spans every finished run of the instance not exported yet, however it was launched "
                    "(the CLI's in-process runs, `dagster job execute`, runs that ended while the daemon was down).")
def run_spans_catch_up(context: SensorEvaluationContext) -> SkipReason:
    since = datetime.fromisoformat(context.cursor) if context.cursor else datetime.now(UTC) - FIRST_LOOK_BACK
    records = context.instance.get_run_records(filters=RunsFilter(statuses=FINISHED, updated_after=since),
                                               limit=BATCH, ascending=True)
    done = [r.dagster_run.run_id for r in records
            if export_dagster_run(context.instance, r.dagster_run.run_id) is not None]
    newest = max((r.update_timestamp for r in records), default=None)
    if newest is not None:
        context.update_cursor(newest.astimezone(UTC).isoformat())
    return SkipReason(f"exported {len(done)} run(s) as spans" + (f": {', '.join(done[:10])}" if done else ""))
