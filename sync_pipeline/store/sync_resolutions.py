"""Resolutions of sync-reconciliation exceptions (a document missing from, extra in, or differing in the accounting
system), decided in the workbench.

A resolution is bound to what the person saw: the exception's status and its ``detail`` (what differs). When the
next reconciliation of the period shows something else for that document, the resolution no longer applies and the
exception is open again. Resolutions are appended (the latest per document wins), each with the person, their role,
the time and the comment, and written to the audit trail in the same transaction.

A re-post also records what came of it (``outcome``: ``posted``, ``awaiting_approval``, ``blocked``, ``failed``;
the ``document_number`` written, or the ``error``; the posting ``run_id``). Only a re-post that posted closes the
exception; any other outcome stays visible on the open exception until someone acts again.

| resolution | meaning |
|---|---|
| ``repost`` | the accounting system should hold our version: the workbench posts the period's plan again at once |
| ``accept`` | the accounting system's version stands (a change made there on purpose) |
| ``explain`` | neither: the comment says why (e.g. a document created in Xero by hand under our reference) |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

RESOLUTIONS = ("repost", "accept", "explain")

sync_exception_resolutions = sa.Table(
    "sync_exception_resolutions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("document", sa.String(255), nullable=False),  # our reference (the reconciliation's key)
    sa.Column("status_seen", sa.String(16), nullable=False),  # missing | extra | mismatch
    sa.Column("detail_hash", sa.String(64), nullable=False),  # what differed when it was decided
    sa.Column("resolution", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("role", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(24)),  # re-posts: posted | awaiting_approval | blocked | failed
    sa.Column("document_number", sa.String(255)),  # re-posts: what the accounting system numbered the document
    sa.Column("error", sa.Text),  # re-posts that did not post: why, and what to do
    sa.Column("run_id", sa.String(64)),  # re-posts: the posting run (ledger, audit trail)
    sa.Index("ix_sync_exception_resolutions_doc", "entity", "period", "document"),
)


def detail_hash(status: str, detail: str) -> str:
    return hashlib.sha256(f"{status}\x1f{detail}".encode()).hexdigest()


@dataclass(frozen=True)
class Resolution:
    entity: str
    period: str
    document: str
    status_seen: str
    detail_hash: str
    resolution: str
    comment: str
    decided_by: str
    role: str
    decided_at: str
    outcome: str | None = None
    document_number: str | None = None
    error: str | None = None
    run_id: str | None = None

    @property
    def closes(self) -> bool:
        """Whether it closes the exception: accept and explain do; a re-post only when it posted (one recorded
        before re-posts posted, without an outcome, closed it as a request)."""
        return self.resolution != "repost" or self.outcome in (None, "posted")

    def applies_to(self, status: str, detail: str) -> bool:
        """Whether the resolution was taken on this very difference (not an older one)."""
        return self.status_seen == status and self.detail_hash == detail_hash(status, detail)


class SyncResolutions:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def resolve(self, entity: str, period: str, document: str, *, status: str, detail: str, resolution: str,
                comment: str, actor: str, role: str, outcome: str | None = None, document_number: str | None = None,
                error: str | None = None, run_id: str | None = None) -> Resolution:
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {resolution!r}: use one of {', '.join(RESOLUTIONS)}")
        if not comment.strip():
            raise ValueError("say why in the comment: it is kept with the resolution in the audit trail")
        row = {"entity": entity, "period": period, "document": document, "status_seen": status,
               "detail_hash": detail_hash(status, detail), "resolution": resolution, "comment": comment.strip(),
               "decided_by": actor, "role": role, "decided_at": now_iso(), "outcome": outcome,
               "document_number": document_number, "error": error, "run_id": run_id}
        posted = {k: row[k] for k in ("outcome", "document_number", "error", "run_id") if row[k] is not None}
        with self.store.engine.begin() as c:
            c.execute(sync_exception_resolutions.insert().values(**row))
            audit.append(c, actor=actor, action=f"sync_exception_{resolution}", entity=entity,
                         subject=f"{period}/{document}",
                         detail={"status": status, "detail": detail, "comment": row["comment"], "role": role,
                                 **posted})
        return Resolution(**row)

    def history(self, entity: str, period: str, document: str) -> list[Resolution]:
        t = sync_exception_resolutions
        q = sa.select(t).where(t.c.entity == entity, t.c.period == period, t.c.document == document).order_by(t.c.id)
        with self.store.engine.connect() as c:
            return [Resolution(**{k: r[k] for k in Resolution.__dataclass_fields__}) for r in c.execute(q).mappings()]

    def latest(self, entity: str | None = None) -> dict[tuple[str, str, str], Resolution]:
        """The latest resolution per (entity, period, document)."""
        t = sync_exception_resolutions
        q = sa.select(t).order_by(t.c.id)
        if entity:
            q = q.where(t.c.entity == entity)
        out: dict[tuple[str, str, str], Resolution] = {}
        with self.store.engine.connect() as c:
            for r in c.execute(q).mappings():
                res = Resolution(**{k: r[k] for k in Resolution.__dataclass_fields__})
                out[(res.entity, res.period, res.document)] = res
        return out

