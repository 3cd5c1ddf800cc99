"""Incremental-extraction cursors: where each source resource was read up to, persisted and resumable.

One row per (source, account, resource): the last ``updated_since`` high-water mark we consumed
completely. A cursor only moves forward after its pages were stored, so a crash mid-extraction
re-reads (and de-duplicates) rather than skips.

Beside a cursor, what was read in its own second (``source_cursor_seen``: document id → fingerprint of its
content): a target whose clock has whole seconds is asked again from the start of that second, and these say
which of the documents it answers were read before (``domain/pull_cursor.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.store.operational import metadata, now_iso

source_cursors = sa.Table(
    "source_cursors",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.String(64), nullable=False),
    sa.Column("records", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

source_cursor_seen = sa.Table(
    "source_cursor_seen",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("document_id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)


@dataclass(frozen=True)
class Cursor:
    source: str
    account: str
    resource: str
    cursor: str
    records: int
    updated_at: str


class CursorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[source_cursors, source_cursor_seen])

    def get(self, source: str, account: str, resource: str) -> Cursor | None:
        t = source_cursors
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.source == source, t.c.account == account,
                                               t.c.resource == resource)).mappings().first()
        return Cursor(**row) if row else None

    def seen(self, source: str, account: str, resource: str) -> dict[str, str]:
        """The documents read in the cursor's own second: id → fingerprint."""
        t = source_cursor_seen
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t.c.document_id, t.c.fingerprint).where(
                t.c.source == source, t.c.account == account, t.c.resource == resource)).all()
        return {r.document_id: r.fingerprint for r in rows}

    def advance(self, source: str, account: str, resource: str, cursor: str, records: int,
                seen: Mapping[str, str] | None = None) -> Cursor:
        """Move the cursor forward (never backwards) after ``records`` more were stored; ``seen`` (when given)
        replaces what was read in the cursor's second, in the same transaction, unless the stored cursor is later."""
        t, s = source_cursors, source_cursor_seen
        with self.engine.begin() as c:
            row = c.execute(sa.select(t).where(t.c.source == source, t.c.account == account,
                                               t.c.resource == resource).with_for_update()).mappings().first()
            if row is None:
                new = cursor
                c.execute(t.insert().values(source=source, account=account, resource=resource, cursor=cursor,
                                            records=records, updated_at=now_iso()))
            else:
                new = max(row["cursor"], cursor)
                c.execute(t.update().where(t.c.source == source, t.c.account == account, t.c.resource == resource)
                          .values(cursor=new, records=row["records"] + records, updated_at=now_iso()))
            if seen is not None and new == cursor:
                c.execute(s.delete().where(s.c.source == source, s.c.account == account, s.c.resource == resource))
                if seen:
                    c.execute(s.insert(), [{"source": source, "account": account, "resource": resource,
                                            "document_id": doc, "fingerprint": fp} for doc, fp in seen.items()])
        got = self.get(source, account, resource)
        assert got is not None
        return got

    def reset(self, source: str, account: str, resource: str | None = None) -> None:
        t = source_cursors
        with self.engine.begin() as c:
            for table in (t, source_cursor_seen):
                q = table.delete().where(table.c.source == source, table.c.account == account)
                if resource:
                    q = q.where(table.c.resource == resource)
                c.execute(q)
