"""Legal holds: records a purge, an erasure or an archive clean-up must not touch, whatever their age.

A hold names an entity, optionally one period (``YYYY-MM``; none: every period) and optionally one person
(their source user id: ``privacy erase`` refuses that person). Holds are set and released, never deleted:
the row keeps who set it, why, and who released it; each change is an audit event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

legal_holds = sa.Table(
    "legal_holds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7)),  # None: every period of the entity
    sa.Column("person", sa.String(255)),  # None: every person
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("set_by", sa.String(255), nullable=False),
    sa.Column("set_at", sa.String(40), nullable=False),
    sa.Column("released_by", sa.String(255)),
    sa.Column("released_at", sa.String(40)),
    sa.Column("release_reason", sa.Text),
)


class HoldError(ValueError):
    pass


@dataclass(frozen=True)
class Hold:
    id: int
    entity: str
    period: str | None
    person: str | None
    reason: str
    set_by: str
    set_at: str
    released_by: str | None = None
    released_at: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, entity: str, period: str | None = None, person: str | None = None) -> bool:
        """Does this active hold cover records of ``entity`` × ``period`` (about ``person``, when given)?"""
        if not self.active or self.entity not in (entity, "*"):
            return False
        if self.period is not None and period is not None and self.period != period:
            return False
        return self.person is None or person is None or self.person == person

    def describe(self) -> str:
        scope = f"{self.entity}{'' if self.period is None else ' ' + self.period}"
        who = "" if self.person is None else f" person {self.person}"
        return f"hold #{self.id} ({scope}{who}): {self.reason} — set by {self.set_by} at {self.set_at}"


class LegalHolds:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def set(self, entity: str, *, reason: str, by: str, period: str | None = None,
            person: str | None = None) -> Hold:
        if not reason.strip():
            raise HoldError("a legal hold needs a reason (the matter, case or request it serves)")
        row = {"entity": entity, "period": period, "person": person, "reason": reason.strip(), "set_by": by,
               "set_at": now_iso()}
        with self.store.begin() as c:
            hold_id = c.execute(legal_holds.insert().values(**row)).inserted_primary_key[0]
            audit.append(c, actor=by, action="legal_hold_set", entity=entity, subject=f"hold #{hold_id}",
                         detail={**row, "id": hold_id})
        return Hold(int(hold_id), **row)

    def release(self, hold_id: int, *, by: str, reason: str) -> Hold:
        if not reason.strip():
            raise HoldError("releasing a legal hold needs a reason (why the duty to keep ended)")
        with self.store.begin() as c:
            row = c.execute(sa.select(legal_holds).where(legal_holds.c.id == hold_id)).mappings().first()
            if row is None:
                raise HoldError(f"no legal hold #{hold_id}: `sync-pipeline privacy hold list` shows them")
            if row["released_at"] is not None:
                raise HoldError(f"legal hold #{hold_id} was already released by {row['released_by']} at "
                                f"{row['released_at']}")
            at = now_iso()
            c.execute(legal_holds.update().where(legal_holds.c.id == hold_id).values(
                released_by=by, released_at=at, release_reason=reason.strip()))
            audit.append(c, actor=by, action="legal_hold_released", entity=row["entity"], subject=f"hold #{hold_id}",
                         detail={"id": hold_id, "reason": reason.strip(), "hold_reason": row["reason"],
                                 "period": row["period"], "person": row["person"]})
        return self.get(hold_id)

    def get(self, hold_id: int) -> Hold:
        with self.store.engine.connect() as c:
            row = c.execute(sa.select(legal_holds).where(legal_holds.c.id == hold_id)).mappings().first()
        if row is None:
            raise HoldError(f"no legal hold #{hold_id}")
        return _hold(row)

    def all(self, *, active_only: bool = True, entity: str | None = None) -> list[Hold]:
        q = sa.select(legal_holds).order_by(legal_holds.c.id)
        if active_only:
            q = q.where(legal_holds.c.released_at.is_(None))
        if entity is not None:
            q = q.where(legal_holds.c.entity.in_([entity, "*"]))
        with self.store.engine.connect() as c:
            return [_hold(r) for r in c.execute(q).mappings()]

    def covering(self, entity: str, period: str | None = None, person: str | None = None) -> list[Hold]:
        return [h for h in self.all(entity=entity) if h.covers(entity, period, person)]


def _hold(row) -> Hold:
    return Hold(int(row["id"]), row["entity"], row["period"], row["person"], row["reason"], row["set_by"],
                row["set_at"], row["released_by"], row["released_at"])
