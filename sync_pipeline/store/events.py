"""The event store: webhook events as received, durable and idempotent on event identity.

The webhook receiver appends here and answers the sender only after the commit; the
``xero_webhook_events`` sensor reads from here. An event's identity is a digest of what the sender
says about it (tenant, category, type, resource, event time): a re-delivered event is the same
row (its ``deliveries`` counter goes up), never a second one. Order of arrival does not matter:
readers act on the current state of the resource, not on the event's content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata, now_iso, sync_ledger

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False, index=True),
    sa.Column("resource_url", sa.Text),
    sa.Column("event_at", sa.String(40), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.Column("last_received_at", sa.String(40), nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("trace_id", sa.String(32)),  # minted by the receiver when the delivery arrived (domain.tracing)
)

IDENTITY_FIELDS = ("tenantId", "eventCategory", "eventType", "resourceId", "eventDateUtc")


class EventError(ValueError):
    """An event lacks what its identity is made of."""


def event_key(source: str, event: dict[str, Any]) -> str:
    missing = [f for f in IDENTITY_FIELDS if not event.get(f)]
    if missing:
        raise EventError(f"{source} event lacks {', '.join(missing)}: {json.dumps(event, default=str)[:300]}")
    ident = "\x1f".join([source, *(str(event[f]) for f in IDENTITY_FIELDS)])
    return hashlib.sha256(ident.encode()).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event_key: str
    source: str
    tenant_id: str
    category: str
    event_type: str
    resource_id: str
    resource_url: str | None
    event_at: str
    received_at: str
    deliveries: int
    trace_id: str | None = None


@dataclass(frozen=True)
class RecordResult:
    new: int
    duplicates: int


class EventStore:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store
        self.engine = store.engine

    def _insert(self):
        name = self.engine.dialect.name  # the dialect's module imported when used (PostgreSQL's costs ~0.1 s)
        if name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(webhook_events).on_conflict_do_nothing(index_elements=["event_key"])
        if name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(webhook_events).on_conflict_do_nothing(index_elements=["event_key"])
        raise NotImplementedError(f"event store supports PostgreSQL and SQLite, not {name}")

    def record(self, source: str, events: list[dict[str, Any]], received_at: str | None = None, *,
               trace_id: str | None = None) -> RecordResult:
        """Store one delivery's events in one transaction; re-delivered events only bump ``deliveries`` (and keep
        the trace id of their first arrival). ``trace_id``: the one the receiver gave this delivery."""
        keys = [event_key(source, e) for e in events]  # validate all before writing any
        ts = received_at or now_iso()
        new = dup = 0
        with self.engine.begin() as c:
            for key, e in zip(keys, events, strict=True):
                res = c.execute(self._insert().values(
                    event_key=key, source=source, tenant_id=str(e["tenantId"]), category=str(e["eventCategory"]),
                    event_type=str(e["eventType"]), resource_id=str(e["resourceId"]),
                    resource_url=e.get("resourceUrl"), event_at=str(e["eventDateUtc"]), received_at=ts,
                    last_received_at=ts, deliveries=1, payload=json.dumps(e, sort_keys=True, default=str),
                    trace_id=trace_id))
                if res.rowcount:
                    new += 1
                else:
                    dup += 1
                    c.execute(webhook_events.update().where(webhook_events.c.event_key == key).values(
                        deliveries=webhook_events.c.deliveries + 1, last_received_at=ts))
        return RecordResult(new, dup)

    def after(self, floor_id: int, limit: int = 5000) -> list[StoredEvent]:
        """Events with an id above ``floor_id``, oldest first."""
        cols = [webhook_events.c[f] for f in StoredEvent.__dataclass_fields__]
        q = sa.select(*cols).where(webhook_events.c.id > floor_id).order_by(webhook_events.c.id).limit(limit)
        with self.engine.connect() as c:
            return [StoredEvent(**dict(r)) for r in c.execute(q).mappings()]

    def count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(webhook_events)).scalar_one())

    def document_partition(self, target_id: str) -> tuple[str, str] | None:
        """(entity, period) of a document we posted, from the sync ledger; None when it is not ours."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(sync_ledger.c.entity, sync_ledger.c.period)
                            .where(sync_ledger.c.target_id == target_id)).first()
        return (row.entity, row.period) if row else None

    def for_resource(self, resource_id: str) -> list[StoredEvent]:
        """The events received about one document (its id in the accounting system), oldest first."""
        cols = [webhook_events.c[f] for f in StoredEvent.__dataclass_fields__]
        q = sa.select(*cols).where(webhook_events.c.resource_id == resource_id).order_by(webhook_events.c.id)
        with self.engine.connect() as c:
            return [StoredEvent(**dict(r)) for r in c.execute(q).mappings()]
