"""Service-level objectives: what is measured per entity, and how a measurement is judged.

Pure functions over plain values; ``sync_pipeline.defs.monitoring`` gathers the values from the Dagster
instance and the operational store. Each objective has a warn and a breach threshold
(``sync_pipeline.contracts.slo``); a value equal to a threshold passes.

| objective | value |
|---|---|
| ``sync_success_rate`` | succeeded / (succeeded + failed) ``sync_job`` runs of the entity in the window |
| ``change_to_draft_latency`` | p95 seconds from a change-feed run's creation to its end, successful runs |
| ``dead_letter_backlog`` | open dead letters of the entity |
| ``reconciliation_mismatches`` | partitions whose latest reconciliation check failed |
| ``heartbeat_age`` | seconds since the heartbeat probe last reached the draft invoice |
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync_pipeline.contracts.slo import OBJECTIVES, SloConfig

STATUSES = ("ok", "no_data", "warn", "breach")


@dataclass(frozen=True)
class Observation:
    """One measured value; ``value`` None means nothing to measure (no runs, no heartbeat configured)."""

    objective: str
    entity: str
    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SloResult:
    objective: str
    entity: str
    value: float | None
    status: str  # ok | no_data | warn | breach
    warn: float
    breach: float
    unit: str
    team: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def incident_key(self) -> str:
        return f"{self.objective}/{self.entity}"

    @property
    def failing(self) -> bool:
        return self.status in ("warn", "breach")

    def describe(self) -> str:
        shown = "no data" if self.value is None else _fmt(self.value, self.unit)
        limit = "at least" if not OBJECTIVES[self.objective][1] else "at most"
        return (f"{self.objective} for {self.entity} is {shown} ({self.status}; warn unless {limit} "
                f"{_fmt(self.warn, self.unit)}, breach beyond {_fmt(self.breach, self.unit)})")


def _fmt(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "seconds":
        return f"{value:.1f} s"
    return f"{value:g} {unit}"


def judge(value: float | None, warn: float, breach: float, *, higher_is_worse: bool) -> str:
    """``ok`` at or better than ``warn``, ``warn`` up to and at ``breach``, ``breach`` beyond it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no_data"
    worse = (lambda v, t: v > t) if higher_is_worse else (lambda v, t: v < t)
    if worse(value, breach):
        return "breach"
    if worse(value, warn):
        return "warn"
    return "ok"


def evaluate(config: SloConfig, observations: Iterable[Observation]) -> list[SloResult]:
    """Each observation judged against its entity's thresholds; disabled objectives are left out."""
    out: list[SloResult] = []
    for o in observations:
        limits = config.thresholds(o.entity)
        if o.objective not in limits:
            continue
        t = limits[o.objective]
        unit, higher_is_worse = OBJECTIVES[o.objective]
        out.append(SloResult(o.objective, o.entity, o.value, judge(o.value, t.warn, t.breach,
                                                                    higher_is_worse=higher_is_worse),
                             t.warn, t.breach, unit, config.team_of(o.entity), dict(o.detail)))
    return out


# ---- measurements: each turns raw facts into one Observation --------------------------------------------------

@dataclass(frozen=True)
class RunOutcome:
    """A finished ``sync_job`` run of an entity: did it succeed, and how long from creation to end."""

    entity: str
    succeeded: bool
    seconds: float | None = None
    from_change_feed: bool = False


def success_rate(entity: str, runs: Iterable[RunOutcome]) -> Observation:
    mine = [r for r in runs if r.entity == entity]
    ok = sum(r.succeeded for r in mine)
    value = ok / len(mine) if mine else None
    return Observation("sync_success_rate", entity, value, {"runs": len(mine), "succeeded": ok,
                                                            "failed": len(mine) - ok})


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile (the value 95 % of the sample is at or below)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def change_to_draft_latency(entity: str, runs: Iterable[RunOutcome]) -> Observation:
    secs = [r.seconds for r in runs if r.entity == entity and r.succeeded and r.from_change_feed
            and r.seconds is not None]
    return Observation("change_to_draft_latency", entity, p95(secs),
                       {"runs": len(secs), "max_s": max(secs) if secs else None})


def dead_letter_backlog(entity: str, open_letters: Iterable[dict[str, Any]]) -> Observation:
    mine = [d for d in open_letters if str(d.get("entity")) == entity]
    return Observation("dead_letter_backlog", entity, float(len(mine)),
                       {"oldest_id": min((int(d["id"]) for d in mine), default=None),
                        "periods": sorted({str(d.get("period")) for d in mine})})


def reconciliation_mismatches(entity: str, latest_passed: dict[tuple[str, str], bool] | None) -> Observation:
    """``latest_passed``: (check, partition key ``entity|period``) → whether its latest evaluation passed
    (None: the checks could not be read — no data)."""
    if latest_passed is None:
        return Observation("reconciliation_mismatches", entity, None, {"reason": "no asset graph to read"})
    failing = sorted(f"{check} {part}" for (check, part), passed in latest_passed.items()
                     if part.split("|", 1)[0] == entity and not passed)
    return Observation("reconciliation_mismatches", entity, float(len(failing)), {"failing": failing[:20]})


def heartbeat_age(entity: str, *, heartbeat_entity: str | None, last_arrived_at: datetime | None,
                  first_sent_at: datetime | None, now: datetime) -> Observation:
    """Seconds since the probe last arrived (or, before any arrival, since the first probe was sent).

    Only the heartbeat's own entity is measured; others have no data."""
    if heartbeat_entity != entity:
        return Observation("heartbeat_age", entity, None, {"reason": "not the heartbeat entity"})
    since = last_arrived_at or first_sent_at
    if since is None:
        return Observation("heartbeat_age", entity, None, {"reason": "no probe sent yet"})
    return Observation("heartbeat_age", entity, max(0.0, (now - since).total_seconds()),
                       {"since": since.isoformat(timespec="seconds"),
                        "arrived_before": last_arrived_at is not None})
