"""CSV exports as a source: the folder of an entity's exports (``source: csv``); ``sync-pipeline import csv`` files
one more export there (:func:`file_export`) and reads the folder as the ``raw_time_entries`` asset does.

Every row of an export ends in exactly one place: the period's entries, the quarantine (file, row, column,
problem, the raw cells), outside the period (counted), or superseded by a newer export (listed).

**Superseding.** A corrected re-export of a period placed beside the first must replace it, not add to it; the
exports carry no entry ids (ours are hashes of the row's content, so a corrected row has a new id). So exports are
ordered by their file modification time (oldest first, ties by name), and a newer export *covers*, for each
person in it, the dates from that person's first to last readable row in it. A row of an older export whose
person and date a newer export covers is superseded: it is listed with the file that superseded it and is not an
entry. Corrections therefore replace whole person-date ranges: an entry deleted in the project system disappears
with the re-export as long as the person still has a row on or around that date in it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.connectors import csv_exports
from sync_pipeline.connectors.csv_exports import CsvOptions, CsvResult
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.domain.periods import Period

QUARANTINE_COLUMNS = ["file", "source", "row", "column", "problem", "raw"]
SUPERSEDED_COLUMNS = ["file", "row", "entry_id", "user_id", "spent_date", "superseded_by"]
READERS = {"harvest": csv_exports.read_harvest_detailed, "toggl": csv_exports.read_toggl_detailed}


@dataclass(frozen=True)
class CsvImport:
    entries: pd.DataFrame  # raw_time_entries rows of the period
    quarantine: pd.DataFrame  # one row per problem: file, source, row, column, problem, raw (JSON)
    outside_period: int
    superseded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SUPERSEDED_COLUMNS))
    files: tuple[str, ...] = ()  # as read, oldest first, each with its encoding and delimiter


def read_export(src: str | Path | bytes, kind: str, options: CsvOptions | None = None, *,
                extracted_at: str | None = None) -> CsvResult:
    if kind not in READERS:
        raise ValueError(f"unknown CSV export kind {kind!r}; use one of {', '.join(READERS)}")
    return READERS[kind](src, options=options, extracted_at=extracted_at)


def _mtime(f: Path) -> str:
    """An export's rows are as of its modification time (their updated_at): re-reading it edits nothing."""
    return datetime.fromtimestamp(os.stat(f).st_mtime, UTC).isoformat(timespec="seconds")


def _quarantine(res: CsvResult, file: str) -> pd.DataFrame:
    return pd.DataFrame([{"file": file, "source": res.source, "row": e.row, "column": e.column, "problem": e.problem,
                          "raw": dumps(e.raw).decode()} for e in res.quarantined], columns=QUARANTINE_COLUMNS)


def _entries(res: CsvResult) -> pd.DataFrame:
    return pd.DataFrame(res.rows, columns=list(RawTimeEntry.to_schema().columns))


def _of_period(df: pd.DataFrame, period: Period) -> pd.Series:
    return df["spent_date"].between(period.start.isoformat(), period.end.isoformat())


def file_export(src: str | Path, folder: str | Path, kind: str, options: CsvOptions | None = None) -> Path:
    """Copy an export into an entity's exports folder as its newest export (it supersedes the older rows it covers)
    after checking it reads as a ``kind`` export; an export of the same name and other content is kept beside it
    under a name with the time. Returns where it was filed."""
    src, folder = Path(src), Path(folder)
    read_export(src, kind, options)  # refuse a file that is not such an export before filing it
    folder.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    dest = folder / (src.stem + ".csv")
    if dest.exists() and dest.read_bytes() != data:
        dest = folder / f"{src.stem}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.csv"
    newest = max([os.stat(f).st_mtime_ns for f in folder.glob("*.csv")] + [time.time_ns()])
    dest.write_bytes(data)
    os.utime(dest, ns=(newest + 1, newest + 1))
    return dest


def export_order(files: list[Path]) -> list[Path]:
    """Oldest export first: by modification time, ties by name."""
    return sorted(files, key=lambda f: (os.stat(f).st_mtime_ns, f.name))


def _coverage(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Per person, the first and last date of their readable rows in one export."""
    g = df.dropna(subset=["user_id", "spent_date"]).groupby("user_id")["spent_date"]
    return {u: (lo, hi) for u, lo, hi in zip(g.min().index, g.min(), g.max(), strict=True)}


def import_csv_folder(folder: str | Path, kind: str, period: Period, options: CsvOptions | None = None) -> CsvImport:
    """Every ``*.csv`` export in ``folder`` as one :class:`CsvImport` of ``period``; rows a newer export covers
    are superseded (see the module's docstring), bad rows quarantined with their file."""
    files = export_order(list(Path(folder).glob("*.csv")))
    if not files:
        raise FileNotFoundError(f"no *.csv export in {folder} (csv_export.folder of the mapping): drop the "
                                f"{kind} exports there")
    read = [(f, read_export(f, kind, options, extracted_at=_mtime(f))) for f in files]
    covered: list[tuple[str, dict[str, tuple[str, str]]]] = []  # newer exports' coverage, newest first
    kept, superseded = [], []
    for f, res in reversed(read):
        df = _entries(res).assign(_row=res.row_numbers)
        by = pd.Series([None] * len(df), index=df.index, dtype=object)
        for newer, cov in covered:
            lo = df["user_id"].map(lambda u, c=cov: c.get(u, (None, None))[0])
            hi = df["user_id"].map(lambda u, c=cov: c.get(u, (None, None))[1])
            hit = by.isna() & lo.notna() & (df["spent_date"] >= lo.fillna("")) & (df["spent_date"] <= hi.fillna(""))
            by[hit] = newer
        superseded.append(pd.DataFrame({"file": f.name, "row": df["_row"], "entry_id": df["entry_id"],
                                        "user_id": df["user_id"], "spent_date": df["spent_date"],
                                        "superseded_by": by})[by.notna()])
        kept.append(df[by.isna()].drop(columns="_row"))
        covered.append((f.name, _coverage(df)))
    entries = pd.concat(kept[::-1], ignore_index=True)
    in_period = _of_period(entries, period)
    sup = pd.concat(superseded[::-1], ignore_index=True)[SUPERSEDED_COLUMNS]
    return CsvImport(entries[in_period].reset_index(drop=True),
                     pd.concat([_quarantine(res, f.name) for f, res in read], ignore_index=True),
                     int((~in_period).sum()), sup.reset_index(drop=True),
                     tuple(f"{f.name} ({res.encoding}, {csv_exports.DELIMITERS[res.delimiter]})" for f, res in read))


def csv_rows_as_pages(entries: pd.DataFrame) -> tuple[list[list[dict[str, Any]]],
                                                      Callable[[dict[str, Any], str], dict[str, Any]]]:
    """Imported rows as one page for :func:`extract_time_entries_partition` (they are raw rows already)."""
    rows = entries.astype(object).where(entries.notna(), None).to_dict("records")
    return [rows] if rows else [], lambda row, _extracted_at: row
