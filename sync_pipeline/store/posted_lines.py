"""Posted lines: which source entries each document line bills, and which documents each entry is on.

Two tables on the operational store's metadata:

- ``posted_lines``: one row per line of a document as last written (invoice revisions and credit
  notes), with its content and its source entries;
- ``entry_links``: one row per (source entry, document line): ``billed`` on an invoice line,
  ``credited`` on a credit note line. An entry is billed exactly once when its billed links outnumber
  its credited links by one (or zero once it stopped being billable).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

posted_lines = sa.Table(
    "posted_lines",
    metadata,
    sa.Column("doc_key", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # invoice | credit_note
    sa.Column("reference", sa.String(255), nullable=False),
    sa.Column("line_key", sa.String(64)),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("quantity", sa.String(40), nullable=False),  # Decimal as text: exact on every backend
    sa.Column("unit_amount", sa.String(40), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("source_entry_ids", sa.Text, nullable=False),  # comma separated
    sa.Column("approved_by", sa.String(255)),  # who approved the line's entries (the source's approvers)
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("approved_at", sa.String(40)),  # when (the latest approval of the line's entries)
    # four eyes: who approved the plan that wrote the line, when, and the plan's hash (captured by us)
    sa.Column("plan_approved_by", sa.String(255)),
    sa.Column("plan_approved_at", sa.String(40)),
    sa.Column("plan_hash", sa.String(64)),
)

entry_links = sa.Table(
    "entry_links",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("doc_key", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("period", sa.String(7), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),  # billed | credited
    sa.Column("reference", sa.String(255), nullable=False),
    sa.Column("line_key", sa.String(64)),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("marked_at", sa.String(40)),  # when the project system was told (is_billed / external_reference)
)


class PostedLines:
    """Read and write the posted-lines tables of an operational store."""

    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def record(self, conn: Connection, *, entity: str, period: str, doc_key: str, kind: str, reference: str,
               currency: str, lines: Iterable[dict[str, Any]]) -> None:
        """Replace what a document holds (a draft update rewrites it); ``lines`` are plan lines as dicts."""
        self.record_many(conn, entity=entity, period=period,
                         docs=[{"doc_key": doc_key, "kind": kind, "reference": reference, "currency": currency,
                                "lines": list(lines)}])

    def record_many(self, conn: Connection, *, entity: str, period: str, docs: list[dict[str, Any]]) -> None:
        """``record`` for many documents in a few statements (docs: doc_key, kind, reference, currency, lines)."""
        keys = [d["doc_key"] for d in docs]
        for chunk in _chunks(keys, 500):
            conn.execute(posted_lines.delete().where(posted_lines.c.doc_key.in_(chunk)))
            conn.execute(entry_links.delete().where(entry_links.c.doc_key.in_(chunk)))
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for d in docs:
            self._rows(entity, period, d["doc_key"], d["kind"], d["reference"], d["currency"], d["lines"], rows, links)
        if rows:
            conn.execute(posted_lines.insert(), rows)
        if links:
            conn.execute(entry_links.insert(), links)

    @staticmethod
    def _rows(entity: str, period: str, doc_key: str, kind: str, reference: str, currency: str,
              lines: Iterable[dict[str, Any]], rows: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
        ts = now_iso()
        role = "credited" if kind == "credit_note" else "billed"
        for n, li in enumerate(lines, start=1):
            entries = [str(e) for e in li.get("source_entry_ids") or ()]
            rows.append({"doc_key": doc_key, "line_no": n, "entity": entity, "period": period, "kind": kind,
                         "reference": reference, "line_key": li.get("line_key") or None,
                         "fingerprint": li["fingerprint"], "description": li["description"],
                         "quantity": str(li["quantity"]), "unit_amount": str(li["unit_amount"]),
                         "amount_minor": int(li["amount_minor"]), "currency": currency,
                         "source_entry_ids": ",".join(entries), "approved_by": li.get("approved_by"),
                         "approved_at": li.get("approved_at"), "plan_approved_by": li.get("plan_approved_by"),
                         "plan_approved_at": li.get("plan_approved_at"), "plan_hash": li.get("plan_hash"),
                         "recorded_at": ts})
            links.extend({"entity": entity, "entry_id": e, "doc_key": doc_key, "line_no": n, "period": period,
                          "role": role, "reference": reference, "line_key": li.get("line_key") or None,
                          "recorded_at": ts} for e in dict.fromkeys(entries))

    def reattribute(self, conn: Connection, *, entity: str, doc_key: str, fingerprint: str,
                    source_entry_ids: Iterable[str]) -> None:
        """A kept line now stands for other entries with the same content (e.g. one deleted, one added)."""
        row = conn.execute(sa.select(posted_lines).where(posted_lines.c.doc_key == doc_key,
                                                         posted_lines.c.fingerprint == fingerprint)).mappings().first()
        if row is None:
            return
        entries = [str(e) for e in source_entry_ids]
        conn.execute(posted_lines.update().where(posted_lines.c.doc_key == doc_key,
                                                 posted_lines.c.line_no == row["line_no"]).values(
            source_entry_ids=",".join(entries)))
        conn.execute(entry_links.delete().where(entry_links.c.doc_key == doc_key,
                                                entry_links.c.line_no == row["line_no"]))
        ts = now_iso()
        conn.execute(entry_links.insert(), [
            {"entity": entity, "entry_id": e, "doc_key": doc_key, "line_no": row["line_no"], "period": row["period"],
             "role": "billed", "reference": row["reference"], "line_key": row["line_key"], "recorded_at": ts}
            for e in dict.fromkeys(entries)])

    def lines_of(self, doc_keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        keys = list(doc_keys)
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
        if not keys:
            return out
        with self.store.engine.connect() as c:
            for chunk in _chunks(keys, 500):
                q = sa.select(posted_lines).where(posted_lines.c.doc_key.in_(chunk)).order_by(
                    posted_lines.c.doc_key, posted_lines.c.line_no)
                for r in c.execute(q).mappings():
                    out[r["doc_key"]].append(dict(r))
        return out

    def for_partition(self, entity: str, period: str) -> list[dict[str, Any]]:
        q = (sa.select(posted_lines).where(posted_lines.c.entity == entity, posted_lines.c.period == period)
             .order_by(posted_lines.c.reference, posted_lines.c.line_no))
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def links_for_partition(self, entity: str, period: str) -> list[dict[str, Any]]:
        q = (sa.select(entry_links).where(entry_links.c.entity == entity, entry_links.c.period == period)
             .order_by(entry_links.c.entry_id, entry_links.c.reference))
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def documents_of_entry(self, entity: str, entry_id: str) -> list[dict[str, Any]]:
        q = (sa.select(entry_links).where(entry_links.c.entity == entity, entry_links.c.entry_id == str(entry_id))
             .order_by(entry_links.c.recorded_at))
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def unmarked(self, entity: str, period: str) -> list[dict[str, Any]]:
        q = (sa.select(entry_links).where(entry_links.c.entity == entity, entry_links.c.period == period,
                                          entry_links.c.marked_at.is_(None)))
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def mark(self, entity: str, entry_ids: Iterable[str], doc_key: str | None = None) -> None:
        ids = [str(e) for e in entry_ids]
        if not ids:
            return
        with self.store.engine.begin() as c:
            for chunk in _chunks(ids, 500):
                q = entry_links.update().where(entry_links.c.entity == entity, entry_links.c.entry_id.in_(chunk))
                if doc_key:
                    q = q.where(entry_links.c.doc_key == doc_key)
                c.execute(q.values(marked_at=now_iso()))


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
