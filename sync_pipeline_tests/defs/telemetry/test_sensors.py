"""Every finished run becomes spans once, whoever launched it: the run-status sensors for runs of the code location,
the catch-up sensor for the rest (the CLI's in-process runs, runs that ended while the daemon was down)."""

from dagster import DagsterRunStatus, build_run_status_sensor_context, build_sensor_context, instance_for_test, job, op

from sync_pipeline.defs.telemetry.sensors import (
    EXPORTED_TAG,
    export_dagster_run,
    run_spans_catch_up,
    run_spans_success,
)
from sync_pipeline.services.telemetry import read_spans


@op
def step_one():
    return 1


@op
def step_two(x):
    return x + 1


@job
def toy_job():
    step_two(step_one())


def _roots(path):
    return [s for s in read_spans(path) if s["parent_span_id"] is None]


def test_a_run_is_exported_once_by_whichever_path_sees_it_first(tmp_path, monkeypatch):
    spans = tmp_path / "spans.jsonl"
    monkeypatch.setenv("SYNC_PIPELINE_SPANS_FILE", str(spans))
    with instance_for_test() as instance:
        # launched from the command line: nobody's run-status sensor sees it; the catch-up sensor does
        a = toy_job.execute_in_process(instance=instance)
        b = toy_job.execute_in_process(instance=instance)
        ctx = build_sensor_context(instance=instance)
        tick = run_spans_catch_up(ctx)
        assert "exported 2 run(s)" in tick.skip_message
        assert sorted(r["attributes"]["dagster.run_id"] for r in _roots(spans)) == sorted([a.run_id, b.run_id])
        assert instance.get_run_by_id(a.run_id).tags[EXPORTED_TAG] == a.run_id.replace("-", "")
        again = run_spans_catch_up(build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert "exported 0 run(s)" in again.skip_message and len(_roots(spans)) == 2
        # the run-status sensor, late for a run already exported, writes nothing twice
        run = instance.get_run_by_id(a.run_id)
        assert run.status == DagsterRunStatus.SUCCESS
        success = [e for e in a.all_events if e.event_type_value == "PIPELINE_SUCCESS"][0]
        run_spans_success(build_run_status_sensor_context(
            sensor_name="run_spans_success", dagster_instance=instance, dagster_run=run, dagster_event=success))
        assert export_dagster_run(instance, a.run_id) is None  # already exported
        assert len(_roots(spans)) == 2
        [root] = [r for r in _roots(spans) if r["attributes"]["dagster.run_id"] == a.run_id]
        children = [s for s in read_spans(spans, root["trace_id"]) if s["parent_span_id"] == root["span_id"]]
        assert sorted(c["name"] for c in children) == ["step_one", "step_two"]
