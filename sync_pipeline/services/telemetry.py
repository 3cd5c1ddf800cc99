"""A finished run as OpenTelemetry spans: one root span for the run, one child per step, under the run's trace id.

The run's trace id (``domain.tracing``: set by the sensor tick or webhook that launched it, else derived from the
run id) becomes the spans' trace id, so the spans of one change line up with the ledger rows ``sync-pipeline trace``
prints. Each step span carries its stage (extract → bill → plan → post → pullback → reconcile), entity, period and
status, with the step's real start and end times from Dagster's event log.

Spans go to a JSON-lines file (one span per line; :func:`spans_file`) and, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
and an OTLP exporter package is installed (``opentelemetry-exporter-otlp-proto-http``), to that collector as well.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace as otel
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from sync_pipeline.domain.tracing import trace_id_of

#: step key (its asset) → the stage of the chain it belongs to
STAGES: dict[str, str] = {
    "raw_time_entries": "extract", "raw_expenses": "extract",
    "clean_time_entries": "bill", "clean_expenses": "bill", "billables": "bill", "expense_billables": "bill",
    "fx_rates": "bill", "invoice_drafts": "bill",
    "invoice_plan": "plan",
    "posted_invoices": "post", "posted_lines": "post", "source_entries_marked": "post",
    "accounting_pullback": "pullback", "source_settlements_written_back": "pullback",
    "sync_reconciliation": "reconcile", "bank_statement_lines": "reconcile", "cash_matches": "reconcile",
    "cash_settlement": "reconcile", "reconciliation_results": "reconcile",
}
_LOCK = threading.Lock()


def spans_file() -> Path:
    """Where spans are written: ``SYNC_PIPELINE_SPANS_FILE``, else ``<data dir>/traces/spans.jsonl``."""
    from sync_pipeline.defs import settings  # the data dir is a setting; imported late (services sit below defs)

    return Path(os.environ.get("SYNC_PIPELINE_SPANS_FILE") or settings.data_dir() / "traces" / "spans.jsonl")


class JsonLinesExporter(SpanExporter):
    """Appends each span as one JSON object per line (ids in hex, times in ns since the epoch)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            lines.append(json.dumps({
                "name": s.name, "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
                "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else None,
                "start_time_ns": s.start_time, "end_time_ns": s.end_time,
                "status": s.status.status_code.name, "attributes": dict(s.attributes or {}),
                "resource": dict(s.resource.attributes)}, sort_keys=True, default=str))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, self.path.open("a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class _FixedTrace(IdGenerator):
    """Every span of one run in the run's trace; span ids random."""

    def __init__(self, trace_id: str) -> None:
        self.trace_id, self._spans = int(trace_id, 16), RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self._spans.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.trace_id


def _otlp_processor() -> Any | None:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:  # optional: installed where a collector is configured
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
    except ImportError:
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def export_run(*, run_id: str, job_name: str, tags: dict[str, str], start: float | None, end: float | None,
               steps: list[dict[str, Any]], ok: bool, path: Path | None = None) -> str:
    """Write the run and its steps (dicts: step_key, status, start_time, end_time in epoch seconds) as spans;
    returns the trace id used."""
    trace_id = trace_id_of(tags, run_id)
    provider = TracerProvider(id_generator=_FixedTrace(trace_id),
                              resource=Resource.create({"service.name": "sync_pipeline"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path or spans_file())))
    otlp = _otlp_processor()
    if otlp is not None:
        provider.add_span_processor(otlp)
    tracer = provider.get_tracer("sync_pipeline.runs")
    common = {"dagster.run_id": run_id, "dagster.job": job_name,
              "sync_pipeline.partition": tags.get("dagster/partition", ""),
              "sync_pipeline.trigger": tags.get("sync_pipeline/trigger", "")}
    root = tracer.start_span(job_name, start_time=_ns(start), attributes=common)
    ctx = otel.set_span_in_context(root)
    for st in sorted(steps, key=lambda s: s.get("start_time") or 0):
        key = st["step_key"]
        span = tracer.start_span(key, context=ctx, start_time=_ns(st.get("start_time")), attributes={
            **common, "sync_pipeline.stage": STAGES.get(key, "check" if "check" in key or "_contract" in key
                                                        else "other"),
            "dagster.step_status": str(st.get("status") or "")})
        if str(st.get("status") or "").upper().endswith("FAILURE"):
            span.set_status(otel.Status(otel.StatusCode.ERROR))
        span.end(end_time=_ns(st.get("end_time")))
    if not ok:
        root.set_status(otel.Status(otel.StatusCode.ERROR))
    root.end(end_time=_ns(end))
    provider.shutdown()
    return trace_id


def read_spans(path: Path | None = None, trace_id: str | None = None) -> list[dict[str, Any]]:
    """The spans written so far (of one trace when given)."""
    p = path or spans_file()
    if not p.exists():
        return []
    spans = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [s for s in spans if trace_id is None or s["trace_id"] == trace_id]
