"""Run spans: a root per run and a child per step, in the run's trace, with stages and real times."""

from sync_pipeline.domain.tracing import TRACE_TAG
from sync_pipeline.services.telemetry import export_run, read_spans

RUN = "63a19125-ac03-4097-b26d-4b6ac960747a"


def test_a_failed_run_is_one_trace_with_the_failed_step_marked(tmp_path):
    steps = [{"step_key": "raw_time_entries", "status": "SUCCESS", "start_time": 100.0, "end_time": 101.5},
             {"step_key": "posted_invoices", "status": "FAILURE", "start_time": 102.0, "end_time": 103.0}]
    tid = export_run(run_id=RUN, job_name="sync_job", tags={"dagster/partition": "acme-uk|2026-10-01"},
                     start=99.0, end=104.0, steps=steps, ok=False, path=tmp_path / "s.jsonl")
    assert tid == RUN.replace("-", "")  # no tag: the run id is the trace
    spans = {s["name"]: s for s in read_spans(tmp_path / "s.jsonl", tid)}
    assert set(spans) == {"sync_job", "raw_time_entries", "posted_invoices"}
    assert spans["sync_job"]["status"] == "ERROR" and spans["posted_invoices"]["status"] == "ERROR"
    assert spans["raw_time_entries"]["status"] == "UNSET"
    assert spans["raw_time_entries"]["attributes"]["sync_pipeline.stage"] == "extract"
    assert spans["posted_invoices"]["attributes"]["sync_pipeline.stage"] == "post"
    assert (spans["raw_time_entries"]["start_time_ns"], spans["raw_time_entries"]["end_time_ns"]) == (
        100_000_000_000, 101_500_000_000)
    assert spans["posted_invoices"]["parent_span_id"] == spans["sync_job"]["span_id"]


def test_the_sensor_trace_id_names_the_spans(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert export_run(run_id=RUN, job_name="sync_job", tags={TRACE_TAG: tid}, start=1.0, end=2.0, steps=[], ok=True,
                      path=tmp_path / "s.jsonl") == tid
    assert [s["trace_id"] for s in read_spans(tmp_path / "s.jsonl")] == [tid]
