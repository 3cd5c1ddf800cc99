"""Billing periods and time zones.

A billing period is a calendar month identified by ``YYYY-MM``; Dagster's monthly
partition keys (``YYYY-MM-01``) convert to and from it. A time entry belongs to the
period of its entity's *local* date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})(?:-01)?$")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True, slots=True)
class Period:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise PeriodError(f"month out of range in period {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Accept ``YYYY-MM`` or a Dagster monthly key ``YYYY-MM-01``."""
        m = _PERIOD_RE.match(text.strip())
        if not m:
            raise PeriodError(f"not a billing period: {text!r}; expected YYYY-MM (e.g. 2026-10)")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, d: date) -> Period:
        return cls(d.year, d.month)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def partition_key(self) -> str:
        return f"{self.key}-01"

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        return self.next().start - timedelta(days=1)

    def next(self) -> Period:
        return Period(self.year + (self.month == 12), self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def __str__(self) -> str:
        return self.key


def local_date(instant: datetime, tz: str) -> date:
    """The calendar date of an aware instant in the given IANA time zone."""
    if instant.tzinfo is None:
        raise PeriodError(f"naive datetime {instant.isoformat()} has no time zone; refuse to guess")
    return instant.astimezone(ZoneInfo(tz)).date()


def today_in(tz: str, now: datetime | None = None) -> date:
    now = now or datetime.now(tz=ZoneInfo("UTC"))
    return local_date(now, tz)


def is_closed(period: Period, tz: str, now: datetime | None = None) -> bool:
    """A period is closed once its last local day has passed in the entity's time zone."""
    return today_in(tz, now) > period.end


def _utc_offsets(tz: str, year: int) -> tuple[timedelta, timedelta]:
    """The zone's UTC offsets in winter and in summer of ``year`` (equal where there is no daylight saving)."""
    zone = ZoneInfo(tz)
    offsets = [datetime(year, m, 1, 12, tzinfo=zone).utcoffset() or timedelta(0) for m in (1, 7)]
    return min(offsets), max(offsets)


def closing_timezone(zones: list[str] | tuple[str, ...], year: int = 2026) -> str:
    """Of the entities' time zones, the one where a month ends last (the most western: smallest UTC offset,
    daylight saving included); ``UTC`` when there is none. A month closed there is closed for every entity."""
    if not zones:
        return "UTC"
    return min(sorted(set(zones)), key=lambda tz: _utc_offsets(tz, year)[0])


def opening_timezone(zones: list[str] | tuple[str, ...], year: int = 2026) -> str:
    """Of the entities' time zones, the one where a month begins first (the most eastern: largest UTC offset,
    daylight saving included); ``UTC`` when there is none. A month open there is open for at least one entity."""
    if not zones:
        return "UTC"
    return max(sorted(set(zones)), key=lambda tz: _utc_offsets(tz, year)[1])
