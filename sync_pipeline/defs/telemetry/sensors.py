"""Run spans: when a run of the pipeline's jobs ends (success or failure), its steps become OpenTelemetry spans
under the run's trace id (``services.telemetry``: a JSON-lines file under the data dir; OTLP where configured)."""

from __future__ import annotations

from pathlib import Path

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    run_status_sensor,
)

from sync_pipeline.services.telemetry import export_run


def export_dagster_run(instance: DagsterInstance, run_id: str, path: Path | None = None) -> str | None:
    """A finished run of ``instance`` as spans; the trace id, or None when the run is unknown."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    stats = instance.get_run_stats(run_id)
    steps = [{"step_key": s.step_key, "status": s.status.value if s.status else None, "start_time": s.start_time,
              "end_time": s.end_time} for s in instance.get_run_step_stats(run_id)]
    return export_run(run_id=run_id, job_name=run.job_name, tags=dict(run.tags), start=stats.start_time,
                      end=stats.end_time, steps=steps, ok=run.status == DagsterRunStatus.SUCCESS, path=path)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   description="Exports each successful run as OpenTelemetry spans under its trace id "
                               "(data/traces/spans.jsonl; OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set).")
def run_spans_success(context: RunStatusSensorContext) -> None:
    trace_id = export_dagster_run(context.instance, context.dagster_run.run_id)
    context.log.info(f"run {context.dagster_run.run_id} exported as trace {trace_id}")


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, default_status=DefaultSensorStatus.RUNNING,
                   description="Exports each failed run as OpenTelemetry spans under its trace id (the failed step "
                               "marked as an error).")
def run_spans_failure(context: RunStatusSensorContext) -> None:
    trace_id = export_dagster_run(context.instance, context.dagster_run.run_id)
    context.log.info(f"run {context.dagster_run.run_id} exported as trace {trace_id}")
