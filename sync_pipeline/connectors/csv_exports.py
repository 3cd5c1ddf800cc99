"""CSV exports as a source: Harvest's *detailed time report* and Toggl Track's *detailed report*.

Each file maps into the ``raw_time_entries`` contract. Every row either becomes a record or is
quarantined with a :class:`RowError` naming the row number (1 = the header line), the column and
what was wrong; nothing is dropped silently, nothing is coerced, and one bad row never sinks the file.
A file that cannot be read at all (encoding, delimiter, missing columns) raises :class:`CsvFormatError`
naming the file and the fix.

Harvest detailed time report (Reports → Detailed time → Export CSV), the columns we read:
``Date, Client, Project, Project Code, Task, Notes, Hours, Billable?, Invoiced?, Approved?, First Name,
Last Name, Billable Rate, Currency`` (others such as ``Hours Rounded``, ``Billable Amount``, ``Cost Rate``
are ignored). ``Invoiced?`` = Yes means the entry is on an invoice of Harvest itself: the row is kept with
``billed_elsewhere`` set, so billing marks it non-billable with that reason and never bills it again.
Dates are ``YYYY-MM-DD``; currencies may be written as ``British Pound - GBP``.

Toggl Track detailed report (Reports → Detailed → Export CSV): ``User, Email, Client, Project,
Task, Description, Billable, Start date, Start time, End date, End time, Duration, Tags`` and
optionally ``Amount (XXX)`` / ``Billable Rate (XXX)``; ``Duration`` is ``HH:MM:SS``. Toggl's export has no
invoiced column, so a Toggl row is never recognised as billed elsewhere.

Reading is strict (:class:`CsvOptions`): numbers are plain decimals with the declared decimal separator
(``.`` by default, ``,`` when declared), ASCII digits only; a value whose meaning depends on the locale
(``1,5`` or ``1,500`` under ``.``; ``1.5`` under ``,``) is quarantined, as are exponents (``1e400``),
underscores, other digits and values beyond the warehouse contract (hours and rates to 6 decimals).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

HARVEST_REQUIRED = ["Date", "Client", "Project", "Task", "Notes", "Hours", "Billable?", "Invoiced?", "First Name",
                    "Last Name"]
# exports carry neither a start instant with its zone nor who approved an entry (RawTimeEntry v2 columns)
NO_START_NOR_APPROVAL = {"started_at": None, "timezone": None, "approval_status": None, "approved_by": None,
                         "approved_at": None}
TOGGL_REQUIRED = ["User", "Client", "Project", "Description", "Billable", "Start date", "Start time", "Duration"]
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
DETECTED_ENCODINGS = ("utf-8 (with or without BOM)", "utf-16 (with BOM)", "cp1252")
HOURS_LIMIT = Decimal(1_000_000)  # RawTimeEntry.hours is DECIMAL(12, 6)
RATE_LIMIT = Decimal(10) ** 12  # RawTimeEntry.billable_rate is DECIMAL(18, 6)
MAX_DECIMALS = 6
INVOICED_ELSEWHERE = "Invoiced? = Yes in the Harvest export"


@dataclass(frozen=True)
class CsvOptions:
    """How to read an export; the mapping's ``csv_export`` (or ``import csv`` flags) declares them.

    ``decimal_separator``: ``.`` or ``,`` (the other one is a thousands separator only in a value that also
    has the decimal separator, e.g. ``1,234.50``). ``encoding``/``delimiter``: ``None`` detects them
    (UTF-8 with or without BOM, UTF-16 with BOM, else cp1252; comma, semicolon or tab, whichever gives the
    export's columns). ``date_format`` for Toggl's ``Start date`` beyond ISO: ``DD/MM/YYYY`` or ``MM/DD/YYYY``
    (a slashed date is otherwise ambiguous and quarantined); ``DD.MM.YYYY`` is always read day first.
    """

    decimal_separator: Literal[".", ","] = "."
    encoding: str | None = None
    delimiter: str | None = None
    date_format: Literal["DD/MM/YYYY", "MM/DD/YYYY"] | None = None


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
    encoding: str | None = None  # as read (None: the caller gave text)
    delimiter: str = ","
    row_numbers: list[int] = field(default_factory=list)  # the file row of each of ``rows``

    @property
    def ok(self) -> bool:
        return not self.quarantined


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (encoding, delimiter, wrong export, missing columns)."""


# -- the file: encoding and delimiter ---------------------------------------------------------------------
def _name(src: str | Path | bytes) -> str:
    if isinstance(src, Path) or (isinstance(src, str) and "\n" not in src and Path(src).exists()):
        return Path(src).name
    return "the export"


def decode(data: bytes, encoding: str | None, name: str = "the export") -> tuple[str, str]:
    """The text of an export and the encoding it was read with (declared, else detected)."""
    if encoding:
        try:
            return data.decode(encoding).lstrip("\ufeff"), encoding
        except LookupError:
            raise CsvFormatError(f"{name}: unknown encoding {encoding!r} (csv_export.encoding); use e.g. utf-8, "
                                 f"utf-16, cp1252 or latin-1") from None
        except UnicodeDecodeError as e:
            raise CsvFormatError(f"{name}: not {encoding} (byte {e.start}: {e.reason}); save the export as UTF-8 "
                                 f"or declare its encoding (csv_export.encoding / --encoding)") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").lstrip("\ufeff"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as e:
        raise CsvFormatError(
            f"{name}: the encoding is none of {', '.join(DETECTED_ENCODINGS)} (byte {e.start} is undefined in "
            f"cp1252); save the export as UTF-8 or declare its encoding (csv_export.encoding / --encoding, e.g. "
            f"latin-1)") from None


def _text(src: str | Path | bytes, encoding: str | None) -> tuple[str, str | None]:
    name = _name(src)
    if isinstance(src, bytes):
        return decode(src, encoding, name)
    if name != "the export":
        return decode(Path(src).read_bytes(), encoding, name)
    return str(src).lstrip("\ufeff"), None


def _reader(text: str, required: list[str], kind: str, delimiter: str | None,
            name: str) -> tuple[csv.DictReader, str]:
    tried: list[tuple[str, list[str]]] = []
    for d in ([delimiter] if delimiter else list(DELIMITERS)):
        r = csv.DictReader(io.StringIO(text, newline=""), delimiter=d)
        have = [h.strip() for h in (r.fieldnames or [])]
        if not [c for c in required if c not in have]:
            r.fieldnames = have
            return r, d
        tried.append((d, have))
    d, have = max(tried, key=lambda t: len(t[1]))
    missing = [c for c in required if c not in have]
    how = (f"read with the declared delimiter {DELIMITERS.get(d, repr(d))}" if delimiter
           else f"tried {', '.join(DELIMITERS.values())} as the delimiter")
    raise CsvFormatError(
        f"{name}: not a {kind}: missing column(s) {', '.join(missing)} ({how}); the file has: "
        f"{', '.join(have) or '(no header)'}. Export the {kind} again, or declare the delimiter "
        f"(csv_export.delimiter / --delimiter)")


# -- values -----------------------------------------------------------------------------------------------
def parse_decimal(v: str, sep: str = ".", limit: Decimal = RATE_LIMIT) -> Decimal | str:
    """A plain decimal under the declared separator, or why not (never a guess)."""
    s = (v or "").strip()
    other = "," if sep == "." else "."
    esep, eother = re.escape(sep), re.escape(other)
    if not s:
        return "is empty"
    if not s.isascii():
        return f"{v!r} has characters other than ASCII digits, sign and separator; write it with 0-9"
    if re.fullmatch(rf"-?[0-9]+(?:{esep}[0-9]+)?", s):
        plain = s.replace(sep, ".")
    elif re.fullmatch(rf"-?[0-9]{{1,3}}(?:{eother}[0-9]{{3}})+{esep}[0-9]+", s):
        plain = s.replace(other, "").replace(sep, ".")
    elif re.fullmatch(rf"-?[0-9][0-9{eother}]*", s) and other in s:
        return (f"{v!r} is ambiguous: the declared decimal separator is {sep!r}, so {other!r} could be a decimal or "
                f"a thousands separator; declare csv_export.decimal_separator: {other!r} if the file uses it, or "
                f"correct the value")
    else:
        return f"{v!r} is not a plain decimal number (digits with {sep!r} as the decimal separator)"
    d = Decimal(plain)
    if -d.as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
        return f"{v!r} has more than {MAX_DECIMALS} decimal places"
    if abs(d) >= limit:
        return f"{v!r} is out of range (at most {limit - 1:,})"
    return d


def _decimal(v: str, col: str, errs: list[tuple[str | None, str]], sep: str, *, limit: Decimal = RATE_LIMIT,
             required: bool = True) -> Decimal | None:
    if not (v or "").strip() and not required:
        return None
    d = parse_decimal(v, sep, limit)
    if isinstance(d, str):
        errs.append((col, d))
        return None
    return d


_DATE_FORMATS = {"ISO": (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "%Y-%m-%d"),
                 "DD.MM.YYYY": (r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}", "%d.%m.%Y"),
                 "DD/MM/YYYY": (r"[0-9]{2}/[0-9]{2}/[0-9]{4}", "%d/%m/%Y"),
                 "MM/DD/YYYY": (r"[0-9]{2}/[0-9]{2}/[0-9]{4}", "%m/%d/%Y")}


def _date(v: str, col: str, errs: list[tuple[str | None, str]], formats: tuple[str, ...] = ("ISO",)) -> str | None:
    s = (v or "").strip()
    for f in formats:
        pattern, fmt = _DATE_FORMATS[f]
        if re.fullmatch(pattern, s):
            try:
                return datetime.strptime(s, fmt).date().isoformat()
            except ValueError:
                break
    if re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", s) and not {"DD/MM/YYYY", "MM/DD/YYYY"} & set(formats):
        errs.append((col, f"{v!r} is ambiguous (day/month or month/day); declare csv_export.date_format "
                          f"(DD/MM/YYYY or MM/DD/YYYY)"))
    else:
        errs.append((col, f"{v!r} is not a date ({' or '.join('YYYY-MM-DD' if f == 'ISO' else f for f in formats)})"))
    return None


def _bool(v: str, col: str, errs: list[tuple[str | None, str]]) -> bool:
    s = (v or "").strip().lower()
    if s in ("yes", "true"):
        return True
    if s in ("no", "false"):
        return False
    errs.append((col, f"{v!r} is not Yes/No" if s else "is empty: Yes or No"))
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


def _rows(reader: csv.DictReader, name: str) -> Iterator[tuple[int, dict[str, str], list[tuple[str | None, str]]]]:
    """(row number, cells, problems so far) for each data row; extra cells are a problem of the row. A row the CSV
    parser cannot split (e.g. a field past its size limit) ends the file with an error naming the row."""
    n, rows = 1, iter(reader)
    while True:
        try:
            raw = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            raise CsvFormatError(f"{name}: row {n + 1} cannot be read as CSV ({e}); correct that row of the export "
                                 f"or export it again") from None
        n += 1
        errs: list[tuple[str | None, str]] = []
        if None in raw:
            errs.append((None, f"{len(raw[None])} more value(s) than header columns"))  # type: ignore[arg-type]
        yield n, {k: (v or "") for k, v in raw.items() if k is not None}, errs


# -- the two exports --------------------------------------------------------------------------------------
def read_harvest_detailed(src: str | Path | bytes, *, extracted_at: str | None = None,
                          options: CsvOptions | None = None) -> CsvResult:
    o = options or CsvOptions()
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")
    text, encoding = _text(src, o.encoding)
    reader, delimiter = _reader(text, HARVEST_REQUIRED, "Harvest detailed time report", o.delimiter, _name(src))
    rows, bad, seen, numbers = [], [], {}, []
    for n, raw, errs in _rows(reader, _name(src)):
        spent = _date(raw["Date"], "Date", errs)
        hours = _decimal(raw["Hours"], "Hours", errs, o.decimal_separator, limit=HOURS_LIMIT)
        if hours is not None and hours < 0:
            errs.append(("Hours", f"{raw['Hours']!r} is negative"))
        billable = _bool(raw["Billable?"], "Billable?", errs)
        invoiced = _bool(raw["Invoiced?"], "Invoiced?", errs)
        approved = _bool(raw["Approved?"], "Approved?", errs) if "Approved?" in raw else False
        rate = _decimal(raw.get("Billable Rate", ""), "Billable Rate", errs, o.decimal_separator, required=False)
        if rate is not None and rate < 0:
            errs.append(("Billable Rate", f"{raw['Billable Rate']!r} is negative"))
        for col in ("Client", "Project", "Task"):
            if not raw[col].strip():
                errs.append((col, "is empty"))
        if errs:
            bad.extend(RowError(n, c, p, raw) for c, p in errs)
            continue
        user = f"{raw['First Name'].strip()} {raw['Last Name'].strip()}".strip()
        numbers.append(n)
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
            "billed_elsewhere": INVOICED_ELSEWHERE if invoiced else None,
            **NO_START_NOR_APPROVAL,
        })
    return CsvResult("harvest_csv", rows, bad, encoding, delimiter, numbers)


def _duration(v: str, col: str, errs: list[tuple[str | None, str]]) -> Decimal | None:
    m = re.fullmatch(r"\s*([0-9]+):([0-5][0-9]):([0-5][0-9])\s*", v or "")
    if not m:
        errs.append((col, f"{v!r} is not a duration HH:MM:SS"))
        return None
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    hours = (Decimal(seconds) / 3600).quantize(Decimal("0.000001"))
    if hours >= HOURS_LIMIT:
        errs.append((col, f"{v!r} is out of range (under {HOURS_LIMIT:,} h)"))
        return None
    return hours


def read_toggl_detailed(src: str | Path | bytes, *, extracted_at: str | None = None,
                        options: CsvOptions | None = None) -> CsvResult:
    o = options or CsvOptions()
    extracted_at = extracted_at or datetime.now(UTC).isoformat(timespec="seconds")
    text, encoding = _text(src, o.encoding)
    reader, delimiter = _reader(text, TOGGL_REQUIRED, "Toggl detailed report", o.delimiter, _name(src))
    fields = reader.fieldnames or []
    rate_col = next((c for c in fields if c.startswith("Billable Rate")), None)
    ccy = next((m.group(1) for c in fields if (m := re.search(r"\(([A-Z]{3})\)", c))), None)
    date_formats = ("ISO", "DD.MM.YYYY", *((o.date_format,) if o.date_format else ()))
    rows, bad, seen, numbers = [], [], {}, []
    for n, raw, errs in _rows(reader, _name(src)):
        spent = _date(raw["Start date"], "Start date", errs, date_formats)
        hours = _duration(raw["Duration"], "Duration", errs)
        billable = _bool(raw["Billable"], "Billable", errs)
        rate = _decimal(raw.get(rate_col, ""), rate_col, errs, o.decimal_separator, required=False) if rate_col else None
        if rate is not None and rate < 0:
            errs.append((rate_col, f"{raw[rate_col]!r} is negative"))  # type: ignore[index]
        if not raw["Project"].strip():
            errs.append(("Project", "is empty"))
        if errs:
            bad.extend(RowError(n, c, p, raw) for c, p in errs)
            continue
        user = raw["User"].strip()
        client = raw["Client"].strip() or None
        numbers.append(n)
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
            "billed_elsewhere": None, **NO_START_NOR_APPROVAL,
        })
    return CsvResult("toggl_csv", rows, bad, encoding, delimiter, numbers)
