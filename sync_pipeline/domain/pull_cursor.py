"""Incremental pull-back: which documents a target lists as changed are new to us, and where the next pull starts.

Targets stamp a change with a coarse clock — QuickBooks' ``MetaData.LastUpdatedTime`` has whole seconds, Xero's
``UpdatedDateUTC`` milliseconds — and their changed-since filters take whole seconds. Asking for changes *after*
the newest stamp read loses a change made later in that same second (QuickBooks gives it the same stamp), and one
whose stamp is earlier than the newest but still in its second (Xero: stamps within a second need not arrive in
order). So a pull asks again from the start of the cursor's second (:func:`window_start`, the target answering
every document changed at or after it), and :func:`sift` drops what it has already read there: the mark keeps a
fingerprint of each document read in its second, and a listed document is new unless its fingerprint is the one
kept. A document changed twice in one second reads differently the second time (its content changed), so it is
new although its stamp is not.

What this assumes of a target: its clock never stamps a change before a second a pull has already read past (a
change is visible by the end of the second it is stamped in). A document without a stamp cannot be placed and is
always new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Change:
    """One document as a target listed it: its id, the stamp of its last change, a fingerprint of its content."""

    id: str
    updated_at: datetime | None
    fingerprint: str


@dataclass(frozen=True)
class Mark:
    """Where a resource was read up to: the newest stamp read, and each document read in that stamp's second."""

    at: datetime | None = None
    seen: Mapping[str, str] = field(default_factory=dict)  # id → fingerprint


def window_start(mark: Mark) -> datetime | None:
    """The instant the next pull asks from: the start of the mark's second (None: from the beginning)."""
    return mark.at.replace(microsecond=0) if mark.at is not None else None


def sift(mark: Mark, listed: Sequence[Change]) -> tuple[list[int], Mark]:
    """(positions in ``listed`` of the documents new to us, the mark after reading them).

    ``listed`` is what the target answered for changes since :func:`window_start` of ``mark``, in any order. A
    document is new unless it was changed before the window (the target rounded down) or it is, fingerprint for
    fingerprint, what was read in the window before. A document listed more than once counts once, in its newest
    listing."""
    start = window_start(mark)
    latest: dict[str, int] = {}
    for n, c in enumerate(listed):
        if start is not None and c.updated_at is not None and c.updated_at < start:
            continue
        if c.id not in latest or _later_or_same(c, listed[latest[c.id]]):
            latest[c.id] = n
    current = [listed[n] for n in sorted(latest.values())]
    fresh = sorted(n for n in latest.values()
                   if listed[n].updated_at is None or mark.seen.get(listed[n].id) != listed[n].fingerprint)
    at = max([s for s in (mark.at, *(c.updated_at for c in current)) if s is not None], default=None)
    if at is None:
        return fresh, mark
    second = at.replace(microsecond=0)
    seen = dict(mark.seen) if second == start else {}
    seen |= {c.id: c.fingerprint for c in current if c.updated_at is not None and c.updated_at >= second}
    return fresh, Mark(at, seen)


def _later_or_same(c: Change, other: Change) -> bool:
    if c.updated_at is None or other.updated_at is None:
        return c.updated_at is None
    return c.updated_at >= other.updated_at
