"""Decisions on person-days held for review (entries adding up past ``max_hours_per_day``).

A person-day over the daily limit is held as a whole by ``clean_time_entries`` until someone decides:
``release`` (bill it as the other rules say) or ``quarantine`` (every entry of the day quarantined with the
decision as its reason). A decision binds to the day's total hours when it was taken: if the day changes
afterwards, it is held again. Decisions are appended (the latest per person-day wins), each with its actor and
time, and written to the audit trail in the same transaction.

    sync-pipeline hours review --entity E --period YYYY-MM
    sync-pipeline hours decide --entity E --period YYYY-MM --user U --day YYYY-MM-DD --release --note "..."
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

DECISIONS = ("release", "quarantine")
NOTE = "hours_day_decisions.note"  # encrypted under the field key (contracts.classification.PROTECTED)

hours_day_decisions = sa.Table(
    "hours_day_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("day_hours", sa.String(40), nullable=False),  # the day's total the decision was taken on
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Index("ix_hours_day_decisions_day", "entity", "day"),
)

#: the relation ``clean_time_entries.sql`` joins (the latest decision per person-day of the period)
DAY_DECISIONS_SCHEMA = pa.schema([("user_id", pa.string()), ("day", pa.date32()), ("day_hours", pa.decimal128(18, 6)),
                                  ("decision", pa.string()), ("decided_by", pa.string()),
                                  ("decided_at", pa.string()), ("note", pa.string())])


@dataclass(frozen=True)
class DayDecision:
    entity: str
    user_id: str
    day: str
    day_hours: Decimal
    decision: str
    note: str
    decided_by: str
    decided_at: str
    id: int | None = None  # the hours_day_decisions row


class HoursReviews:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def decide(self, entity: str, user_id: str, day: date, day_hours: Decimal, decision: str, *, note: str,
               actor: str) -> DayDecision:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r}: use release or quarantine")
        if not note.strip():
            raise ValueError("say why (--note): it becomes the entries' reason and is kept in the audit trail")
        row = {"entity": entity, "user_id": user_id, "day": day.isoformat(), "day_hours": str(day_hours),
               "decision": decision, "note": note, "decided_by": actor, "decided_at": now_iso()}
        # the note may name people: encrypted at rest; the audit trail keeps a keyed hash of it and the row id
        sealed, note_hash = self.store.protection.encrypt_field(note, NOTE), self.store.protection.keyed_hash(note, NOTE)
        with self.store.engine.begin() as c:
            res = c.execute(hours_day_decisions.insert().values(**{**row, "note": sealed}))
            row_id = int(res.inserted_primary_key[0])
            audit.append(c, actor=actor, action=f"hours_day_{decision}d", entity=entity,
                         subject=f"{user_id}@{day.isoformat()}",
                         detail={"day_hours": str(day_hours), "decision_id": row_id, "note_hash": note_hash})
        return DayDecision(**{**row, "day_hours": Decimal(row["day_hours"]), "id": row_id})

    def latest(self, entity: str, start: date, end: date) -> list[DayDecision]:
        """The latest decision on each person-day from ``start`` to ``end`` (inclusive)."""
        t = hours_day_decisions
        q = (sa.select(t).where(t.c.entity == entity, t.c.day >= start.isoformat(), t.c.day <= end.isoformat())
             .order_by(t.c.id))
        with self.store.engine.connect() as c:
            rows = c.execute(q).mappings().all()
        last = {(r["user_id"], r["day"]): r for r in rows}
        prot = self.store.protection
        return [DayDecision(r["entity"], r["user_id"], r["day"], Decimal(r["day_hours"]), r["decision"],
                            prot.decrypt_field(r["note"], NOTE) or "", r["decided_by"], r["decided_at"], r["id"])
                for r in last.values()]


def as_relation(decisions: list[DayDecision]) -> pa.Table:
    """What ``clean_time_entries.sql`` joins. The note may name people and the entries' reason is written to the
    warehouse: the reason points at the decision (``sync-pipeline hours review`` shows its note) instead."""
    return pa.Table.from_pylist([{"user_id": d.user_id, "day": date.fromisoformat(d.day), "day_hours": d.day_hours,
                                  "decision": d.decision, "decided_by": d.decided_by, "decided_at": d.decided_at,
                                  "note": f"decision #{d.id}, see its note with sync-pipeline hours review"}
                                 for d in decisions], schema=DAY_DECISIONS_SCHEMA)
