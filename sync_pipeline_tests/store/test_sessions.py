"""Server-side workbench sessions: timeouts, sign-out, credential changes, and the sign-in throttle's memory."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.sessions import Sessions, workbench_sessions
from sync_pipeline_tests.clock import T0, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(tmp_path, clock) -> Sessions:
    return Sessions(OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}"), idle=timedelta(minutes=30),
                    absolute=timedelta(hours=12), window=timedelta(minutes=15), clock=clock)


STAMPS = {"alice": "pw-1", "bob": "pw-9"}


def stamp(name: str) -> str | None:
    return STAMPS.get(name)


def test_a_session_is_found_by_its_token_only_and_the_store_keeps_no_token(sessions):
    token, s = sessions.start("alice", stamp="pw-1", client="127.0.0.1")
    assert sessions.get(token, stamp=stamp) == s
    assert sessions.get(token + "x", stamp=stamp) is None and sessions.get(None, stamp=stamp) is None
    with sessions.engine.connect() as c:
        stored = [tuple(r) for r in c.execute(sa.select(workbench_sessions))]
    assert not any(token in str(v) for row in stored for v in row)


def test_an_idle_session_ends_and_an_active_one_lives_until_the_absolute_limit(sessions, clock):
    idle, _ = sessions.start("alice", stamp="pw-1")
    active, _ = sessions.start("alice", stamp="pw-1")
    for _ in range(24):  # a request every 29 minutes keeps it alive...
        clock.advance(minutes=29)
        assert sessions.get(active, stamp=stamp) is not None
    assert sessions.get(idle, stamp=stamp) is None
    clock.advance(minutes=29)  # ...until 12 hours after sign-in
    assert clock.now - T0 > timedelta(hours=12)
    assert sessions.get(active, stamp=stamp) is None
    assert sessions.live("alice") == 0


def test_signing_out_ends_the_session_for_good(sessions):
    token, _ = sessions.start("alice", stamp="pw-1")
    other, _ = sessions.start("alice", stamp="pw-1")
    sessions.end(token)
    assert sessions.get(token, stamp=stamp) is None
    assert sessions.get(other, stamp=stamp) is not None
    assert sessions.end_all("alice", "account review") == 1
    assert sessions.get(other, stamp=stamp) is None


def test_a_new_password_or_a_disabled_user_ends_the_sessions(sessions):
    token, _ = sessions.start("alice", stamp="pw-1")
    gone, _ = sessions.start("bob", stamp="pw-9")
    assert sessions.get(token, stamp=lambda n: "pw-2") is None  # the password changed
    assert sessions.get(token, stamp=stamp) is None  # and it stays ended
    assert sessions.get(gone, stamp=lambda n: None) is None  # disabled or removed


def test_sessions_long_over_are_deleted(sessions, clock):
    old, _ = sessions.start("alice", stamp="pw-1")
    clock.advance(days=31)
    sessions.start("alice", stamp="pw-1")
    with sessions.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(workbench_sessions)).scalar_one() == 1
    assert sessions.get(old, stamp=stamp) is None


def test_flash_messages_are_shown_once(sessions):
    token, s = sessions.start("alice", stamp="pw-1")
    sessions.flash(s, "Comment added")
    assert sessions.pop_flash(s) == "Comment added"
    assert sessions.pop_flash(s) is None


def test_failed_sign_ins_count_inside_the_window(sessions, clock):
    for _ in range(5):
        sessions.failed("user:alice", "client:10.0.0.1")
        clock.advance(minutes=1)
    assert sessions.failures("user:alice") == 5
    assert sessions.retry_after("user:alice", 5) == 10 * 60 + 1  # the first failure leaves the window then
    assert sessions.retry_after("user:alice", 6) == 0
    clock.advance(minutes=10, seconds=30)
    assert sessions.failures("user:alice") == 4 and sessions.retry_after("user:alice", 5) == 0
    sessions.forget_failures("user:alice")
    assert sessions.failures("user:alice") == 0 and sessions.failures("client:10.0.0.1") == 4
