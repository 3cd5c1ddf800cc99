"""The audit trail on SQLite and on the real PostgreSQL: append-only, and verify names what was tampered with."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from sync_pipeline.domain.audit_chain import GENESIS, event_hash
from sync_pipeline.store import audit
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.pg_util import pg_database, pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> Iterator[OperationalStore]:
    if request.param == "sqlite":
        s = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
        yield s
        s.dispose()
        return
    with pg_database("sp_audit") as name:
        s = OperationalStore(pg_url(name))
        yield s
        s.dispose()


@contextmanager
def owner_bypass(store: OperationalStore) -> Iterator[sa.Connection]:
    """What a database owner (not the application) can do: switch the append-only triggers off, tamper."""
    with store.engine.begin() as c:
        if store.engine.dialect.name == "sqlite":
            for t in audit.APPEND_ONLY_TABLES:
                c.exec_driver_sql(f"DROP TRIGGER {t}_no_update")
                c.exec_driver_sql(f"DROP TRIGGER {t}_no_delete")
        else:
            for t in audit.APPEND_ONLY_TABLES:
                c.exec_driver_sql(f"ALTER TABLE {t} DISABLE TRIGGER USER")
        yield c
        if store.engine.dialect.name == "postgresql":
            for t in audit.APPEND_ONLY_TABLES:
                c.exec_driver_sql(f"ALTER TABLE {t} ENABLE TRIGGER USER")
    audit.install(store.engine)


def fill(store: OperationalStore, n: int = 5) -> list[audit.AuditEvent]:
    return [audit.append(store, actor="alice", action="posting_paused", entity="acme-uk", subject=f"s{i}",
                         detail={"reason": f"r{i}"}) for i in range(1, n + 1)]


def test_append_chains_events_in_order(store):
    evs = fill(store, 3)
    assert [e.seq for e in evs] == [1, 2, 3]
    assert evs[0].prev_hash == GENESIS and evs[1].prev_hash == evs[0].hash and evs[2].prev_hash == evs[1].hash
    stored = list(audit.rows(store, audit.DECISIONS))
    assert [event_hash(r) for r in stored] == [e.hash for e in evs]
    assert audit.head(store, audit.DECISIONS) == (3, evs[2].hash)
    assert audit.verify(store) == []


def test_the_store_audit_api_writes_into_the_chain(store):
    store.audit("bob", "posting_limits_set", entity="e", detail={"max_invoices": 3})
    with store.begin() as c:
        store.audit_many(c, [{"actor": "run", "action": "create_invoice", "entity": "e", "subject": "SP-1",
                              "detail": {"amount": "12.50"}}])
    assert [(a["seq"], a["actor"], a["action"]) for a in store.audit_entries("e")] == [
        (1, "bob", "posting_limits_set"), (2, "run", "create_invoice")]
    assert audit.verify(store) == []


def test_an_event_commits_with_the_callers_transaction(store):
    with pytest.raises(RuntimeError), store.begin() as c:
        audit.append(c, actor="alice", action="posting_paused")
        raise RuntimeError("the decision failed")
    assert audit.events(store) == [] and audit.head(store, audit.DECISIONS)[0] == 0
    assert fill(store, 1)[0].seq == 1


def test_access_is_its_own_chain(store):
    fill(store, 2)
    ev = audit.record_access(store, actor="carol", what="dlq_show", subject="#12")
    assert (ev.stream, ev.seq, ev.action, ev.detail) == ("access", 1, "dlq_show", {"mode": "view"})
    assert audit.record_access(store, actor="carol", what="audit_export", export=True).detail["mode"] == "export"
    assert audit.verify(store) == []


@pytest.mark.parametrize("table", audit.APPEND_ONLY_TABLES)
@pytest.mark.parametrize("sql", ["UPDATE {t} SET actor = 'admin'", "DELETE FROM {t}"])
def test_the_application_cannot_update_or_delete_audit_rows(store, table, sql):
    fill(store, 2)
    decision = MatchingLog(store).record("acme-uk", "2026-10", [_decision()], actor="matcher")[0]
    MatchingLog(store).event(decision, actor="alice", role="accountant", action="comment", text="called them")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.begin() as c:
        c.exec_driver_sql(sql.format(t=table))
    assert audit.verify(store) == []


@pytest.mark.postgres
def test_truncate_is_refused_on_postgres(tmp_path):
    with pg_database("sp_audit") as name:
        s = OperationalStore(pg_url(name))
        fill(s, 1)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), s.begin() as c:
            c.exec_driver_sql("TRUNCATE audit_events")
        s.dispose()


def test_verify_names_a_modified_event(store):
    evs = fill(store)
    with owner_bypass(store) as c:
        c.execute(audit.audit_events.update().where(audit.audit_events.c.seq == 3).values(actor="admin"))
    problems = audit.verify(store)
    assert [(p.seq, p.event_id, p.kind) for p in problems] == [(3, evs[2].event_id, "modified")]


def test_verify_names_a_deleted_event_and_a_deleted_tail(store):
    fill(store)
    with owner_bypass(store) as c:
        c.execute(audit.audit_events.delete().where(audit.audit_events.c.seq.in_([2, 5])))
    problems = [(p.seq, p.kind) for p in audit.verify(store)]
    assert problems == [(3, "missing"), (5, "missing")]


def test_verify_names_reordered_events(store):
    evs = fill(store)
    t = audit.audit_events
    with owner_bypass(store) as c:  # seq 2 and 4 change places (as in: UPDATE seq)
        c.execute(t.update().where(t.c.seq == 2).values(seq=-2))
        c.execute(t.update().where(t.c.seq == 4).values(seq=2))
        c.execute(t.update().where(t.c.seq == -2).values(seq=4))
    problems = audit.verify(store)
    assert {(p.seq, p.kind) for p in problems} >= {(2, "modified"), (4, "modified"), (2, "reordered")}
    assert any(p.event_id == evs[3].event_id and p.kind == "reordered" for p in problems)


def test_verify_catches_a_rewritten_cash_decision_event(store):
    log = MatchingLog(store)
    did = log.record("acme-uk", "2026-10", [_decision()], actor="matcher")[0]
    log.event(did, actor="alice", role="accountant", action="comment", text="called the customer")
    assert audit.verify(store) == []
    t = sa.table("cash_decision_events", sa.column("actor"), sa.column("action"))
    with owner_bypass(store) as c:
        c.execute(t.update().where(t.c.action == "comment").values(actor="admin"))
    problems = audit.verify(store)
    assert len(problems) == 1 and problems[0].kind == "modified"
    assert "actor 'admin' (event says 'alice')" in problems[0].message


def test_concurrent_appends_keep_one_chain(store):
    errors: list[BaseException] = []

    def writer(who: str) -> None:
        try:
            for i in range(15):
                audit.append(store, actor=who, action="x", subject=str(i))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert [e.seq for e in audit.events(store)] == list(range(1, 61))
    assert audit.verify(store) == []


def test_a_store_from_before_the_chain_brings_its_audit_rows_in(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT, actor TEXT, action TEXT, "
                          "entity TEXT, subject TEXT, detail TEXT)")
        c.exec_driver_sql("INSERT INTO audit_log (at, actor, action, entity, subject, detail) VALUES "
                          "('2026-11-01T00:00:00+00:00', 'bob', 'posting_paused', 'e', NULL, '{\"reason\": \"x\"}')")
    eng.dispose()
    s = OperationalStore(url)
    (ev,) = audit.events(s)
    assert (ev.seq, ev.actor, ev.action, ev.detail["reason"]) == (1, "bob", "posting_paused", "x")
    assert "audit_log #1" in ev.detail["imported_from"]
    OperationalStore(url).dispose()  # a second start imports nothing again
    assert len(audit.events(s)) == 1 and audit.verify(s) == []
    s.dispose()


def _decision() -> dict:
    return {"line_id": "L1", "outcome": "exception", "rule": "none", "confidence": 0.5, "line_date": "2026-10-03",
            "line_amount_minor": 1250, "line_currency": "GBP", "reason": "no candidate", "candidates": []}


@pytest.mark.postgres
def test_the_application_role_cannot_touch_audit_rows_nor_their_triggers_on_postgres():
    import uuid

    from sync_pipeline_tests.pg_util import PG_ADMIN_URL

    role = f"sp_app_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
    try:
        with pg_database("sp_audit_role") as name:
            owner = OperationalStore(pg_url(name))  # the owner sets the schema up, then grants
            fill(owner, 2)
            assert audit.grant_application_role(owner.engine, role)[-1].startswith("REVOKE UPDATE, DELETE")
            owner.dispose()
            app = OperationalStore(pg_url(name).replace("postgres@", f"{role}@"))
            log = MatchingLog(app)
            did = log.record("acme-uk", "2026-10", [_decision()], actor="matcher")[0]
            log.event(did, actor="alice", role="accountant", action="comment", text="ok")
            assert audit.append(app, actor="olivia", action="posting_paused").seq == 5  # 2 + decided + comment + 1
            for sql in ("UPDATE audit_events SET actor = 'admin'", "DELETE FROM audit_events",
                        "UPDATE cash_decision_events SET actor = 'admin'", "DELETE FROM cash_decision_events",
                        "TRUNCATE audit_events"):
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), app.begin() as c:
                    c.exec_driver_sql(sql)
            for sql in ("ALTER TABLE audit_events DISABLE TRIGGER USER",
                        "DROP TRIGGER audit_events_append_only ON audit_events"):
                with pytest.raises(sa.exc.ProgrammingError, match="must be owner"), app.begin() as c:
                    c.exec_driver_sql(sql)
            with app.begin() as c:  # the rest of the store stays writable
                c.exec_driver_sql("UPDATE cash_decisions SET status = 'rejected'")
            assert audit.verify(app) == []
            app.dispose()
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def test_verify_while_others_append_reports_nothing(store):
    fill(store, 3)
    log = MatchingLog(store)
    did = log.record("acme-uk", "2026-10", [_decision()], actor="matcher")[0]
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            log.event(did, actor="alice", role="accountant", action="comment", text="more")
            audit.record_access(store, actor="bob", what="dlq_list")

    th = threading.Thread(target=writer)
    th.start()
    try:
        found = [audit.verify(store) for _ in range(5)]
    finally:
        stop.set()
        th.join()
    assert found == [[]] * 5
    assert audit.verify(store) == []


def test_a_deleted_cash_decision_event_is_named(store):
    log = MatchingLog(store)
    did = log.record("acme-uk", "2026-10", [_decision()], actor="matcher")[0]
    log.event(did, actor="alice", role="accountant", action="comment", text="one")
    log.event(did, actor="alice", role="accountant", action="comment", text="two")
    t = sa.table("cash_decision_events", sa.column("text"))
    with owner_bypass(store) as c:
        c.execute(t.delete().where(t.c.text == "one"))
    (p,) = audit.verify(store)
    assert p.kind == "missing" and "cash_decision_events row 2 (decision 1) recorded by this event was deleted" in p.message


def test_verify_since_checks_only_what_is_new_and_its_anchor(store):
    fill(store, 3)
    problems, checked = audit.verify_since(store)
    assert problems == [] and checked["decisions"][0] == 3 and "access" not in checked
    fill(store, 2)
    problems, checked = audit.verify_since(store, checked)
    assert problems == [] and checked["decisions"][0] == 5
    t = audit.audit_events
    with owner_bypass(store) as c:
        c.execute(t.update().where(t.c.seq == 5).values(actor="admin"))
    problems, again = audit.verify_since(store, checked)
    assert [(p.seq, p.kind) for p in problems] == [(5, "modified")] and again == checked


def test_a_long_subject_is_cut_to_the_column_and_still_verifies(store):
    ev = audit.record_access(store, actor="bob", what="workbench_page", subject="/exceptions?text=" + "x" * 1000)
    assert len(ev.subject) == 255 and ev.subject.endswith("…")
    with pytest.raises(ValueError, match="too long"):
        audit.append(store, actor="bob", action="a" * 65)
    assert audit.verify(store) == []
