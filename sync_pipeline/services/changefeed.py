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

Expenses have a feed of their own (:func:`poll_expenses`, a separate part of the cursor): ``spent_date``
(a calendar date in the entity's books, like an entry's) decides the period, the digest covers what
expense billing reads, and a deleted expense refreshes every period the warehouse holds it in, when the
project system has a deletion feed (the sandbox's ``/v2/x_sandbox/deleted``; real Harvest answers 404,
and the daily refresh catches deletions there as for entries).
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

from sync_pipeline.connectors.harvest import read_expense, read_time_entry
from sync_pipeline.connectors.http import HttpError
from sync_pipeline.connectors.project import ChangeFeed
from sync_pipeline.connectors.strict import Rejected
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
    """One version of one time entry (or expense) that touches one billing period."""

    entity: str
    period: str  # YYYY-MM
    entry_id: str  # the record's id in the project system
    fingerprint: str  # ``updated_at#digest`` of the version listed (``deleted_at#deleted`` for a deletion)
    kind: str = "entry"  # "entry" | "expense"

    @property
    def version(self) -> str:
        # entries keep their historical form, so run keys made before expenses were watched stay the same
        return f"{self.entry_id}@{self.fingerprint}" if self.kind == "entry" else \
            f"{self.kind}:{self.entry_id}@{self.fingerprint}"


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
    """The change-feed sensor's cursor: one :class:`EntityCursor` per entity for time entries and one for
    expenses, as JSON. A cursor written before expenses were watched has no ``expenses`` part: that feed
    starts at the sensor's start instant."""

    entities: dict[str, EntityCursor] = field(default_factory=dict)
    expenses: dict[str, EntityCursor] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"version": CURSOR_VERSION,
                           "entities": {k: v.to_dict() for k, v in sorted(self.entities.items())},
                           "expenses": {k: v.to_dict() for k, v in sorted(self.expenses.items())}},
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
        return cls({k: EntityCursor.from_dict(v) for k, v in (data.get("entities") or {}).items()},
                   {k: EntityCursor.from_dict(v) for k, v in (data.get("expenses") or {}).items()})


@dataclass
class PollResult:
    changes: list[Change]
    cursor: EntityCursor
    entries_read: int
    skipped: list[str]  # human-readable reasons for versions that map to no partition


PreviousPeriods = Callable[[list[str]], dict[str, dict[str, str | None]]]


def poll_entity(client: ChangeFeed, entity: str, cursor: EntityCursor | None, *, start: datetime,
                overlap: timedelta = DEFAULT_OVERLAP, previous_periods: PreviousPeriods | None = None) -> PollResult:
    """Read the entity's changed time entries since its cursor; return the new changes and cursor.

    ``start`` is where a feed without a cursor begins. ``previous_periods(entry_ids)`` returns, per
    entry, the periods the warehouse last filed it under with the content digest it had there: an entry
    moved between periods refreshes both, and an entry whose billing content equals what the warehouse
    already holds (our own write-back, a no-op edit) is no change.
    """
    return _poll(lambda since: client.time_entries(updated_since=since), fingerprint, "entry", entity, cursor,
                 start=start, overlap=overlap, previous_periods=previous_periods)


def poll_expenses(client: ChangeFeed, entity: str, cursor: EntityCursor | None, *, start: datetime,
                  overlap: timedelta = DEFAULT_OVERLAP, previous_periods: PreviousPeriods | None = None,
                  deletion_feed: bool = True) -> PollResult:
    """As :func:`poll_entity`, for the entity's expenses (``previous_periods`` keyed by expense id).

    With ``deletion_feed``, expenses deleted since the cursor are read from the project system's deletion
    feed; a deleted expense the warehouse holds refreshes the periods it is held in (one it never held has
    nothing to take back). A project system without a deletion feed (404) is read without it.
    """
    def deleted(since: str) -> list[dict[str, Any]]:
        if not deletion_feed:
            return []
        try:
            return client.deletions("expenses", since)
        except HttpError as e:
            if e.status == 404:  # real Harvest: no deletion feed; the daily refresh re-reads the period
                return []
            raise

    return _poll(lambda since: client.expenses(updated_since=since), expense_fingerprint, "expense", entity,
                 cursor, start=start, overlap=overlap, previous_periods=previous_periods, deleted=deleted)


def _poll(listing: Callable[[str], Iterable[list[dict[str, Any]]]], fingerprint_of: Callable[[dict[str, Any]], str],
          kind: str, entity: str, cursor: EntityCursor | None, *, start: datetime, overlap: timedelta,
          previous_periods: PreviousPeriods | None,
          deleted: Callable[[str], list[dict[str, Any]]] | None = None) -> PollResult:
    cur = cursor or EntityCursor()
    since = format_instant(parse_instant(cur.high_water) - overlap if cur.high_water else start)
    read = 0
    newest: dict[str, dict[str, Any]] = {}  # id → newest version listed
    for page in listing(since):
        for doc in page:
            read += 1
            eid = str(doc["id"])
            if eid not in newest or parse_instant(str(doc["updated_at"])) >= parse_instant(newest[eid]["updated_at"]):
                newest[eid] = doc
    versions = {eid: fingerprint_of(doc) for eid, doc in newest.items()}
    instant = {eid: parse_instant(str(doc["updated_at"])) for eid, doc in newest.items()}
    gone: set[str] = set()
    for d in (deleted(since) if deleted is not None else []):
        eid = str(d["id"])
        when = parse_instant(str(d["deleted_at"]))
        if eid in instant and instant[eid] > when:
            continue  # listed again after the deletion (a re-created id): the listing is newer
        read += 1
        gone.add(eid)
        versions[eid] = f"{format_instant(when)}#deleted"
        instant[eid] = when
    fresh = {eid for eid in versions if _digest_of(cur.seen.get(eid)) != _digest_of(versions[eid])
             or (eid in gone and cur.seen.get(eid) != versions[eid])}
    known = previous_periods(sorted(fresh)) if previous_periods is not None and fresh else {}
    changes: set[Change] = set()
    skipped: list[str] = []
    for eid in sorted(fresh):
        before = known.get(eid, {})
        if eid in gone:  # every period the warehouse holds it in loses it; none: it was never extracted
            changes.update(Change(entity, p, eid, versions[eid], kind) for p in before)
            continue
        doc = newest[eid]
        spent = doc.get("spent_date")
        try:
            period = Period.of(date.fromisoformat(str(spent)[:10])).key
        except (TypeError, ValueError):
            skipped.append(f"{kind} {eid} (updated {doc.get('updated_at')}) has no usable spent_date {spent!r}")
            continue
        if before == {period: _digest_of(versions[eid])}:
            continue  # the warehouse already holds exactly this content: nothing to bill differently
        changes.add(Change(entity, period, eid, versions[eid], kind))
        changes.update(Change(entity, p, eid, versions[eid], kind) for p in before if p != period)

    # advance: newest instant seen; remember versions inside the overlap window (they will be listed again)
    instants = list(instant.values())
    if cur.high_water:
        instants.append(parse_instant(cur.high_water))
    if not instants:  # a new feed that found nothing yet: start again from ``start`` next time
        return PollResult([], EntityCursor(), read, skipped)
    high = max(instants)
    floor = high - overlap
    seen = {eid: v for eid, v in cur.seen.items() if parse_instant(v.split("#")[0]) >= floor}
    seen.update({eid: versions[eid] for eid in versions if instant[eid] >= floor})
    return PollResult(sorted(changes), EntityCursor(format_instant(high), seen), read, skipped)


# What billing reads from an entry (clean_time_entries.sql). Fields the pipeline writes back itself (is_billed,
# external_reference when posting marks entries invoiced) and timestamps are left out, so our own write-back is
# not a change; ``billed_elsewhere`` is derived and stays empty for our own marks, so it can be in. Approval,
# invoicing in the project system and the start instant (which decides the local date) are changes.
BILLING_FIELDS = ("spent_date", "user_id", "client_id", "project_id", "task_id", "hours", "billable",
                  "billable_rate", "is_closed", "notes", "approval_status", "approved_by", "billed_elsewhere",
                  "started_at", "timezone")


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


def _problem(row: dict[str, Any]) -> str:
    """A record that did not read strictly digests its problems too (only then: the digests of every readable
    record stay what they were)."""
    return f"\x1e{row['source_problem']}" if row.get("source_problem") else ""


def content_digest(row: dict[str, Any]) -> str:
    """Digest of the billing-relevant fields of a flattened entry (``raw_time_entries`` row)."""
    text = "\x1f".join(_norm(row.get(f)) for f in BILLING_FIELDS) + _problem(row)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(doc: dict[str, Any]) -> str:
    """``updated_at#digest`` of a Harvest entry; the digest covers only what billing reads."""
    return f"{doc.get('updated_at')}#{content_digest(_read_row(read_time_entry(doc, '')))}"


def _read_row(read: dict[str, Any] | Rejected) -> dict[str, Any]:
    """The row a record reads as; a rejected record's problems stand in for its fields (they are what billing
    will see: an edit that makes a record unreadable, or readable again, changes the digest)."""
    if isinstance(read, Rejected):
        return {"source_problem": read.summary}
    return read


# What expense billing reads from an expense (``raw_expenses`` columns). ``is_billed`` is left out: posting
# sets it itself when an expense is on one of our invoices.
EXPENSE_BILLING_FIELDS = ("spent_date", "user_id", "client_id", "project_id", "category", "units", "total_cost",
                          "markup_percent", "billable", "is_closed", "approval_status", "approved_by",
                          "billed_elsewhere", "notes")


def expense_digest(row: dict[str, Any]) -> str:
    """Digest of the billing-relevant fields of a flattened expense (``raw_expenses`` row)."""
    text = "\x1f".join(_norm(row.get(f)) for f in EXPENSE_BILLING_FIELDS) + _problem(row)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def expense_fingerprint(doc: dict[str, Any]) -> str:
    """``updated_at#digest`` of a Harvest expense; the digest covers only what expense billing reads."""
    return f"{doc.get('updated_at')}#{expense_digest(_read_row(read_expense(doc, '')))}"


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


def _digestible_rows(wh: Warehouse, asset: str, entity: str, period: str, id_col: str,
                     fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """A stored extract's ids with the columns its digests cover (``source_problem`` when the extract has it; only
    the ids when an older extract lacks a billing column)."""
    for columns in ([id_col, *fields, "source_problem"], [id_col, *fields]):
        try:
            return wh.read_columns(asset, entity, period, columns).to_pylist()
        except (KeyError, ValueError):
            continue
    return [{id_col: e} for e in wh.read_columns(asset, entity, period, [id_col]).column(id_col).to_pylist()]


def warehouse_periods(wh: Warehouse, entity: str, *, asset: str = "raw_time_entries", id_col: str = "entry_id",
                      fields: tuple[str, ...] = BILLING_FIELDS,
                      digest: Callable[[dict[str, Any]], str] = content_digest) -> PreviousPeriods:
    """``previous_periods`` backed by the warehouse: per record, the periods whose raw extract holds it and the
    content digest it has there (None when that extract lacks a billing column)."""

    def lookup(record_ids: list[str]) -> dict[str, dict[str, str | None]]:
        wanted = set(record_ids)
        out: dict[str, dict[str, str | None]] = {}
        for period in wh.periods(asset, entity):
            rows = _digestible_rows(wh, asset, entity, period, id_col, fields)
            for row in rows:
                if row[id_col] in wanted:
                    out.setdefault(row[id_col], {})[period] = digest(row) if len(row) > 1 else None
        return out

    return lookup


def warehouse_expense_periods(wh: Warehouse, entity: str) -> PreviousPeriods:
    """:func:`warehouse_periods` for expenses (``raw_expenses``)."""
    return warehouse_periods(wh, entity, asset="raw_expenses", id_col="expense_id", fields=EXPENSE_BILLING_FIELDS,
                             digest=expense_digest)
