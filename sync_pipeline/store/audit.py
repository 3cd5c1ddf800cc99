"""The audit trail: append-only, hash-chained events in the operational store.

Use it like this (the whole API; other modules write their events through it)::

    from sync_pipeline.store import audit

    # a decision: in the caller's transaction (a Connection), or in its own (an OperationalStore / Engine)
    ev = audit.append(conn_or_store, actor="alice", action="posting_paused", entity="acme-uk",
                      subject="acme-uk", detail={"reason": "month-end"})
    ev.seq, ev.event_id, ev.hash          # where it landed in the chain

    # a view or export of financial data (workbench page, CLI show/export, dead-letter payload)
    audit.record_access(store, actor=audit.current_actor(), what="dlq_show", subject="#12")

    audit.events(store, stream="decisions", entity="acme-uk")   # read back, oldest first
    audit.verify(store)                                          # problems found (empty list: intact)

``actor`` is who acted: an authenticated user or a named automation (``current_actor()`` until the
identity model supplies one). ``action`` is a short verb-like name (``create_invoice``,
``dead_letter_discarded``, ``cash_accepted``); ``subject`` what it was done to; ``entity`` the entity
when there is one; ``detail`` a JSON-able dict (Decimals and dates are written as strings).

Two streams, each its own chain: ``decisions`` (every write that moves money or changes a control)
and ``access`` (who looked at or exported financial data). They are separate so that page views never
wait on a posting transaction that holds the decisions chain's head, and so that the auditor's
digest of decisions is not drowned in page views; each stream is verified and signed the same way.

How the chain is kept: ``audit_heads`` holds each stream's last sequence number and hash; an append
locks that row (UPDATE, so concurrent writers queue on SQLite and PostgreSQL alike), writes the events
with ``seq`` = head + 1 … and ``prev_hash`` = the head's hash, and moves the head — all in the caller's
transaction, so an event commits exactly when the decision it records does. ``audit_events`` and
``cash_decision_events`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) through triggers that
:func:`install` creates with the schema; a database owner can still drop a trigger, which is what
``sync-pipeline audit verify`` (and a signed export kept by the auditor) is for.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync_pipeline.domain.audit_chain import GENESIS, ChainProblem, canonical_json, event_hash, verify_chain
from sync_pipeline.store.operational import metadata

DECISIONS, ACCESS = "decisions", "access"
STREAMS = (DECISIONS, ACCESS)
APPEND_ONLY_TABLES = ("audit_events", "cash_decision_events")

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("stream", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(32), nullable=False, unique=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), index=True),
    sa.Column("subject", sa.String(255)),
    sa.Column("detail", sa.Text, nullable=False),  # canonical JSON, hashed as stored
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("stream", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

COLUMNS = tuple(c.name for c in audit_events.columns)


@dataclass(frozen=True)
class AuditEvent:
    stream: str
    seq: int
    event_id: str
    at: str
    actor: str
    action: str
    entity: str | None
    subject: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditEvent:
        return cls(**{**{k: row[k] for k in COLUMNS}, "seq": int(row["seq"]), "detail": json.loads(row["detail"])})


# -- who is acting ---------------------------------------------------------------------------------------------
_actor_resolver: Callable[[str | None], str] | None = None


def current_actor(by: str | None = None) -> str:
    """Who is acting in this process: the identity model's answer once it registers one
    (:func:`set_actor_resolver`); until then ``by`` (a command's ``--by``), else $SYNC_PIPELINE_USER, else
    the login name."""
    if _actor_resolver is not None:
        return _actor_resolver(by)
    return by or os.environ.get("SYNC_PIPELINE_USER") or getpass.getuser()


def set_actor_resolver(resolver: Callable[[str | None], str] | None) -> None:
    """Replace how :func:`current_actor` answers (the identity model: the authenticated user or token)."""
    global _actor_resolver
    _actor_resolver = resolver


# -- writing ---------------------------------------------------------------------------------------------------
def timestamp() -> str:
    """Now, UTC, to the microsecond (events of one second keep their order when read by time)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextmanager
def _transaction(target: Any) -> Iterator[Connection]:
    """A Connection joins the caller's transaction; a store or an engine gets one of its own."""
    if isinstance(target, Connection):
        yield target
        return
    engine: Engine = target if isinstance(target, Engine) else target.engine
    with engine.begin() as conn:
        yield conn


def _encode_detail(detail: Any) -> str:
    if detail is None:
        return "{}"
    if isinstance(detail, (str, bytes)):  # already JSON (older callers): re-spelt canonically
        detail = json.loads(detail, parse_float=Decimal)  # exact digits, kept as strings
    return canonical_json(json.loads(canonical_json(detail)))


def append(target: Any, *, actor: str, action: str, subject: str | None = None, entity: str | None = None,
           detail: Mapping[str, Any] | None = None, stream: str = DECISIONS) -> AuditEvent:
    """Append one event to ``stream`` (in ``target``'s transaction when it is a Connection); return it."""
    return append_many(target, [{"actor": actor, "action": action, "subject": subject, "entity": entity,
                                 "detail": detail}], stream=stream)[0]


def append_many(target: Any, events: Iterable[Mapping[str, Any]], *, stream: str = DECISIONS) -> list[AuditEvent]:
    """Append several events (dicts of actor, action, and optionally subject, entity, detail) in order."""
    if stream not in STREAMS:
        raise ValueError(f"audit stream {stream!r} is not one of {', '.join(STREAMS)}")
    todo = list(events)
    if not todo:
        return []
    for e in todo:
        if not e.get("actor") or not e.get("action"):
            raise ValueError(f"an audit event needs an actor and an action, got {dict(e)!r}")
        if len(str(e["action"])) > 64 or len(str(e["actor"])) > 255:
            raise ValueError(f"audit action (64) or actor (255) too long: {str(e['action'])[:80]!r}")
    with _transaction(target) as conn:
        seq, prev = _lock_head(conn, stream)
        rows = []
        for e in todo:
            seq += 1
            row = {"stream": stream, "seq": seq, "event_id": uuid.uuid4().hex, "at": timestamp(),
                   "actor": str(e["actor"]), "action": str(e["action"]),
                   "entity": None if e.get("entity") is None else str(e["entity"]),
                   "subject": None if e.get("subject") is None else _fit(str(e["subject"]), 255),
                   "detail": _encode_detail(e.get("detail")), "prev_hash": prev}
            row["hash"] = prev = event_hash(row)
            rows.append(row)
        conn.execute(audit_events.insert(), rows)
        conn.execute(audit_heads.update().where(audit_heads.c.stream == stream).values(seq=seq, hash=prev))
    return [AuditEvent.from_row(r) for r in rows]


def _fit(text: str, size: int) -> str:
    """Long subjects (a page with a long query) are cut to the column, marked; the full text can go in detail."""
    return text if len(text) <= size else text[:size - 1] + "…"


def _lock_head(conn: Connection, stream: str) -> tuple[int, str]:
    """Lock the stream's head row (a no-op UPDATE takes the write lock) and read it."""
    h = audit_heads
    if not conn.execute(h.update().where(h.c.stream == stream).values(seq=h.c.seq)).rowcount:
        conn.execute(h.insert().values(stream=stream, seq=0, hash=GENESIS))
    row = conn.execute(sa.select(h.c.seq, h.c.hash).where(h.c.stream == stream)).one()
    return int(row.seq), str(row.hash)


def record_access(target: Any, *, actor: str, what: str, subject: str | None = None, entity: str | None = None,
                  detail: Mapping[str, Any] | None = None, export: bool = False) -> AuditEvent:
    """Record that ``actor`` viewed (or, ``export=True``, exported) financial data.

    ``what`` names the kind of view (``posting_plan``, ``dlq_show``, ``dlq_list``, ``dead_letter_payload``,
    ``workbench_page``, ``finance_export``, ``audit_export`` ...); ``subject`` the thing itself (a
    partition, a letter id, a page path with its query).
    """
    return append(target, actor=actor, action=what, subject=subject, entity=entity,
                  detail={"mode": "export" if export else "view", **(detail or {})}, stream=ACCESS)


# -- reading ---------------------------------------------------------------------------------------------------
def rows(target: Any, stream: str, *, after_seq: int = 0, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """A stream's stored rows as they are (``detail`` as text), in ``seq`` order, read in batches."""
    engine = target if isinstance(target, Engine) else target.engine
    last = after_seq
    while True:
        q = (sa.select(audit_events).where(audit_events.c.stream == stream, audit_events.c.seq > last)
             .order_by(audit_events.c.seq).limit(batch))
        with engine.connect() as c:
            chunk = [dict(r) for r in c.execute(q).mappings()]
        yield from chunk
        if len(chunk) < batch:
            return
        last = int(chunk[-1]["seq"])


def events(target: Any, *, stream: str = DECISIONS, entity: str | None = None, action: str | None = None,
           actor: str | None = None, limit: int | None = None) -> list[AuditEvent]:
    """Events of a stream, oldest first, optionally of one entity / action / actor."""
    q = sa.select(audit_events).where(audit_events.c.stream == stream).order_by(audit_events.c.seq)
    if entity is not None:
        q = q.where(audit_events.c.entity == entity)
    if action is not None:
        q = q.where(audit_events.c.action == action)
    if actor is not None:
        q = q.where(audit_events.c.actor == actor)
    if limit is not None:
        q = q.limit(limit)
    engine = target if isinstance(target, Engine) else target.engine
    with engine.connect() as c:
        return [AuditEvent.from_row(r) for r in c.execute(q).mappings()]


def head(target: Any, stream: str) -> tuple[int, str]:
    """(last seq, its hash) as the head row records it; (0, GENESIS) for an empty stream."""
    engine = target if isinstance(target, Engine) else target.engine
    with engine.connect() as c:
        row = c.execute(sa.select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.stream == stream)).first()
    return (int(row.seq), str(row.hash)) if row else (0, GENESIS)


# -- verifying -------------------------------------------------------------------------------------------------
def verify(target: Any, streams: Iterable[str] = STREAMS) -> list[ChainProblem]:
    """Every problem in the stored chains (empty: intact): modified, deleted or reordered events, a head
    row that does not match the last event, and ``cash_decision_events`` rows that differ from their event."""
    problems: list[ChainProblem] = []
    for stream in streams:
        last: dict[str, Any] = {}
        before = head(target, stream)
        problems.extend(verify_chain(stream, _remember_last(rows(target, stream), last)))
        problems.extend(_check_head(target, stream, last, before))
    problems.extend(_check_mirrors(target))
    return problems


def verify_since(target: Any, checked: Mapping[str, Any] | None = None,
                 streams: Iterable[str] = STREAMS) -> tuple[list[ChainProblem], dict[str, Any]]:
    """Incremental check for a frequent monitor: the events added since the last check chain onto the last
    event checked then, that event is unchanged, and the head matches. ``checked`` is what the previous call
    returned ({stream: [seq, hash]}); returns (problems, the new ``checked``). A full :func:`verify` (every
    event, and the mirror tables) is still the periodic check: this one cannot see an old event edited.
    """
    checked = dict(checked or {})
    problems: list[ChainProblem] = []
    for stream in streams:
        seq, hash_ = checked.get(stream) or (0, GENESIS)
        seq = int(seq)
        if seq:
            engine = target if isinstance(target, Engine) else target.engine
            with engine.connect() as c:
                row = c.execute(sa.select(audit_events).where(
                    audit_events.c.stream == stream, audit_events.c.seq == seq)).mappings().first()
            if row is None or row["hash"] != hash_ or event_hash(row) != hash_:
                problems.append(ChainProblem(stream, seq, row["event_id"] if row else None,
                                             "missing" if row is None else "modified",
                                             "the last event checked before was " + (
                                                 "deleted" if row is None else "changed") + " since"))
                continue
        last: dict[str, Any] = {}
        before = head(target, stream)
        found = list(verify_chain(stream, _remember_last(rows(target, stream, after_seq=seq), last),
                                  start_seq=seq + 1, start_prev=hash_))
        if not last:
            last = {"seq": seq, "hash": hash_} if seq else {}
        found.extend(_check_head(target, stream, last, before))
        problems.extend(found)
        if not found and last:
            checked[stream] = [int(last["seq"]), str(last["hash"])]
    return problems, checked


def _remember_last(it: Iterable[dict[str, Any]], last: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for ev in it:
        last.clear()
        last.update(ev)
        yield ev


def _check_head(target: Any, stream: str, last: Mapping[str, Any],
                before: tuple[int, str]) -> Iterator[ChainProblem]:
    """The last event read against the head row, read ``before`` the events and again now (events appended
    meanwhile by others are not a problem)."""
    after = head(target, stream)
    last_seq = int(last["seq"]) if last else 0
    if last_seq < before[0]:
        yield ChainProblem(stream, last_seq + 1, None, "missing",
                           f"the chain ends at seq {last_seq} but its head records seq {before[0]}: "
                           f"the last {before[0] - last_seq} event(s) were deleted")
    elif last_seq > after[0]:
        yield ChainProblem(stream, after[0] + 1, None, "head_mismatch",
                           f"events after seq {after[0]} (to seq {last_seq}) were written without moving the head: "
                           "not through the audit API")
    else:
        for seq, hash_ in (before, after):
            if seq == last_seq and last and hash_ != last["hash"]:
                yield ChainProblem(stream, seq, last.get("event_id"), "head_mismatch",
                                   "the head's hash is not the last event's hash: the last event was replaced")
                break


# -- mirrors: tables that keep a copy of what the chain holds ------------------------------------------------
CASH_EVENT_KEY = "cash_event_id"  # detail key of a chain event that records a cash_decision_events row


def cash_event_detail(row_id: int, decision_id: int, role: str | None, text: str | None,
                      detail: Any) -> dict[str, Any]:
    """The chain event's detail for one ``cash_decision_events`` row (what the mirror check compares)."""
    return {CASH_EVENT_KEY: row_id, "decision_id": decision_id, "role": role, "text": text, "detail": detail}


def _check_mirrors(target: Any) -> Iterator[ChainProblem]:
    table = metadata.tables.get("cash_decision_events")
    if table is None:
        return
    engine = target if isinstance(target, Engine) else target.engine
    # events up to the head as it was before the rows are read: each of them committed with its row, so
    # that row must be there; a row without an event is only suspect below the newest row an event names
    upto = head(engine, DECISIONS)[0]
    with engine.connect() as c:
        table_rows = [dict(r) for r in c.execute(sa.select(table).order_by(table.c.id)).mappings()]
    recorded: dict[int, dict[str, Any]] = {}
    for ev in rows(engine, DECISIONS):
        if int(ev["seq"]) > upto:
            break
        if ev["action"].startswith("cash_") and CASH_EVENT_KEY in ev["detail"]:
            d = json.loads(ev["detail"])
            if CASH_EVENT_KEY in d:
                recorded[int(d[CASH_EVENT_KEY])] = {**ev, "detail": d}
    newest = max(recorded, default=0)
    for r in table_rows:
        ev = recorded.pop(int(r["id"]), None)
        if ev is None:
            if int(r["id"]) < newest:
                yield ChainProblem(DECISIONS, None, None, "absent",
                                   f"cash_decision_events row {r['id']} (decision {r['decision_id']}, "
                                   f"{r['action']} by {r['actor']}) has no event in the audit trail")
            continue
        d = ev["detail"]
        stored = {"actor": r["actor"], "action": f"cash_{r['action']}", "decision_id": r["decision_id"],
                  "role": r["role"], "text": r["text"], "detail": json.loads(r["detail"]) if r["detail"] else None}
        wrote = {"actor": ev["actor"], "action": ev["action"], "decision_id": d.get("decision_id"),
                 "role": d.get("role"), "text": d.get("text"), "detail": d.get("detail")}
        diff = [f"{k} {stored[k]!r} (event says {wrote[k]!r})" for k in stored
                if canonical_json(stored[k]) != canonical_json(wrote[k])]
        if diff:
            yield ChainProblem(DECISIONS, int(ev["seq"]), ev["event_id"], "modified",
                               f"cash_decision_events row {r['id']} was changed: " + "; ".join(diff))
    for row_id, ev in sorted(recorded.items()):
        yield ChainProblem(DECISIONS, int(ev["seq"]), ev["event_id"], "missing",
                           f"cash_decision_events row {row_id} (decision {ev['detail'].get('decision_id')}) "
                           "recorded by this event was deleted")


# -- schema: append-only triggers, and the audit rows of stores from before the chain -------------------------
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION sync_pipeline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (tamper-evident audit trail): % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$
"""


def install(engine: Engine) -> None:
    """Make the audit tables append-only and start the chains; safe to run at every start (idempotent)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('sync_pipeline.audit.install'))"))
            _install_pg(conn)
        elif engine.dialect.name == "sqlite":
            for t in APPEND_ONLY_TABLES:
                for op in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN "
                        f"SELECT RAISE(ABORT, '{t} is append-only (tamper-evident audit trail): {op} refused'); END")
        else:
            raise NotImplementedError(f"the audit trail supports PostgreSQL and SQLite, not {engine.dialect.name}")
        for stream in STREAMS:
            if conn.execute(sa.select(audit_heads.c.stream).where(audit_heads.c.stream == stream)).first() is None:
                conn.execute(audit_heads.insert().values(stream=stream, seq=0, hash=GENESIS))
        _import_legacy(conn)


ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_application_role(engine: Engine, role: str) -> list[str]:
    """PostgreSQL: let ``role`` (the application's login, not the tables' owner) read and write the store
    but only read and append the audit tables. Run as the owner after the schema is set up (an
    ``OperationalStore`` opened by the owner), again after an upgrade adds tables. Returns the statements.

    The triggers already refuse UPDATE and DELETE; without ownership the application also cannot drop or
    disable them, which is what makes the trail tamper-proof rather than only tamper-evident for it.
    """
    if engine.dialect.name != "postgresql":
        raise NotImplementedError("roles and grants are PostgreSQL's; SQLite relies on the triggers alone")
    if not ROLE_NAME.match(role):
        raise ValueError(f"role {role!r}: expected a plain PostgreSQL role name (lower case, digits, _)")
    q = f'"{role}"'  # an identifier cannot be a bound parameter: validated above, then quoted
    audit_tables = ", ".join(APPEND_ONLY_TABLES)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {q}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {audit_tables} FROM {q}",
    ]
    with engine.begin() as conn:
        owner = conn.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events'")).scalar()
        if owner == role:
            raise ValueError(f"{role} owns the audit tables: the application must log in as another role "
                             "(the owner can drop the append-only triggers)")
        for stmt in statements:
            conn.execute(sa.text(stmt))
    return statements


def _install_pg(conn: Connection) -> None:
    if conn.execute(sa.text("SELECT 1 FROM pg_proc WHERE proname = 'sync_pipeline_append_only'")).first() is None:
        conn.execute(sa.text(_PG_FUNCTION))
    have = {r[0] for r in conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))}
    for t in APPEND_ONLY_TABLES:
        if f"{t}_append_only" not in have:
            conn.execute(sa.text(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                                 "FOR EACH ROW EXECUTE FUNCTION sync_pipeline_append_only()"))
        if f"{t}_no_truncate" not in have:
            conn.execute(sa.text(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION sync_pipeline_append_only()"))


def _import_legacy(conn: Connection) -> None:
    """A store from before the chain: its ``audit_log`` rows and ``cash_decision_events`` rows become the
    first events of the decisions chain (once, while the chain is empty), so verify covers them too."""
    if int(conn.execute(sa.select(audit_heads.c.seq).where(audit_heads.c.stream == DECISIONS)).scalar_one()):
        return
    todo: list[dict[str, Any]] = []
    if "audit_log" in sa.inspect(conn).get_table_names():
        legacy = sa.table("audit_log", *(sa.column(n) for n in ("id", "at", "actor", "action", "entity", "subject",
                                                                "detail")))
        for r in conn.execute(sa.select(legacy).order_by(legacy.c.id)).mappings():
            try:
                detail = json.loads(r["detail"]) if r["detail"] else {}
            except ValueError:
                detail = {"text": r["detail"]}
            todo.append({"actor": r["actor"], "action": r["action"], "entity": r["entity"], "subject": r["subject"],
                         "detail": {**(detail if isinstance(detail, dict) else {"value": detail}),
                                    "imported_from": f"audit_log #{r['id']} at {r['at']}"}})
    table = metadata.tables.get("cash_decision_events")
    if table is not None:
        for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings():
            todo.append({"actor": r["actor"], "action": f"cash_{r['action']}", "subject": f"decision {r['decision_id']}",
                         "detail": {**cash_event_detail(r["id"], r["decision_id"], r["role"], r["text"],
                                                        json.loads(r["detail"]) if r["detail"] else None),
                                    "imported_from": f"cash_decision_events at {r['at']}"}})
    if todo:
        append_many(conn, todo)
