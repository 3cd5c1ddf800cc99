"""From stored webhook events to the partitions to refresh.

The sensor's cursor is a floor id (every event at or below it is dealt with) plus the ids above it
already dealt with. Each evaluation re-reads everything above the floor, so an event whose insert
committed after a higher id was read (concurrent deliveries) is not skipped; the floor advances past
events older than the settle window. An invoice or credit note event refreshes the entity × period
the sync ledger filed that document under; an event for a document the ledger does not know yet
(the webhook can overtake the ledger write) is retried until the settle window passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync_pipeline.contracts.mapping import Mapping
from sync_pipeline.services.changefeed import parse_instant, run_key
from sync_pipeline.store.events import EventStore, StoredEvent

SETTLE_WINDOW = timedelta(minutes=10)
DOCUMENT_CATEGORIES = {"INVOICE", "CREDITNOTE"}


@dataclass
class EventCursor:
    floor: int = 0
    done: set[int] = field(default_factory=set)

    def to_json(self) -> str:
        return json.dumps({"floor": self.floor, "done": sorted(self.done)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> EventCursor:
        if not text:
            return cls()
        d = json.loads(text)
        return cls(int(d.get("floor", 0)), {int(i) for i in d.get("done", [])})


@dataclass(frozen=True)
class Refresh:
    entity: str
    period: str
    run_key: str
    event_ids: tuple[int, ...]
    trace_ids: tuple[str, ...] = ()  # the receiver's, first arrival first: the run's trace, then linked ones


@dataclass
class RefreshBatch:
    refreshes: list[Refresh]
    cursor: EventCursor
    notes: list[str]


def plan_refreshes(events: EventStore, mapping: Mapping, cursor: EventCursor, *, now: datetime,
                   settle: timedelta = SETTLE_WINDOW) -> RefreshBatch:
    tenants = {e.xero_tenant_id: e.key for e in mapping.entities}
    rows = events.after(cursor.floor)
    by_partition: dict[tuple[str, str], list[StoredEvent]] = {}
    done = set(cursor.done)
    notes: list[str] = []
    for ev in rows:
        if ev.id in done:
            continue
        entity = tenants.get(ev.tenant_id)
        if entity is None:
            notes.append(f"event {ev.id}: tenant {ev.tenant_id} is not in the mapping; ignored")
            done.add(ev.id)
            continue
        if ev.category not in DOCUMENT_CATEGORIES:
            notes.append(f"event {ev.id}: {ev.category} {ev.event_type} needs no partition refresh")
            done.add(ev.id)
            continue
        where = events.document_partition(ev.resource_id)
        if where is None:
            if now - parse_instant(ev.received_at) > settle:
                notes.append(f"event {ev.id}: {ev.category} {ev.resource_id} is not in the sync ledger after "
                             f"{settle}; not a document this pipeline posted, ignored")
                done.add(ev.id)
            else:
                notes.append(f"event {ev.id}: {ev.category} {ev.resource_id} not in the sync ledger yet; retried")
            continue
        ledger_entity, period = where
        if ledger_entity != entity:
            notes.append(f"event {ev.id}: ledger files {ev.resource_id} under {ledger_entity}, tenant says "
                         f"{entity}; refreshing the ledger's")
        by_partition.setdefault((ledger_entity, period), []).append(ev)
        done.add(ev.id)
    refreshes = [
        Refresh(entity=e, period=p, run_key=run_key("xero-webhook", e, p, (x.event_key for x in evs)),
                event_ids=tuple(x.id for x in evs),
                trace_ids=tuple(dict.fromkeys(x.trace_id for x in sorted(evs, key=lambda x: x.id) if x.trace_id)))
        for (e, p), evs in sorted(by_partition.items())
    ]
    # advance the floor over the settled prefix: ids dealt with and older than the settle window
    floor = cursor.floor
    for ev in rows:
        if ev.id in done and now - parse_instant(ev.received_at) > settle:
            floor = ev.id
        else:
            break
    return RefreshBatch(refreshes, EventCursor(floor, {i for i in done if i > floor}), notes)
