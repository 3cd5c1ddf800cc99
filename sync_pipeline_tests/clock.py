"""A clock a test moves on by hand, for code that takes ``clock=`` (sessions, timeouts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    """The time the code under test sees; starts at ``T0`` and moves only when ``advance`` is called."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)
