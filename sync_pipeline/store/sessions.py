"""Workbench sessions and failed sign-ins, kept server-side in the operational store.

- A session is a random 256-bit token in the browser's cookie; the store keeps only its SHA-256 digest,
  the user, a CSRF token, when it started and was last used, and whether it was ended. A session ends
  at sign-out, after ``idle`` without a request, ``absolute`` after sign-in whatever happens, and when
  the user's credential stamp changes (a new password, a disabled user): the caller passes the stamp it
  has now and the session remembers the one it started with.
- Failed sign-ins are rows per key (``user:<name>``, ``client:<address>``): ``failures(key)`` counts
  those inside the throttle window, whether or not the user exists.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from sync_pipeline.store.operational import OperationalStore, metadata

workbench_sessions = sa.Table(
    "workbench_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token
    sa.Column("user_name", sa.String(128), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("stamp", sa.String(64)),  # the user's credential stamp at sign-in
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("last_seen_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),  # the absolute limit
    sa.Column("ended_at", sa.String(40)),
    sa.Column("ended_why", sa.String(64)),
    sa.Column("flash", sa.Text),  # a one-time message for the next page
    sa.Column("client", sa.String(64)),
)

login_failures = sa.Table(
    "workbench_login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, index=True),
    sa.Column("at", sa.String(40), nullable=False, index=True),
)


RETAIN_ENDED = timedelta(days=30)  # a session row is deleted this long after its absolute limit


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Session:
    session_id: str
    user: str
    csrf: str
    created_at: str
    last_seen_at: str
    expires_at: str


class Sessions:
    """Server-side sessions and the sign-in throttle's memory on the operational store."""

    def __init__(self, store: OperationalStore, *, idle: timedelta = timedelta(minutes=30),
                 absolute: timedelta = timedelta(hours=12), window: timedelta = timedelta(minutes=15),
                 clock: Callable[[], datetime] = utcnow) -> None:
        if idle <= timedelta(0) or absolute <= timedelta(0):
            raise ValueError("session timeouts must be positive")
        self.engine = store.engine
        self.idle, self.absolute, self.window, self.clock = idle, absolute, window, clock

    # -- sessions -----------------------------------------------------------------------------
    def start(self, user: str, *, stamp: str | None, client: str | None = None) -> tuple[str, Session]:
        """A new session for ``user``; returns the token for the cookie (shown once) and the session."""
        token, now = secrets.token_urlsafe(32), self.clock()
        row = {"session_id": _digest(token), "user_name": user, "csrf": secrets.token_urlsafe(32), "stamp": stamp,
               "created_at": _iso(now), "last_seen_at": _iso(now), "expires_at": _iso(now + self.absolute),
               "client": (client or "")[:64] or None}
        with self.engine.begin() as c:
            # sessions long over are only clutter (sign-ins and sign-outs are in the audit trail)
            c.execute(workbench_sessions.delete().where(workbench_sessions.c.expires_at < _iso(now - RETAIN_ENDED)))
            c.execute(workbench_sessions.insert().values(**row))
        return token, self._session(row)

    def get(self, token: str | None, *, stamp: Callable[[str], str | None]) -> Session | None:
        """The live session of a cookie's token, touched; None (and ended, saying why) when it is not live.

        ``stamp(user)`` is the user's credential stamp now (None: the user is gone or disabled).
        """
        if not token:
            return None
        sid, now = _digest(token), self.clock()
        with self.engine.connect() as c:
            row = c.execute(sa.select(workbench_sessions).where(workbench_sessions.c.session_id == sid)
                            ).mappings().first()
        if row is None or row["ended_at"]:
            return None
        why = None
        if _iso(now) >= row["expires_at"]:
            why = "absolute timeout"
        elif _iso(now - self.idle) >= row["last_seen_at"]:
            why = "idle timeout"
        elif stamp(row["user_name"]) != row["stamp"] or row["stamp"] is None:
            why = "credentials changed"
        with self.engine.begin() as c:
            if why:
                self._end(c, workbench_sessions.c.session_id == sid, why)
                return None
            c.execute(workbench_sessions.update().where(workbench_sessions.c.session_id == sid)
                      .values(last_seen_at=_iso(now)))
        return self._session({**row, "last_seen_at": _iso(now)})

    def end(self, token: str | None, why: str = "signed out") -> None:
        if token:
            with self.engine.begin() as c:
                self._end(c, workbench_sessions.c.session_id == _digest(token), why)

    def end_all(self, user: str, why: str) -> int:
        """End every live session of ``user`` (a password reset, a disabled account); how many."""
        with self.engine.begin() as c:
            return self._end(c, workbench_sessions.c.user_name == user, why)

    def live(self, user: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(workbench_sessions).where(
                workbench_sessions.c.user_name == user, workbench_sessions.c.ended_at.is_(None),
                workbench_sessions.c.expires_at > _iso(self.clock()))).scalar_one())

    def flash(self, session: Session, message: str) -> None:
        with self.engine.begin() as c:
            c.execute(workbench_sessions.update().where(workbench_sessions.c.session_id == session.session_id)
                      .values(flash=message[:4000]))

    def pop_flash(self, session: Session) -> str | None:
        with self.engine.begin() as c:
            msg = c.execute(sa.select(workbench_sessions.c.flash).where(
                workbench_sessions.c.session_id == session.session_id)).scalar_one_or_none()
            if msg:
                c.execute(workbench_sessions.update().where(workbench_sessions.c.session_id == session.session_id)
                          .values(flash=None))
        return msg

    def _end(self, c: sa.Connection, where, why: str) -> int:
        return c.execute(workbench_sessions.update().where(where, workbench_sessions.c.ended_at.is_(None))
                         .values(ended_at=_iso(self.clock()), ended_why=why)).rowcount

    @staticmethod
    def _session(row) -> Session:
        return Session(row["session_id"], row["user_name"], row["csrf"], row["created_at"], row["last_seen_at"],
                       row["expires_at"])

    # -- failed sign-ins ----------------------------------------------------------------------
    def failures(self, key: str) -> int:
        """Failed sign-ins under ``key`` inside the window."""
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(login_failures).where(
                login_failures.c.key == key, login_failures.c.at > _iso(self.clock() - self.window))).scalar_one())

    def retry_after(self, key: str, limit: int) -> int:
        """Seconds until ``key`` is below ``limit`` failures again (0: it is now)."""
        with self.engine.connect() as c:
            recent = [r.at for r in c.execute(sa.select(login_failures.c.at).where(
                login_failures.c.key == key, login_failures.c.at > _iso(self.clock() - self.window))
                .order_by(login_failures.c.at.desc()).limit(limit))]
        if len(recent) < limit:
            return 0
        oldest = datetime.fromisoformat(recent[-1])
        return max(1, int((oldest + self.window - self.clock()).total_seconds()) + 1)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self.engine.begin() as c:
            c.execute(login_failures.delete().where(login_failures.c.at <= _iso(now - self.window)))
            for k in keys:
                c.execute(login_failures.insert().values(key=k[:200], at=_iso(now)))

    def forget_failures(self, key: str) -> None:
        with self.engine.begin() as c:
            c.execute(login_failures.delete().where(login_failures.c.key == key))
