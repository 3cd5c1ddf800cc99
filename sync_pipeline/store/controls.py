"""Posting controls per entity: the kill switch and the plan guard's limits.

Kept in the operational store (not in code or the mapping) so an operator can stop automated
posting at once — ``sync-pipeline posting pause --entity E --reason ...`` — without a deploy;
extraction, billing and the dry-run plan keep running. Every change is written to the audit trail
(``store.audit``) in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

posting_controls = sa.Table(
    "posting_controls",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("posting_enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("reason", sa.Text),
    sa.Column("max_invoices", sa.Integer),  # guard: documents one plan may write
    sa.Column("max_total_minor", sa.Text),  # guard: JSON {currency: minor units} one plan may write
    sa.Column("changed_by", sa.String(255)),
    sa.Column("changed_at", sa.String(40)),
)


@dataclass(frozen=True)
class Controls:
    entity: str
    posting_enabled: bool = True
    reason: str | None = None
    max_invoices: int | None = None
    max_total_minor: dict[str, int] = field(default_factory=dict)
    changed_by: str | None = None
    changed_at: str | None = None

    @property
    def has_limits(self) -> bool:
        return self.max_invoices is not None or bool(self.max_total_minor)


class PostingControls:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def get(self, entity: str) -> Controls:
        with self.store.engine.connect() as c:
            row = c.execute(sa.select(posting_controls).where(posting_controls.c.entity == entity)).mappings().first()
        if row is None:
            return Controls(entity)
        return Controls(entity, bool(row["posting_enabled"]), row["reason"], row["max_invoices"],
                        {k: int(v) for k, v in json.loads(row["max_total_minor"] or "{}").items()},
                        row["changed_by"], row["changed_at"])

    def all(self) -> list[Controls]:
        with self.store.engine.connect() as c:
            names = [r.entity for r in c.execute(sa.select(posting_controls.c.entity).order_by(posting_controls.c.entity))]
        return [self.get(n) for n in names]

    def _save(self, ctl: Controls, actor: str, action: str, detail: dict[str, Any]) -> Controls:
        values = {"posting_enabled": ctl.posting_enabled, "reason": ctl.reason, "max_invoices": ctl.max_invoices,
                  "max_total_minor": json.dumps(ctl.max_total_minor, sort_keys=True), "changed_by": actor,
                  "changed_at": now_iso()}
        with self.store.engine.begin() as c:
            n = c.execute(posting_controls.update().where(posting_controls.c.entity == ctl.entity).values(**values)).rowcount
            if not n:
                c.execute(posting_controls.insert().values(entity=ctl.entity, **values))
            audit.append(c, actor=actor, action=action, entity=ctl.entity, subject=ctl.entity, detail=detail)
        return self.get(ctl.entity)

    def pause(self, entity: str, *, reason: str, actor: str) -> Controls:
        """Kill switch on: automated posting for the entity stops (extraction continues)."""
        if not reason.strip():
            raise ValueError("say why posting is paused (--reason): the next person on call reads it")
        cur = self.get(entity)
        return self._save(Controls(entity, False, reason, cur.max_invoices, cur.max_total_minor), actor,
                          "posting_paused", {"reason": reason})

    def resume(self, entity: str, *, actor: str, reason: str | None = None) -> Controls:
        cur = self.get(entity)
        return self._save(Controls(entity, True, reason, cur.max_invoices, cur.max_total_minor), actor,
                          "posting_resumed", {"reason": reason, "was": cur.reason})

    def set_limits(self, entity: str, *, actor: str, max_invoices: int | None = None,
                   max_total_minor: dict[str, int] | None = None, clear: bool = False) -> Controls:
        cur = self.get(entity)
        new = Controls(entity, cur.posting_enabled, cur.reason,
                       None if clear else (max_invoices if max_invoices is not None else cur.max_invoices),
                       {} if clear else {**cur.max_total_minor, **(max_total_minor or {})})
        return self._save(new, actor, "posting_limits_set",
                          {"max_invoices": new.max_invoices, "max_total_minor": new.max_total_minor})
