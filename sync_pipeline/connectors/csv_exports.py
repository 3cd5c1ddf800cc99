"""CSV exports as a source: Harvest's *detailed time report* and Toggl Track's *detailed report*.

Each file maps into the ``raw_time_entries`` contract. Every row either becomes a record or is
quarantined with a :class:`RowError` naming the row number (1 = the header line), the column and
what was wrong; nothing is dropped silently and one bad row never sinks the file. A missing
required column is a file-level error that lists what the file has instead.

Harvest detailed time report (Reports → Detailed time → Export CSV), the columns we read:
``Date, Client, Project, Project Code, Task, Notes, Hours, Billable?, Approved?, First Name,
Last Name, Billable Rate, Currency`` (others such as ``Hours Rounded``, ``Invoiced?``,
``Billable Amount``, ``Cost Rate`` are ignored). Dates are ``YYYY-MM-DD``; currencies may be
written as ``British Pound - GBP``.

Toggl Track detailed report (Reports → Detailed → Export CSV): ``User, Email, Client, Project,
Task, Description, Billable, Start date, Start time, End date, End time, Duration, Tags`` and
optionally ``Amount (XXX)`` / ``Billable Rate (XXX)``; ``Duration`` is ``HH:MM:SS``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

HARVEST_REQUIRED = ["Date", "Client", "Project", "Task", "Notes", "Hours", "Billable?", "First Name", "Last Name"]
# exports carry neither a start instant with its zone nor who approved an entry (RawTimeEntry v2 columns)
NO_START_NOR_APPROVAL = {"started_at": None, "timezone": None, "approval_status": None, "approved_by": None,
                         "approved_at": None}
TOGGL_REQUIRED = ["User", "Client", "Project", "Description", "Billable", "Start date", "Start time", "Duration"]


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    problem: str
    raw: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.problem}"


@dataclass
class CsvResult:
    source: str
    rows: list[dict[str, Any]]
    quarantined: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.quarantined


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (wrong export, missing columns)."""


def _text(src: str | Path | bytes) -> str:
    if isinstance(src, bytes):
        return src.decode("utf-8-sig")
    if isinstance(src, Path) or (isinstance(src, str) and "\n" not in src and Path(src).exists()):
        return Path(src).read_text(encoding="utf-8-sig")
    return str(src).lstrip("\ufeff")


def _reader(text: str, required: list[str], kind: str) -> csv.DictReader:
    r = csv.DictReader(io.StringIO(text))
    have = [h.strip() for h in (r.fieldnames or [])]
    r.fieldnames = have
    missing = [c for c in required if c not in have]
    if missing:
        raise CsvFormatError(f"not a {kind}: missing column(s) {', '.join(missing)}; the file has: "
                             f"{', '.join(have) or '(no header)'}")
    return r


def _decimal(v: str, col: str, errs: list[tuple[str, str]], *, required: bool = True) -> Decimal | None:
    s = (v or "").strip().replace(",", "")
    if not s:
        if required:
            errs.append((col, "is empty"))
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:
        errs.append((col, f"{v!r} is not a number"))
        return None
    if not d.is_finite():
        errs.append((col, f"{v!r} is not a finite number"))
        return None
    return d


def _date(v: str, col: str, errs: list[tuple[str, str]], formats: tuple[str, ...] = ("%Y-%m-%d",)) -> str | None:
    s = (v or "").strip()
    for f in formats:
        try:
            return datetime.strptime(s, f).date().isoformat()
        except ValueError:
            continue
    errs.append((col, f"{v!r} is not a date ({' or '.join(f.replace('%', '') for f in formats)})"))
    return None


def _bool(v: str, col: str, errs: list[tuple[str, str]]) -> bool:
    s = (v or "").strip().lower()
    if s in ("yes", "true", "1", "y"):
        return True
    if s in ("no", "false", "0", "n", ""):
        return False
    errs.append((col, f"{v!r} is not Yes/No"))
    return False


def _currency(v: str | None) -> str | None:
    s = (v or "").strip()
    m = re.search(r"\b([A-Z]{3})\b\s*$", s)
    return m.group(1) if m else (s or None)


def _entry_id(source: str, parts: list[str], seen: dict[str, int]) -> str:
    """A stable id for a row without one: hash of its content, plus an occurrence counter for exact repeats."""
    h = hashlib.sha1("\x1f".join([source, *parts]).encode()).hexdigest()[:16]
    n = seen.get(h, 0)
    seen[h] = n + 1
    return f"{source}-{h}" + (f"-{n}" if n else "")


def _slug(name: str | None) -> str | None:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") if name else None


def read_harvest_detailed(src: str | Path | bytes, *, extracted_at: str | None = None) -> CsvResult:
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")
    reader = _reader(_text(src), HARVEST_REQUIRED, "Harvest detailed time report")
    rows, bad, seen = [], [], {}
    for n, raw in enumerate(reader, start=2):
        errs: list[tuple[str, str]] = []
        if None in raw:
            errs.append((None, f"{len(raw[None])} more value(s) than header columns"))  # type: ignore[arg-type]
        raw = {k: (v or "") for k, v in raw.items() if k is not None}
        spent = _date(raw["Date"], "Date", errs)
        hours = _decimal(raw["Hours"], "Hours", errs)
        if hours is not None and hours < 0:
            errs.append(("Hours", f"{raw['Hours']!r} is negative"))
        billable = _bool(raw["Billable?"], "Billable?", errs)
        approved = _bool(raw.get("Approved?", ""), "Approved?", errs)
        rate = _decimal(raw.get("Billable Rate", ""), "Billable Rate", errs, required=False)
        for col in ("Client", "Project", "Task"):
            if not raw[col].strip():
                errs.append((col, "is empty"))
        if errs:
            bad.extend(RowError(n, c, p, raw) for c, p in errs)
            continue
        user = f"{raw['First Name'].strip()} {raw['Last Name'].strip()}".strip()
        rows.append({
            "source": "harvest_csv",
            "entry_id": _entry_id("harvest_csv", [spent, user, raw["Project"], raw["Task"], raw["Notes"], raw["Hours"]],
                                  seen),
            "spent_date": spent, "user_id": _slug(user), "user_name": user,
            "client_id": _slug(raw["Client"]), "client_name": raw["Client"].strip(),
            "client_currency": _currency(raw.get("Currency")),
            "project_id": _slug(raw.get("Project Code") or raw["Project"]), "project_name": raw["Project"].strip(),
            "project_code": raw.get("Project Code", "").strip() or None,
            "task_id": _slug(raw["Task"]), "task_name": raw["Task"].strip(),
            "hours": hours, "billable": billable, "billable_rate": rate, "is_closed": approved,
            "notes": raw["Notes"] or None, "updated_at": extracted_at, "extracted_at": extracted_at,
            **NO_START_NOR_APPROVAL,
        })
    return CsvResult("harvest_csv", rows, bad)


def _duration(v: str, col: str, errs: list[tuple[str, str]]) -> Decimal | None:
    m = re.fullmatch(r"\s*(\d+):([0-5]\d):([0-5]\d)\s*", v or "")
    if not m:
        errs.append((col, f"{v!r} is not a duration HH:MM:SS"))
        return None
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    return (Decimal(seconds) / 3600).quantize(Decimal("0.000001"))


def read_toggl_detailed(src: str | Path | bytes, *, extracted_at: str | None = None) -> CsvResult:
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")
    reader = _reader(_text(src), TOGGL_REQUIRED, "Toggl detailed report")
    fields = reader.fieldnames or []
    rate_col = next((c for c in fields if c.startswith("Billable Rate")), None)
    ccy = next((m.group(1) for c in fields if (m := re.search(r"\(([A-Z]{3})\)", c))), None)
    rows, bad, seen = [], [], {}
    for n, raw in enumerate(reader, start=2):
        errs: list[tuple[str, str]] = []
        if None in raw:
            errs.append((None, f"{len(raw[None])} more value(s) than header columns"))  # type: ignore[arg-type]
        raw = {k: (v or "") for k, v in raw.items() if k is not None}
        spent = _date(raw["Start date"], "Start date", errs, ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y"))
        hours = _duration(raw["Duration"], "Duration", errs)
        billable = _bool(raw["Billable"], "Billable", errs)
        rate = _decimal(raw.get(rate_col, ""), rate_col, errs, required=False) if rate_col else None
        if not raw["Project"].strip():
            errs.append(("Project", "is empty"))
        if errs:
            bad.extend(RowError(n, c, p, raw) for c, p in errs)
            continue
        user = raw["User"].strip()
        client = raw["Client"].strip() or None
        rows.append({
            "source": "toggl_csv",
            "entry_id": _entry_id("toggl_csv", [spent, user, raw["Project"], raw["Description"], raw["Start time"],
                                                raw["Duration"]], seen),
            "spent_date": spent, "user_id": (raw.get("Email") or "").strip() or _slug(user), "user_name": user,
            "client_id": _slug(client), "client_name": client, "client_currency": ccy,
            "project_id": _slug(raw["Project"]), "project_name": raw["Project"].strip(), "project_code": None,
            "task_id": _slug(raw.get("Task")) or None, "task_name": (raw.get("Task") or "").strip() or None,
            "hours": hours, "billable": billable, "billable_rate": rate, "is_closed": False,
            "notes": raw["Description"] or None, "updated_at": extracted_at, "extracted_at": extracted_at,
            **NO_START_NOR_APPROVAL,
        })
    return CsvResult("toggl_csv", rows, bad)
