"""The dead-letter store: writes the accounting system refused for good, kept until someone fixes and replays.

One row per parked write (a document, or a contact that several documents wait for), with
everything needed to understand and repeat it: the payload that was sent, the error (text and the
system's structured answer), the history of attempts (when, which run, what came back) and the
source records (the time entries behind each line). Statuses:

- ``open``: waiting for a fix; automated posting holds this document (same payload) back;
- ``replayed``: a replay (``sync-pipeline dlq replay`` or the ``replay_dead_letters`` job) posted it;
- ``superseded``: the source changed, the document was posted with another payload, or it is no
  longer wanted;
- ``discarded``: an operator decided it must not be posted (with a note).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore, metadata, now_iso

STATUSES = ("open", "replayed", "superseded", "discarded")

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("doc_key", sa.String(64), nullable=False, index=True),  # document key, or contact-<client>
    sa.Column("kind", sa.String(16), nullable=False),  # invoice | credit_note | contact | allocation
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(255)),
    sa.Column("group_key", sa.String(64)),
    sa.Column("client_id", sa.String(64)),
    sa.Column("payload_hash", sa.String(64)),
    sa.Column("payload", sa.Text),  # JSON, Decimal-exact
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("error_detail", sa.Text),  # JSON: status, validation errors, body
    sa.Column("attempts", sa.Text, nullable=False),  # JSON list of {at, run_id, triggered_by, error}
    sa.Column("source_records", sa.Text),  # JSON: lines with their source entry ids
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("resolved_at", sa.String(40)),
    sa.Column("resolution", sa.Text),  # what happened: posted as INV-00012 by run ..., or the operator's note
)


def _decode(row: dict[str, Any], store: OperationalStore) -> dict[str, Any]:
    out = dict(row)
    if out.get("payload"):  # encrypted at rest (store.protection): names and descriptions of the document
        out["payload"] = store.protection.decrypt_field(out["payload"], "dead_letters.payload")
    for k in ("payload", "error_detail", "attempts", "source_records"):
        if out.get(k):
            out[k] = loads(out[k])
    return out


class DeadLetters:
    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def park(self, *, entity: str, period: str, doc_key: str, kind: str, operation: str, error: str,
             payload: Any = None, payload_hash: str | None = None, reference: str | None = None,
             group_key: str | None = None, client_id: str | None = None, error_detail: Any = None,
             source_records: Any = None, run_id: str | None = None, triggered_by: str | None = None) -> int:
        """Park a refused write; a second refusal of the same open letter adds an attempt to it."""
        ts = now_iso()
        attempt = {"at": ts, "run_id": run_id, "triggered_by": triggered_by, "error": error}
        t = dead_letters
        with self.store.engine.begin() as c:
            row = c.execute(sa.select(t.c.id, t.c.attempts, t.c.payload_hash).where(
                t.c.doc_key == doc_key, t.c.status == "open")).first()
            if row is not None and (row.payload_hash or None) == (payload_hash or None):
                attempts = json.loads(row.attempts) + [attempt]
                c.execute(t.update().where(t.c.id == row.id).values(
                    attempts=json.dumps(attempts), error=error,
                    error_detail=dumps(error_detail).decode() if error_detail is not None else None, updated_at=ts))
                return int(row.id)
            if row is not None:  # an open letter for an older payload: this one replaces it
                c.execute(t.update().where(t.c.id == row.id).values(
                    status="superseded", resolved_at=ts, updated_at=ts,
                    resolution="superseded by a new attempt with another payload"))
            res = c.execute(t.insert().values(
                entity=entity, period=period, doc_key=doc_key, kind=kind, operation=operation, reference=reference,
                group_key=group_key, client_id=client_id, payload_hash=payload_hash,
                payload=self.store.protection.encrypt_field(dumps(payload).decode(), "dead_letters.payload")
                if payload is not None else None, error=error,
                error_detail=dumps(error_detail).decode() if error_detail is not None else None,
                attempts=json.dumps([attempt]),
                source_records=dumps(source_records).decode() if source_records is not None else None,
                status="open", created_at=ts, updated_at=ts))
            return int(res.inserted_primary_key[0])

    def open_for(self, entity: str, period: str | None = None) -> list[dict[str, Any]]:
        return self.list(entity=entity, period=period, status="open")

    def list(self, *, entity: str | None = None, period: str | None = None, status: str | None = None,
             ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        t = dead_letters
        q = sa.select(t).order_by(t.c.id)
        if entity:
            q = q.where(t.c.entity == entity)
        if period:
            q = q.where(t.c.period == period)
        if status:
            q = q.where(t.c.status == status)
        if ids is not None:
            q = q.where(t.c.id.in_([int(i) for i in ids]))
        with self.store.engine.connect() as c:
            return [_decode(dict(r), self.store) for r in c.execute(q).mappings()]

    def get(self, letter_id: int) -> dict[str, Any] | None:
        rows = self.list(ids=[letter_id])
        return rows[0] if rows else None

    def resolve(self, doc_key: str, status: str, resolution: str) -> list[int]:
        """Close every open letter of a document (it posted, or it is no longer wanted)."""
        if status not in STATUSES or status == "open":
            raise ValueError(f"resolve to one of {', '.join(s for s in STATUSES if s != 'open')}, not {status!r}")
        t = dead_letters
        ts = now_iso()
        with self.store.engine.begin() as c:
            ids = [r.id for r in c.execute(sa.select(t.c.id).where(t.c.doc_key == doc_key, t.c.status == "open"))]
            if ids:
                c.execute(t.update().where(t.c.id.in_(ids)).values(status=status, resolved_at=ts, updated_at=ts,
                                                                  resolution=resolution))
        return ids

    def discard(self, letter_id: int, note: str, actor: str) -> None:
        t = dead_letters
        ts = now_iso()
        with self.store.engine.begin() as c:
            row = c.execute(sa.select(t.c.entity, t.c.period, t.c.reference).where(
                t.c.id == letter_id, t.c.status == "open")).first()
            if row is None:
                raise LookupError(f"no open dead letter #{letter_id}")
            c.execute(t.update().where(t.c.id == letter_id).values(
                status="discarded", resolved_at=ts, updated_at=ts, resolution=f"discarded by {actor}: {note}"))
            audit.append(c, actor=actor, action="dead_letter_discarded", entity=row.entity, subject=str(letter_id),
                         detail={"note": note, "period": row.period, "reference": row.reference})

    def held_keys(self, entity: str, period: str) -> dict[tuple[str, str | None], int]:
        """(document key, payload hash) → open letter id: what automated posting must not resend."""
        return {(r["doc_key"], r["payload_hash"]): r["id"] for r in self.open_for(entity, period)}

    def counts(self, entity: str | None = None) -> dict[str, int]:
        t = dead_letters
        q = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
        if entity:
            q = q.where(t.c.entity == entity)
        with self.store.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(q)}
