"""The heartbeat: a synthetic change pushed through the real path, and the check that it arrived.

A probe edits one dedicated time entry in the project system (its hours alternate between 0.25 and 0.50,
its notes carry the time sent). The pipeline's ordinary automation — change-feed sensor, sync run, posting —
must bring that change to the entity's draft invoice for the probe's client in the accounting system. The
probe has arrived when that draft's total quantity equals the probe's hours (the client bills nothing else
in the period, so nothing else moves it). A probe that has not arrived by the deadline is an alert: some part
of the path (sensor, daemon, run queue, an API, posting) is stuck.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.domain import ids
from sync_pipeline.domain.periods import Period, today_in

PROBE_HOURS = (Decimal("0.25"), Decimal("0.50"))


@dataclass
class Probe:
    entry_id: str
    hours: str
    sent_at: str  # ISO UTC
    reference_prefix: str


@dataclass
class HeartbeatState:
    probe: Probe | None = None
    alerted: bool = False
    last_latency_s: float | None = None
    arrived_count: int = 0
    last_hours: str | None = None

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "probe": asdict(self.probe) if self.probe else None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> HeartbeatState:
        if not text:
            return cls()
        d = json.loads(text)
        return cls(Probe(**d["probe"]) if d.get("probe") else None, bool(d.get("alerted")),
                   d.get("last_latency_s"), int(d.get("arrived_count", 0)), d.get("last_hours"))


def send_probe(harvest: HarvestClient, *, entity: str, timezone: str, entry_id: str, client_id: str,
               previous_hours: str | None, now: datetime | None = None) -> Probe:
    """Edit the probe entry to the other probe value (so every probe is a real change)."""
    now = now or datetime.now(UTC)
    hours = PROBE_HOURS[1] if previous_hours is not None and Decimal(previous_hours) == PROBE_HOURS[0] \
        else PROBE_HOURS[0]
    sent = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    harvest.update_time_entry(entry_id, {"hours": str(hours), "notes": f"sync_pipeline heartbeat probe {sent}"})
    period = Period.of(today_in(timezone, now))
    prefix = ids.invoice_reference(entity, client_id, period.key).rsplit("-R", 1)[0] + "-R"
    return Probe(entry_id=str(entry_id), hours=str(hours), sent_at=sent, reference_prefix=prefix)


def draft_quantity(target: AccountingTarget, reference_prefix: str) -> Decimal | None:
    """Total quantity on the live draft invoice whose reference starts with the prefix (any revision)."""
    found: Decimal | None = None
    invoices = target.documents("invoice", reference_prefix=reference_prefix).documents
    for inv in sorted(invoices, key=lambda d: d.reference or ""):
        if inv.status != "DRAFT":
            continue
        found = sum((li.quantity or Decimal(0) for li in inv.lines), Decimal(0))
    return found


def arrived(target: AccountingTarget, probe: Probe) -> bool:
    q = draft_quantity(target, probe.reference_prefix)
    return q is not None and q == Decimal(probe.hours)


def age_seconds(probe: Probe, now: datetime | None = None) -> float:
    sent = datetime.fromisoformat(probe.sent_at.replace("Z", "+00:00"))
    return ((now or datetime.now(UTC)) - sent).total_seconds()


def missing_alert_details(probe: Probe, deadline_s: int, state: HeartbeatState) -> dict[str, Any]:
    return {"probe": asdict(probe), "deadline_s": deadline_s, "age_s": round(age_seconds(probe)),
            "last_latency_s": state.last_latency_s, "arrived_before": state.arrived_count}
