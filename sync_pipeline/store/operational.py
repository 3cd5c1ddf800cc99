"""The operational store: what was posted under which key; the audit trail is ``store.audit``.

SQLAlchemy Core over SQLite (a file, by default) or PostgreSQL (production). The
sync ledger is the first thing posting consults; its primary key is the invoice's
business identity, so two concurrent runs cannot both record the same invoice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync_pipeline.store.files import private_dir, private_file, sqlite_path, write_private

metadata = sa.MetaData()

sync_ledger = sa.Table(
    "sync_ledger",
    metadata,
    sa.Column("invoice_key", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(64), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False, index=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, default=1),
    sa.Column("reference", sa.String(255), nullable=False, unique=True),
    sa.Column("status", sa.String(32), nullable=False),  # pending | posted | voided | failed
    sa.Column("target_id", sa.String(64)),
    sa.Column("target_number", sa.String(64)),
    sa.Column("payload_hash", sa.String(64)),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("triggered_by", sa.String(255)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    # posting (issue 6): documents beyond the first invoice revision, and who did what
    sa.Column("kind", sa.String(16), default="invoice"),  # invoice | credit_note
    sa.Column("group_key", sa.String(64), index=True),  # the key of revision 1 of the invoice group
    sa.Column("original_key", sa.String(64)),  # credit note: the invoice it credits; rebill: what it corrects
    sa.Column("target_status", sa.String(32)),  # the accounting system's status when last seen
    sa.Column("subtotal_minor", sa.BigInteger),
    sa.Column("currency", sa.String(3)),
    sa.Column("last_op", sa.String(32)),  # the last write: create_invoice, update_invoice, ...
    sa.Column("payload", sa.Text),  # the last payload written (JSON), for replay and forensics
    sa.Column("approved_by", sa.String(255)),
    sa.Column("run_id", sa.String(64)),
    # four eyes (controls): the approved plan the document was written under, who approved it and when
    sa.Column("plan_hash", sa.String(64)),
    sa.Column("plan_approved_by", sa.String(255)),
    sa.Column("plan_approved_at", sa.String(40)),
    sa.Column("mapping_hash", sa.String(64)),  # the money-moving mapping version the document was billed under
    sa.Column("trace_id", sa.String(32)),  # the trace of the run that last wrote it (domain.tracing)
)

contact_map = sa.Table(
    "contact_map",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("contact_number", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

def register_tables() -> None:
    """Import every module of ``sync_pipeline.store`` so their tables join ``metadata``.

    Other store modules (dead letters, events, matching log ...) define their tables on this
    module's ``metadata``; a new table is a new module, found here before ``create_all``.
    """
    import importlib
    import pkgutil

    import sync_pipeline.store as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")


def add_missing_columns(engine: Engine) -> list[str]:
    """Bring a store created by an older release up to date: add the nullable columns it lacks.

    Tables only ever gain nullable columns between releases (``create_all`` makes new tables), so an
    ``ALTER TABLE … ADD COLUMN`` per missing column is the whole migration. Returns what was added.
    """
    inspector = sa.inspect(engine)
    added: list[str] = []
    existing_tables = set(inspector.get_table_names())
    with engine.begin() as c:
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                continue
            have = {col["name"] for col in inspector.get_columns(table.name)}
            for col in table.columns:
                if col.name in have or not col.nullable:
                    continue
                ddl = f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {col.type.compile(dialect=engine.dialect)}'
                c.execute(sa.text(ddl))
                added.append(f"{table.name}.{col.name}")
    return added


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_engine(url: str) -> Engine:
    kw: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kw["connect_args"] = {"timeout": 30}
    else:
        kw["pool_pre_ping"] = True
    return sa.create_engine(url, **kw)


class OperationalStore:
    def __init__(self, url: str) -> None:
        self.url = url
        db_file = sqlite_path(url)
        if db_file is not None:
            private_dir(db_file.parent)  # the store holds personal and financial data: 0700 / 0600
            if not db_file.exists():
                write_private(db_file, b"")
            private_file(db_file)
        self.engine = make_engine(url)
        register_tables()
        metadata.create_all(self.engine)
        add_missing_columns(self.engine)
        from sync_pipeline.store import audit

        audit.install(self.engine)  # append-only audit tables, chain heads
        from sync_pipeline.store.protection import protector

        # encryption at rest (store.protection): the current field key exists before any transaction needs it
        self.protection = protector(self)
        self.protection.current_field_key()

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- ledger -----------------------------------------------------------------------------
    def ledger_entry(self, invoice_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(sync_ledger).where(sync_ledger.c.invoice_key == invoice_key)).mappings().first()
            return self._clear(dict(row)) if row else None

    def ledger_for(self, entity: str, period: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(sync_ledger).where(sync_ledger.c.entity == entity, sync_ledger.c.period == period)
                .order_by(sync_ledger.c.reference)
            ).mappings()
            return [self._clear(dict(r)) for r in rows]

    # the last payload sent holds line descriptions and approvers: encrypted at rest (store.protection)
    def _sealed(self, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("payload") is not None:
            return {**values, "payload": self.protection.encrypt_field(values["payload"], "sync_ledger.payload")}
        return values

    def _clear(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("payload") is not None:
            row["payload"] = self.protection.decrypt_field(row["payload"], "sync_ledger.payload")
        return row

    def record_pending(self, *, invoice_key: str, entity: str, period: str, client_id: str, revision: int,
                       reference: str, payload_hash: str, idempotency_key: str, triggered_by: str,
                       conn: Connection | None = None, **extra: Any) -> None:
        """Record the intent to write before the request; a crash after it is recovered by lookup.

        ``extra`` sets the posting columns (kind, group_key, original_key, last_op, payload, currency,
        subtotal_minor, approved_by, run_id). A posted document stays posted: a later write (an update
        of a draft, a void) only refreshes what was last sent.
        """
        ts = now_iso()
        with self._conn(conn) as c:
            existing = c.execute(sa.select(sync_ledger.c.status).where(sync_ledger.c.invoice_key == invoice_key)).first()
            if existing is None:
                c.execute(sync_ledger.insert().values(
                    invoice_key=invoice_key, entity=entity, period=period, client_id=client_id, revision=revision,
                    reference=reference, status="pending", payload_hash=payload_hash,
                    idempotency_key=idempotency_key, triggered_by=triggered_by, created_at=ts, updated_at=ts,
                    **self._sealed({"kind": "invoice", **extra}),
                ))
            else:
                values: dict[str, Any] = {"payload_hash": payload_hash, "idempotency_key": idempotency_key,
                                          "updated_at": ts}
                if existing.status in ("pending", "failed"):
                    values["status"] = "pending"
                if existing.status != "posted" or extra.get("last_op") not in (None, "create_invoice",
                                                                             "create_credit_note"):
                    values.update(self._sealed({k: v for k, v in extra.items() if k != "kind"}))
                    values["triggered_by"] = triggered_by
                c.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == invoice_key).values(**values))

    def record_posted(self, invoice_key: str, target_id: str, target_number: str | None,
                      conn: Connection | None = None, **extra: Any) -> None:
        """The accounting system confirmed the document (``extra``: target_status, subtotal_minor, status)."""
        values = {"status": "posted", "target_id": target_id, "target_number": target_number,
                  "updated_at": now_iso(), **extra}
        with self._conn(conn) as c:
            c.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == invoice_key).values(**values))

    def record_pending_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """``record_pending`` for a whole batch in a few statements (rows carry every ledger column to set)."""
        if not rows:
            return
        ts = now_iso()
        rows = [self._sealed(r) for r in rows]
        keys = [r["invoice_key"] for r in rows]
        existing: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            q = sa.select(sync_ledger.c.invoice_key, sync_ledger.c.status).where(
                sync_ledger.c.invoice_key.in_(keys[i:i + 500]))
            existing.update({k: st for k, st in conn.execute(q)})
        new = [{**r, "status": "pending", "created_at": ts, "updated_at": ts} for r in rows
               if r["invoice_key"] not in existing]
        if new:
            conn.execute(sync_ledger.insert(), new)
        old = [r for r in rows if r["invoice_key"] in existing]
        if old:
            cols = sorted({k for r in old for k in r} - {"invoice_key", "entity", "period", "client_id", "kind",
                                                          "reference", "revision", "created_at"})
            stmt = (sync_ledger.update().where(sync_ledger.c.invoice_key == sa.bindparam("k"))
                    .values({c: sa.bindparam(f"v_{c}") for c in [*cols, "status", "updated_at"]}))
            conn.execute(stmt, [{"k": r["invoice_key"], **{f"v_{c}": r.get(c) for c in cols},
                                 "v_status": "pending" if existing[r["invoice_key"]] in ("pending", "failed")
                                 else existing[r["invoice_key"]], "v_updated_at": ts} for r in old])

    def record_posted_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """``record_posted`` for a whole batch: rows of invoice_key, target_id, target_number, status,
        target_status, subtotal_minor."""
        if not rows:
            return
        cols = ["target_id", "target_number", "status", "target_status", "subtotal_minor"]
        stmt = (sync_ledger.update().where(sync_ledger.c.invoice_key == sa.bindparam("k"))
                .values({**{c: sa.bindparam(f"v_{c}") for c in cols}, "updated_at": sa.bindparam("v_updated_at")}))
        ts = now_iso()
        conn.execute(stmt, [{"k": r["invoice_key"], **{f"v_{c}": r.get(c) for c in cols}, "v_updated_at": ts}
                            for r in rows])

    def audit_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Append decisions to the audit trail in ``conn``'s transaction (see ``store.audit``)."""
        from sync_pipeline.store import audit

        audit.append_many(conn, rows)

    def set_trace_id(self, run_id: str, trace_id: str) -> int:
        """Stamp the trace id of a run on the ledger rows it wrote (``sync-pipeline trace`` prints it)."""
        with self.engine.begin() as c:
            return c.execute(sync_ledger.update().where(sync_ledger.c.run_id == run_id).values(
                trace_id=trace_id)).rowcount

    def record_failed(self, invoice_key: str, conn: Connection | None = None) -> None:
        """A permanent error: the document is in the dead-letter store, not in the accounting system."""
        with self._conn(conn) as c:
            c.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == invoice_key,
                                                 sync_ledger.c.status != "posted").values(
                status="failed", updated_at=now_iso()))

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as c:
                yield c

    # -- contacts ---------------------------------------------------------------------------
    def contact_for(self, entity: str, client_id: str) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(contact_map.c.contact_id).where(
                contact_map.c.entity == entity, contact_map.c.client_id == client_id)).first()
            return row.contact_id if row else None

    def remember_contact(self, entity: str, client_id: str, contact_id: str, contact_number: str) -> None:
        with self.engine.begin() as c:
            c.execute(contact_map.delete().where(contact_map.c.entity == entity, contact_map.c.client_id == client_id))
            c.execute(contact_map.insert().values(entity=entity, client_id=client_id, contact_id=contact_id,
                                                  contact_number=contact_number, updated_at=now_iso()))

    # -- audit (the hash-chained trail of store.audit) -------------------------------------------
    def audit(self, actor: str, action: str, *, entity: str | None = None, subject: str | None = None,
              detail: dict[str, Any] | None = None, conn: Connection | None = None) -> None:
        """Append a decision to the audit trail (in ``conn``'s transaction when given)."""
        from sync_pipeline.store import audit

        audit.append(conn if conn is not None else self, actor=actor, action=action, entity=entity,
                     subject=subject, detail=detail)

    def audit_entries(self, entity: str | None = None) -> list[dict[str, Any]]:
        """The decisions stream of the audit trail, oldest first (of one entity when given)."""
        from sync_pipeline.store import audit

        return [asdict(e) for e in audit.events(self, entity=entity)]
