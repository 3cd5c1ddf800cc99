"""Extraction: stream pages from the project system into raw warehouse rows."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sync_pipeline.connectors.harvest import HarvestClient, read_expense, read_time_entry
from sync_pipeline.connectors.redmine import RedmineClient, time_entry_reader
from sync_pipeline.connectors.redmine import read_time_entry as read_redmine_time_entry
from sync_pipeline.connectors.strict import QUARANTINE_COLUMNS, Rejected, quarantine_frame_rows
from sync_pipeline.contracts.warehouse import RawExpense, RawTimeEntry
from sync_pipeline.domain.periods import Period
from sync_pipeline.store.contract_sql import check_parquet
from sync_pipeline.store.cursors import CursorStore
from sync_pipeline.store.sql import SqlModels, copy_to_parquet, string_literal, view_over_parquet
from sync_pipeline.store.warehouse import ContractViolation, Warehouse

# A source record → its warehouse row, or a Rejected naming what is wrong (connectors.strict)
Reader = Callable[[dict[str, Any], str], "dict[str, Any] | Rejected"]


@dataclass
class SourceRead:
    """Records read strictly from a stream of pages: the warehouse rows (a rejected entry whose id reads keeps a
    row that carries its problems, so it is classified quarantined) and every rejected record, by position."""

    rows: list[dict[str, Any]]
    rejected: list[Rejected]
    inputs: int

    def quarantine(self) -> pd.DataFrame:
        """One row per problem: source, record (id, or ``position N``), row (position), field, value, problem."""
        return quarantine_frame(self.rejected)


def quarantine_frame(rejected: list[Rejected]) -> pd.DataFrame:
    return pd.DataFrame(quarantine_frame_rows(rejected), columns=QUARANTINE_COLUMNS)


def read_pages(pages: Iterable[list[dict[str, Any]]], read: Reader, extracted_at: str | None = None) -> SourceRead:
    """Every record of ``pages`` through ``read``; positions count from 1 in the order the source sent them."""
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")
    out = SourceRead([], [], 0)
    for page in pages:
        for doc in page:
            out.inputs += 1
            r = read(doc, extracted_at)
            if isinstance(r, Rejected):
                r = r.at(out.inputs)
                out.rejected.append(r)
                if r.row is None:
                    continue
                r = r.row
            out.rows.append(r)
    return out


def _newest(rows: list[dict[str, Any]], columns: list[str], id_col: str) -> pd.DataFrame:
    """The rows as a frame, the newest version of each record (the same record can come twice if it changed
    while we paged)."""
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values([id_col, "updated_at"]).drop_duplicates(id_col, keep="last").reset_index(drop=True)


def extract_time_entries(client: HarvestClient, period: Period) -> pd.DataFrame:
    """All time entries whose spent_date falls in the period, as ``raw_time_entries`` rows (entries that do not read
    strictly: a row naming their problems; records without a readable id are left out: see :func:`read_pages`)."""
    read = read_pages(client.time_entries(start=period.start, end=period.end), read_time_entry)
    return _newest(read.rows, list(RawTimeEntry.to_schema().columns), "entry_id")


def read_expenses(client: HarvestClient, period: Period) -> tuple[pd.DataFrame, SourceRead]:
    """The period's expenses read strictly: ``raw_expenses`` rows (newest version of each) and the reading (its
    rejected records for ``raw_expenses_quarantine``)."""
    return read_expense_pages(client.expenses(start=period.start, end=period.end))


def read_expense_pages(pages: Iterable[list[dict[str, Any]]], reader: Reader = read_expense
                       ) -> tuple[pd.DataFrame, SourceRead]:
    """Pages of expenses read strictly (``reader``: Harvest's by default), as :func:`read_expenses` returns them."""
    read = read_pages(pages, reader)
    return _newest(read.rows, list(RawExpense.to_schema().columns), "expense_id"), read


def extract_expenses(client: HarvestClient, period: Period) -> pd.DataFrame:
    """All expenses whose spent_date falls in the period, as ``raw_expenses`` rows (newest version of each)."""
    return read_expenses(client, period)[0]


# -- incremental extraction with a persisted cursor ---------------------------------------------------
@dataclass(frozen=True)
class IncrementalResult:
    resource: str
    records: int
    pages: int
    cursor_before: str | None
    cursor_after: str | None
    deleted_ids: tuple[str, ...] = ()


def extract_incremental(client: HarvestClient, cursors: CursorStore, account: str, resource: str,
                        sink: Callable[[list[dict[str, Any]]], None], *, deletion_feed: bool = False,
                        **filters: Any) -> IncrementalResult:
    """Stream the records of ``resource`` changed since the stored cursor into ``sink``, then advance it.

    The cursor is the highest ``updated_at`` consumed; Harvest's ``updated_since`` is inclusive, so the
    boundary record is read again next time (consumers de-duplicate on id + updated_at). The cursor only
    moves after every page reached the sink: a crash re-reads, it never skips. Edits arrive here as new
    versions of a record; deletions do not: with ``deletion_feed`` (the sandbox's) they are read from the
    feed since the same cursor, otherwise reconcile the window's id set (:func:`window_changes`).
    """
    before = cursors.get("harvest", account, resource)
    since = before.cursor if before else None
    high, records, pages = since, 0, 0
    for page in client.changed_since(resource, since, **filters):
        sink(page)
        pages += 1
        records += len(page)
        page_high = max((str(d.get("updated_at")) for d in page), default=None)
        if page_high and (high is None or page_high > high):
            high = page_high
    deleted: tuple[str, ...] = ()
    if deletion_feed:
        deleted = tuple(str(d["id"]) for d in client.deletions(resource, since))
    if high and high != since:
        cursors.advance("harvest", account, resource, high, records)
    return IncrementalResult(resource, records, pages, since, high, deleted)


@dataclass(frozen=True)
class WindowChanges:
    """How an extraction window differs from the previous extraction of the same window."""

    deleted: list[str]
    added: list[str]
    edited: list[str]

    def as_metadata(self, limit: int = 20) -> dict[str, Any]:
        return {"deleted_since_last_extract": len(self.deleted), "added_since_last_extract": len(self.added),
                "edited_since_last_extract": len(self.edited),
                "deleted_entry_ids": ", ".join(self.deleted[:limit]) + (" …" if len(self.deleted) > limit else "")}


@dataclass(frozen=True)
class WindowSummary:
    """:class:`WindowChanges` as a large extract reports them: the deleted ids, the added and edited counted (a
    first extract adds every entry; holding a million ids in Python would cost more than the extract)."""

    deleted: list[str]
    added: int
    edited: int

    def as_metadata(self, limit: int = 20) -> dict[str, Any]:
        return {"deleted_since_last_extract": len(self.deleted), "added_since_last_extract": self.added,
                "edited_since_last_extract": self.edited,
                "deleted_entry_ids": ", ".join(self.deleted[:limit]) + (" …" if len(self.deleted) > limit else "")}


def window_changes(previous: pd.DataFrame | None, current: pd.DataFrame, id_col: str = "entry_id") -> WindowChanges:
    """Reconcile the id sets of two extractions of one window: what was deleted, added, edited at the source.

    Harvest has no deletion feed, so a record missing from a complete re-read of its window is a deletion.
    """
    if previous is None or previous.empty:
        return WindowChanges([], sorted(current[id_col].astype(str)), [])
    prev = dict(zip(previous[id_col].astype(str), previous["updated_at"].astype(str), strict=True))
    cur = dict(zip(current[id_col].astype(str), current["updated_at"].astype(str), strict=True))
    return WindowChanges(
        deleted=sorted(set(prev) - set(cur), key=_id_key),
        added=sorted(set(cur) - set(prev), key=_id_key),
        edited=sorted((k for k in set(prev) & set(cur) if prev[k] != cur[k]), key=_id_key),
    )


def _id_key(v: str) -> tuple[int, str]:
    return (0, f"{int(v):020d}") if v.isdigit() else (1, v)


def extract_redmine_time_entries(client: RedmineClient, start: date, end: date) -> pd.DataFrame:
    """Redmine time entries with spent_on in [start, end], read strictly into the ``raw_time_entries`` contract."""
    projects = client.projects()
    read = read_pages(client.time_entries(start=start, end=end),
                      lambda doc, at: read_redmine_time_entry(doc, projects, at))
    return _newest(read.rows, list(RawTimeEntry.to_schema().columns), "entry_id")


@dataclass(frozen=True)
class StreamResult:
    rows: int
    pages: int
    path: str


def stream_time_entries_to_parquet(pages: Iterable[list[dict[str, Any]]], path: str | Path,
                                   flatten: Reader = read_time_entry, row_group_rows: int = 50_000,
                                   rejected: list[Rejected] | None = None,
                                   protect: Callable[[list[dict[str, Any]]], None] | None = None) -> StreamResult:
    """Write pages of source records to one Parquet file as they arrive: memory stays flat in the data size.

    Rows are buffered up to ``row_group_rows`` and written as one row group through
    ``pyarrow.parquet.ParquetWriter`` with the ``raw_time_entries`` Arrow schema (decimals exact).
    De-duplication across pages is left to readers (DuckDB ``QUALIFY row_number() ...``): keeping
    a set of seen ids would grow with the data. ``flatten`` reads each record strictly; a record it rejects is
    appended to ``rejected`` with its position, and its identity row (when its id reads) is written.
    ``protect`` rewrites each row group before it is written (``services.pseudonymize``: names become pseudonyms,
    notes are encrypted), so no name reaches the file.
    """
    import pyarrow
    import pyarrow.parquet as pq

    from sync_pipeline.store.warehouse import arrow_schema

    schema = arrow_schema(RawTimeEntry)
    decimals = {f.name: f.type.scale for f in schema if pyarrow.types.is_decimal(f.type)}
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = n_pages = 0
    buf: list[dict[str, Any]] = []

    def flush(writer: pq.ParquetWriter) -> None:
        if protect is not None:
            protect(buf)
        cols = {name: [r.get(name) for r in buf] for name in schema.names}  # optional columns: empty
        for name, scale in decimals.items():
            q = Decimal(1).scaleb(-scale)
            cols[name] = [None if v is None else Decimal(v).quantize(q) for v in cols[name]]
        writer.write_table(pyarrow.table(cols, schema=schema))
        buf.clear()

    tmp = out.with_suffix(".parquet.tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for page in pages:
            n_pages += 1
            for doc in page:
                rows += 1
                r = flatten(doc, extracted_at)
                if isinstance(r, Rejected):
                    r = r.at(rows)
                    if rejected is not None:
                        rejected.append(r)
                    if r.row is None:
                        continue
                    r = r.row
                buf.append(r)
            if len(buf) >= row_group_rows:
                flush(writer)
        if buf:
            flush(writer)
    tmp.replace(out)  # readers never see a half-written file
    return StreamResult(rows, n_pages, str(out))


def redmine_time_entry_pages(client: RedmineClient, period: Period, currency_of: Callable[[str | None], str]
                             ) -> tuple[Iterable[list[dict[str, Any]]], Reader]:
    """A Redmine entity's time entries of the period as pages, and how each becomes a ``raw_time_entries`` row,
    strictly (:func:`~sync_pipeline.connectors.redmine.read_time_entry`, then ``map_time_entry``: the root project
    is the client, the activity the task). Redmine knows no currency: ``currency_of(client_id)`` says which one
    the client is billed in (the mapping's, else the entity's base currency), recorded as the entry's
    ``client_currency``."""
    return client.time_entries(start=period.start, end=period.end), redmine_reader(client.projects(), currency_of)


def redmine_reader(projects: dict[int, dict[str, Any]], currency_of: Callable[[str | None], str]) -> Reader:
    """How a Redmine time entry becomes a ``raw_time_entries`` row (``connectors.redmine.time_entry_reader``)."""
    return time_entry_reader(projects, currency_of)


def extract_time_entries_partition(pages: Iterable[list[dict[str, Any]]], wh: Warehouse, entity: str,
                                   period: Period, models: SqlModels | None = None,
                                   memory_limit: str = "64MB", dedupe_memory_limit: str = "256MB",
                                   flatten: Reader = read_time_entry,
                                   protect: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """The ``raw_time_entries`` partition, streamed (what the asset runs): pages go to Parquet as they arrive
    (one page and one row group in memory, :func:`stream_time_entries_to_parquet`; ``flatten`` turns a source
    record into a row, strictly: Harvest's by default, :func:`redmine_time_entry_pages` gives Redmine's; a record that
    does not read is listed in ``quarantine``, and kept as a row naming its problems when its id reads, so the entry is
    classified quarantined and conservation counts it); when an entry came twice
    (edited while we paged) DuckDB keeps its newest version (``raw_time_entries_latest.sql``); the
    ``RawTimeEntry`` contract is checked over the file (``store.contract_sql``, one scan) and the window is
    compared with the stored extract (``raw_window_changes.sql``). The file replaces the stored one only when
    its contract holds.

    DuckDB runs on one thread within ``memory_limit`` (``dedupe_memory_limit`` for the rare rewrite), spilling
    to a temporary folder beyond it, so the extract stays flat however large the period; rows stay in the
    order the source sent them. Returns rows, pages, superseded versions, the :class:`WindowSummary`, the
    first rows by id, where the partition is, the records read (``inputs``) and the rejected ones (``quarantined``,
    and ``quarantine``: one row per problem for ``raw_time_entries_quarantine``).
    """
    models = models or SqlModels()
    p = period.key
    with tempfile.TemporaryDirectory(prefix="extract-") as tmp, wh.staged_file("raw_time_entries", entity, p) as dest:
        rejected: list[Rejected] = []
        streamed = stream_time_entries_to_parquet(pages, Path(tmp) / "pages.parquet", flatten=flatten,
                                                  rejected=rejected, protect=protect)
        con = duckdb.connect(config={"memory_limit": memory_limit, "threads": 1, "preserve_insertion_order": False,
                                     "temp_directory": str(Path(tmp) / "spill")})
        try:
            view_over_parquet(con, "raw_pages", streamed.path, row_numbers=True)
            superseded = con.execute("SELECT count(*) - count(DISTINCT entry_id) FROM raw_pages").fetchall()[0][0]
            if superseded:
                con.execute(f"SET memory_limit = {string_literal(dedupe_memory_limit)}")
                copy_to_parquet(con, models.models["raw_time_entries_latest"], {}, dest)
                con.execute(f"SET memory_limit = {string_literal(memory_limit)}")
            else:  # one version per entry already: the streamed file is the partition
                shutil.move(streamed.path, dest)
            ContractViolation.refuse("raw_time_entries", RawTimeEntry, check_parquet(con, RawTimeEntry, str(dest)))
            view_over_parquet(con, "current_extract", dest)
            with ExitStack() as stack:
                if wh.exists("raw_time_entries", entity, p):
                    view_over_parquet(con, "previous_extract",
                                      stack.enter_context(wh.local_file("raw_time_entries", entity, p)))
                else:
                    con.execute("CREATE OR REPLACE TEMP VIEW previous_extract AS "
                                "SELECT entry_id, updated_at FROM current_extract WHERE false")
                con.execute(f"CREATE TEMP TABLE changes AS {models.models['raw_window_changes']}")
            counts = dict(con.execute("SELECT change, count(*) FROM changes GROUP BY 1").fetchall())
            deleted = [str(r[0]) for r in con.execute("SELECT entry_id FROM changes WHERE change = 'deleted'").fetchall()]
            rows = con.execute("SELECT count(*) FROM current_extract").fetchall()[0][0]
            head = con.sql("SELECT * FROM current_extract ORDER BY entry_id LIMIT 10").df()
        finally:
            con.close()
    changes = WindowSummary(sorted(deleted, key=_id_key), int(counts.get("added", 0)), int(counts.get("edited", 0)))
    return {"rows": int(rows), "pages": streamed.pages, "superseded_versions": int(superseded), "changes": changes,
            "preview": head, "path": wh.uri("raw_time_entries", entity, p), "inputs": streamed.rows,
            "quarantined": len(rejected), "quarantine": quarantine_frame(rejected)}
