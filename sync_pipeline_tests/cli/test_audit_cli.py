"""``sync-pipeline audit`` verify / log / export as a signed-in user, on SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync_pipeline.cli import main
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.identity import sign_in
from sync_pipeline_tests.pg_util import pg_database, pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'op.sqlite3'}"
        return
    with pg_database("sp_audit_cli") as name:
        yield pg_url(name)


def tamper(url: str, sql: str) -> None:
    """As the database owner: triggers off, the statements (``;``-separated), triggers back on."""
    s = OperationalStore(url)
    with s.engine.begin() as c:
        if s.engine.dialect.name == "sqlite":
            c.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            c.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
            for stmt in sql.split(";"):
                c.exec_driver_sql(stmt)
        else:
            c.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            for stmt in sql.split(";"):
                c.exec_driver_sql(stmt)
            c.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
    s.dispose()


@pytest.mark.parametrize("how", ["edit", "delete", "reorder"])
def test_verify_names_the_tampered_event_and_fails(store_url, monkeypatch, capsys, how):
    sign_in(monkeypatch, store_url, "olivia", "operator")
    for reason in ("quarter close", "bank holiday", "audit week"):
        assert main(["posting", "pause", "--entity", "acme-uk", "--reason", reason]) == 0
        assert main(["posting", "resume", "--entity", "acme-uk"]) == 0
    s = OperationalStore(store_url)
    target = audit.events(s, action="posting_resumed")[-2]
    s.dispose()
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    seq = target.seq
    tamper(store_url, {
        "edit": f"UPDATE audit_events SET actor = 'admin' WHERE stream = 'decisions' AND seq = {seq}",
        "delete": f"DELETE FROM audit_events WHERE stream = 'decisions' AND seq = {seq}",
        "reorder": f"UPDATE audit_events SET seq = -1 WHERE stream = 'decisions' AND seq = {seq}; "
                   f"UPDATE audit_events SET seq = {seq} WHERE stream = 'decisions' AND seq = {seq - 1}; "
                   f"UPDATE audit_events SET seq = {seq - 1} WHERE stream = 'decisions' AND seq = -1",
    }[how])
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    expected = {"edit": f"decisions seq {seq} (event {target.event_id}): modified",
                "delete": f"seq {seq} deleted", "reorder": "reordered"}[how]
    assert expected in out, out


def test_export_then_verify_the_export(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    sign_in(monkeypatch, url, "ada", "admin")
    assert main(["posting", "limits", "--entity", "acme-uk", "--max-invoices", "3"]) == 0
    out = tmp_path / "for-the-auditor.jsonl"
    monkeypatch.delenv("SYNC_PIPELINE_AUDIT_KEY", raising=False)
    assert main(["audit", "export", "--out", str(out)]) == 2
    assert "set SYNC_PIPELINE_AUDIT_KEY" in capsys.readouterr().err
    key = "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("SYNC_PIPELINE_AUDIT_KEY", key)
    assert main(["audit", "export", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "decisions: " in printed and "signed HMAC-SHA256" in printed and key not in printed
    assert main(["audit", "verify", "--export", str(out), "--against-store"]) == 0
    assert "intact" in capsys.readouterr().out
    monkeypatch.setenv("SYNC_PIPELINE_AUDIT_KEY", "f" * 32)
    assert main(["audit", "verify", "--export", str(out)]) == 1
    assert "signature" in capsys.readouterr().out


def test_reading_the_log_is_itself_recorded(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    sign_in(monkeypatch, url, "ada", "admin")
    assert main(["posting", "pause", "--entity", "acme-uk", "--reason", "freeze"]) == 0
    capsys.readouterr()
    assert main(["audit", "log", "--entity", "acme-uk"]) == 0
    assert "posting_paused" in capsys.readouterr().out
    assert main(["audit", "log", "--stream", "access"]) == 0
    assert "audit_log" in capsys.readouterr().out


def test_grant_is_for_postgres_and_plain_role_names(tmp_path, monkeypatch, capsys):
    sign_in(monkeypatch, f"sqlite:///{tmp_path / 'op.sqlite3'}", "ada", "admin")
    assert main(["audit", "grant", "--role", "sync_app"]) == 2
    assert "SQLite relies on the triggers alone" in capsys.readouterr().err


@pytest.mark.postgres
def test_grant_refuses_the_owner_and_names_what_it_granted(monkeypatch, capsys):
    with pg_database("sp_audit_grant") as name:
        sign_in(monkeypatch, pg_url(name), "ada", "admin")
        assert main(["audit", "grant", "--role", "postgres"]) == 2
        assert "owns the audit tables" in capsys.readouterr().err
        assert main(["audit", "grant", "--role", "x; DROP TABLE audit_events"]) == 2
        assert "plain PostgreSQL role name" in capsys.readouterr().err
