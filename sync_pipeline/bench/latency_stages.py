"""Where a change → draft latency goes: each timed edit split into stages with the timestamps Dagster records
(sensor ticks, run records, the run's event log), so the bench says which part to cut.

| stage | from → to |
|---|---|
| ``tick_wait`` | the edit → start of the sensor tick that saw it |
| ``sensor_eval`` | tick start → run created (feed polls, run request submitted) |
| ``run_create`` | run created → ``RUN_ENQUEUED`` (the run's planned-materialization events written) |
| ``queue`` | enqueued → ``RUN_STARTING`` (the run coordinator's dequeue loop, the launch over gRPC) |
| ``worker_start`` | → ``Started process for run`` (the run worker spawned: Python, Dagster imported, instance loaded) |
| ``code_load`` | → ``RUN_START`` (the code location imported in the run worker, the plan built) |
| ``steps_before_post`` | → ``STEP_START`` of ``posted_invoices`` (extract … invoice plan) |
| ``accounting_write`` | ``posted_invoices`` start → success (the draft written to the accounting system) |
| ``seen`` | → the bench sees the draft (its 0.2 s poll; negative when seen before the step's end was logged) |

A helper of the ``latency`` bench only (no ``run``): not a bench of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STAGES = ("tick_wait", "sensor_eval", "run_create", "queue", "worker_start", "code_load", "steps_before_post",
          "accounting_write", "seen")
POST_STEP = "posted_invoices"
SENSOR = "harvest_changefeed"
CHANGED_TAG = "sync_pipeline/changed_entries"


@dataclass(frozen=True)
class Edit:
    entry_id: int
    t_edit: float
    t_draft: float


def percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _sensor_ticks(instance) -> list:
    from dagster._core.definitions.run_request import InstigatorType

    ticks = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.name == SENSOR:
            ticks.extend(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return ticks


def _run_marks(instance, run_id: str) -> dict[str, float]:
    """Timestamps of the run's milestones from its event log."""
    from dagster import DagsterEventType

    marks: dict[str, float] = {}
    for e in instance.all_logs(run_id):
        ev = e.dagster_event
        if ev is None:
            continue
        t = ev.event_type
        if t == DagsterEventType.RUN_ENQUEUED:
            marks.setdefault("enqueued", e.timestamp)
        elif t == DagsterEventType.RUN_STARTING:
            marks.setdefault("starting", e.timestamp)
        elif t == DagsterEventType.ENGINE_EVENT and (ev.message or "").startswith("Started process for run"):
            marks.setdefault("process", e.timestamp)
        elif t == DagsterEventType.RUN_START:
            marks.setdefault("run_start", e.timestamp)
        elif t == DagsterEventType.STEP_START and ev.step_key == POST_STEP:
            marks.setdefault("post_start", e.timestamp)
        elif t == DagsterEventType.STEP_SUCCESS and ev.step_key == POST_STEP:
            marks.setdefault("post_end", e.timestamp)
        elif t in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            marks.setdefault("run_end", e.timestamp)
    return marks


def edit_stages(instance, edits: Sequence[Edit]) -> list[dict[str, float]]:
    """Per edit, the seconds of each stage (missing marks leave a stage out); also ``after_draft``: the run's
    steps after the posting step (reconciliation, checks), which hold the partition's run slot but not the
    draft."""
    from dagster import RunsFilter

    runs = sorted(instance.get_run_records(RunsFilter(job_name="sync_job")), key=lambda r: r.create_timestamp)
    ticks = _sensor_ticks(instance)
    tick_of = {rid: t for t in ticks for rid in t.run_ids}
    out: list[dict[str, float]] = []
    for ed in edits:
        rec = next((r for r in runs if r.create_timestamp.timestamp() >= ed.t_edit
                    and str(ed.entry_id) in r.dagster_run.tags.get(CHANGED_TAG, "").split(",")), None)
        if rec is None:
            continue
        created = rec.create_timestamp.timestamp()
        m = _run_marks(instance, rec.dagster_run.run_id)
        tick = tick_of.get(rec.dagster_run.run_id)
        chain = [("tick_wait", ed.t_edit, tick.timestamp if tick else None),
                 ("sensor_eval", tick.timestamp if tick else None, created),
                 ("run_create", created, m.get("enqueued")),
                 ("queue", m.get("enqueued"), m.get("starting")),
                 ("worker_start", m.get("starting"), m.get("process")),
                 ("code_load", m.get("process"), m.get("run_start")),
                 ("steps_before_post", m.get("run_start"), m.get("post_start")),
                 ("accounting_write", m.get("post_start"), m.get("post_end")),
                 ("seen", m.get("post_end"), ed.t_draft),
                 ("after_draft", m.get("post_end"), m.get("run_end"))]
        out.append({name: b - a for name, a, b in chain if a is not None and b is not None})
    return out


def tick_periods(instance) -> list[float]:
    """Seconds between the change-feed sensor's consecutive ticks. The daemon looks at its sensors every 5 s and a
    tick is due once ``minimum_interval_seconds`` have passed since the previous one started, so a 10 s interval
    ticks every 10 or 15 s: the tick wait's upper bound."""
    starts = sorted(t.timestamp for t in _sensor_ticks(instance))
    return [b - a for a, b in zip(starts, starts[1:], strict=False)]


def run_stages(instance, run_id: str) -> dict[str, float]:
    """One run's own stages (a UI-style launch): created → enqueued → starting → worker up → code loaded → done."""
    rec = instance.get_run_record_by_id(run_id)
    m = {"created": rec.create_timestamp.timestamp(), **_run_marks(instance, run_id)}
    chain = (("run_create", "created", "enqueued"), ("queue", "enqueued", "starting"),
             ("worker_start", "starting", "process"), ("code_load", "process", "run_start"),
             ("steps", "run_start", "run_end"))
    return {name: round(m[b] - m[a], 1) for name, a, b in chain if a in m and b in m}


def summarize(per_edit: Sequence[dict[str, float]]) -> dict[str, Any]:
    """``{stage: "p50 / p95"}`` in seconds, in path order."""
    out: dict[str, Any] = {}
    for name in (*STAGES, "after_draft"):
        xs = [d[name] for d in per_edit if name in d]
        if xs:
            out[name] = f"{percentile(xs, 0.5):.1f} / {percentile(xs, 0.95):.1f}"
    return out
