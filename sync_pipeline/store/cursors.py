"""Incremental-extraction cursors: where each source resource was read up to, persisted and resumable.

One row per (source, account, resource): the last ``updated_since`` high-water mark we consumed
completely. A cursor only moves forward after its pages were stored, so a crash mid-extraction
re-reads (and de-duplicates) rather than skips.
"""

from __future__ import annotations

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
        metadata.create_all(engine, tables=[source_cursors])

    def get(self, source: str, account: str, resource: str) -> Cursor | None:
        t = source_cursors
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.source == source, t.c.account == account,
                                               t.c.resource == resource)).mappings().first()
        return Cursor(**row) if row else None

    def advance(self, source: str, account: str, resource: str, cursor: str, records: int) -> Cursor:
        """Move the cursor forward (never backwards) after ``records`` more were stored."""
        t = source_cursors
        with self.engine.begin() as c:
            row = c.execute(sa.select(t).where(t.c.source == source, t.c.account == account,
                                               t.c.resource == resource).with_for_update()).mappings().first()
            if row is None:
                c.execute(t.insert().values(source=source, account=account, resource=resource, cursor=cursor,
                                            records=records, updated_at=now_iso()))
            else:
                new = max(row["cursor"], cursor)
                c.execute(t.update().where(t.c.source == source, t.c.account == account, t.c.resource == resource)
                          .values(cursor=new, records=row["records"] + records, updated_at=now_iso()))
        got = self.get(source, account, resource)
        assert got is not None
        return got

    def reset(self, source: str, account: str, resource: str | None = None) -> None:
        t = source_cursors
        q = t.delete().where(t.c.source == source, t.c.account == account)
        if resource:
            q = q.where(t.c.resource == resource)
        with self.engine.begin() as c:
            c.execute(q)
