"""The project system's change feed: which entity × billing period partitions changed since a cursor.

Harvest lists time entries changed at or after ``updated_since`` (second resolution, inclusive). A poll
re-reads an overlap window before its high-water mark, so an entry committed late with an earlier
``updated_at`` (clock skew, long transactions) is still seen; the cursor remembers which
``(entry, updated_at)`` versions inside that window were already turned into work, so a change is
reported exactly once (a version is ``updated_at`` plus a digest of the entry, so two edits within
one second still differ). An entry whose ``spent_date`` moved to another period changes both periods:
``previous_periods`` (what the warehouse last saw of that entry) names the old one.

Deleted entries do not appear in ``updated_since`` listings; the daily refresh of the current period
(schedules) re-extracts it and catches them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sync_pipeline.connectors.harvest import HarvestClient, flatten_time_entry
from sync_pipeline.domain.periods import Period
from sync_pipeline.store.warehouse import Warehouse

DEFAULT_OVERLAP = timedelta(minutes=2)
CURSOR_VERSION = 1


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant (``Z`` or offset) as an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"instant {text!r} has no time zone; the change feed needs explicit UTC instants")
    return dt.astimezone(UTC)


def format_instant(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, order=True)
class Change:
    """One version of one time entry that touches one billing period."""

    entity: str
    period: str  # YYYY-MM
    entry_id: str
    fingerprint: str  # ``updated_at#digest`` of the version listed

    @property
    def version(self) -> str:
        return f"{self.entry_id}@{self.fingerprint}"


@dataclass
class EntityCursor:
    """Where the feed of one entity stands."""

    high_water: str | None = None  # newest updated_at seen (ISO UTC)
    seen: dict[str, str] = field(default_factory=dict)  # entry_id → fingerprint handled inside the overlap window

    def to_dict(self) -> dict[str, Any]:
        return {"high_water": self.high_water, "seen": dict(sorted(self.seen.items()))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EntityCursor:
        return cls(high_water=d.get("high_water"), seen=dict(d.get("seen") or {}))


@dataclass
class FeedCursor:
    """The change-feed sensor's cursor: one :class:`EntityCursor` per entity, as JSON."""

    entities: dict[str, EntityCursor] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"version": CURSOR_VERSION,
                           "entities": {k: v.to_dict() for k, v in sorted(self.entities.items())}},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> FeedCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError(f"change-feed cursor is not JSON ({e}); reset the sensor's cursor in the UI") from None
        if data.get("version") != CURSOR_VERSION:
            raise ValueError(f"change-feed cursor version {data.get('version')!r} is not {CURSOR_VERSION}; "
                             "reset the sensor's cursor in the UI")
        return cls({k: EntityCursor.from_dict(v) for k, v in (data.get("entities") or {}).items()})


@dataclass
class PollResult:
    changes: list[Change]
    cursor: EntityCursor
    entries_read: int
    skipped: list[str]  # human-readable reasons for versions that map to no partition


def poll_entity(client: HarvestClient, entity: str, cursor: EntityCursor | None, *, start: datetime,
                overlap: timedelta = DEFAULT_OVERLAP,
                previous_periods: Callable[[list[str]], dict[str, dict[str, str | None]]] | None = None) -> PollResult:
    """Read the entity's changed time entries since its cursor; return the new changes and cursor.

    ``start`` is where a feed without a cursor begins. ``previous_periods(entry_ids)`` returns, per
    entry, the periods the warehouse last filed it under with the content digest it had there: an entry
    moved between periods refreshes both, and an entry whose billing content equals what the warehouse
    already holds (our own write-back, a no-op edit) is no change.
    """
    cur = cursor or EntityCursor()
    since = parse_instant(cur.high_water) - overlap if cur.high_water else start
    read = 0
    newest: dict[str, dict[str, Any]] = {}  # entry_id → newest version listed
    for page in client.time_entries(updated_since=format_instant(since)):
        for doc in page:
            read += 1
            eid = str(doc["id"])
            if eid not in newest or parse_instant(str(doc["updated_at"])) >= parse_instant(newest[eid]["updated_at"]):
                newest[eid] = doc
    versions = {eid: fingerprint(doc) for eid, doc in newest.items()}
    fresh = {eid: doc for eid, doc in newest.items() if _digest_of(cur.seen.get(eid)) != _digest_of(versions[eid])}
    known = previous_periods(sorted(fresh)) if previous_periods is not None and fresh else {}
    changes: set[Change] = set()
    skipped: list[str] = []
    for eid, doc in sorted(fresh.items()):
        spent = doc.get("spent_date")
        try:
            period = Period.of(date.fromisoformat(str(spent)[:10])).key
        except (TypeError, ValueError):
            skipped.append(f"entry {eid} (updated {doc.get('updated_at')}) has no usable spent_date {spent!r}")
            continue
        before = known.get(eid, {})
        if before == {period: _digest_of(versions[eid])}:
            continue  # the warehouse already holds exactly this content: nothing to bill differently
        changes.add(Change(entity, period, eid, versions[eid]))
        changes.update(Change(entity, p, eid, versions[eid]) for p in before if p != period)

    # advance: newest instant seen; remember versions inside the overlap window (they will be listed again)
    instants = [parse_instant(str(doc["updated_at"])) for doc in newest.values()]
    if cur.high_water:
        instants.append(parse_instant(cur.high_water))
    if not instants:  # a new feed that found nothing yet: start again from ``start`` next time
        return PollResult([], EntityCursor(), read, skipped)
    high = max(instants)
    floor = high - overlap
    seen = {eid: v for eid, v in cur.seen.items() if parse_instant(v.split("#")[0]) >= floor}
    seen.update({eid: versions[eid] for eid, doc in newest.items() if parse_instant(str(doc["updated_at"])) >= floor})
    return PollResult(sorted(changes), EntityCursor(format_instant(high), seen), read, skipped)


# What billing reads from an entry. Fields the pipeline writes back itself (is_billed, external_reference when
# posting marks entries invoiced) and timestamps are left out, so our own write-back is not a change.
BILLING_FIELDS = ("spent_date", "user_id", "client_id", "project_id", "task_id", "hours", "billable",
                  "billable_rate", "is_closed", "notes")


def _norm(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (Decimal, int, float)) or (isinstance(v, str) and _NUMERIC.match(v)):
        try:
            return format(Decimal(str(v)).normalize(), "f")
        except InvalidOperation:
            return str(v)
    return str(v)


_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")


def content_digest(row: dict[str, Any]) -> str:
    """Digest of the billing-relevant fields of a flattened entry (``raw_time_entries`` row)."""
    text = "\x1f".join(_norm(row.get(f)) for f in BILLING_FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(doc: dict[str, Any]) -> str:
    """``updated_at#digest`` of a Harvest entry; the digest covers only what billing reads."""
    return f"{doc.get('updated_at')}#{content_digest(flatten_time_entry(doc, ''))}"


def _digest_of(version: str | None) -> str | None:
    return version.rsplit("#", 1)[-1] if version else None


def group_by_partition(changes: Iterable[Change]) -> dict[tuple[str, str], list[Change]]:
    out: dict[tuple[str, str], list[Change]] = {}
    for c in changes:
        out.setdefault((c.entity, c.period), []).append(c)
    return {k: sorted(v) for k, v in sorted(out.items())}


def run_key(prefix: str, entity: str, period: str, versions: Iterable[str]) -> str:
    """A run key that names exactly these changes: the same changes never make a second run."""
    digest = hashlib.sha256("\n".join(sorted(set(versions))).encode()).hexdigest()[:20]
    return f"{prefix}:{entity}|{period}:{digest}"


def warehouse_periods(wh: Warehouse, entity: str) -> Callable[[list[str]], dict[str, dict[str, str | None]]]:
    """``previous_periods`` backed by the warehouse: per entry, the periods whose raw extract holds it and the
    content digest it has there (None when that extract lacks a billing column)."""

    def lookup(entry_ids: list[str]) -> dict[str, dict[str, str | None]]:
        wanted = set(entry_ids)
        out: dict[str, dict[str, str | None]] = {}
        for period in wh.periods("raw_time_entries", entity):
            try:
                rows = wh.read_columns("raw_time_entries", entity, period, ["entry_id", *BILLING_FIELDS]).to_pylist()
            except (KeyError, ValueError):  # an older extract without some billing column
                rows = [{"entry_id": e} for e in
                        wh.read_columns("raw_time_entries", entity, period, ["entry_id"]).column("entry_id").to_pylist()]
            for row in rows:
                if row["entry_id"] in wanted:
                    digest = content_digest(row) if len(row) > 1 else None
                    out.setdefault(row["entry_id"], {})[period] = digest
        return out

    return lookup
