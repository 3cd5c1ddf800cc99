"""Property tests at the CSV boundary: for every generated export (any encoding and delimiter we read, good rows
beside hostile ones), reading never crashes, every row is typed or quarantined with its row, column and reason, good
neighbours are all there, and nothing is typed that a strict reading would not type (no guessed number, flag or date).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.csv_exports import (
    CsvOptions,
    read_harvest_detailed,
    read_toggl_detailed,
)

HARVEST_HEADER = ["Date", "Client", "Project", "Project Code", "Task", "Notes", "Hours", "Billable?", "Invoiced?",
                  "Approved?", "First Name", "Last Name", "Billable Rate", "Currency"]
TOGGL_HEADER = ["User", "Email", "Client", "Project", "Task", "Description", "Billable", "Start date", "Start time",
                "End date", "End time", "Duration", "Tags", "Billable Rate (EUR)"]

# values a strict reading must refuse, whatever the declared decimal separator
BAD_NUMBERS = ["1_000", "١٫٥", "٢", "1e400", "1E2", "NaN", "inf", "-Infinity", "0x10", "½", "", " ", "true", "1.2.3",
               "1,2,3", "2.1234567", "2,1234567", "+-1", "1 000", "1000000000000"]
TOO_MANY_HOURS = ["1000000", "99999999"]
AMBIGUOUS = {".": ["1,5", "1,500", "12,25"], ",": ["1.5", "1.500", "12.25"]}
BAD_FLAGS = ["", "Maybe", "1", "0", "y", "n", "ja", "Yes!", "✓"]
BAD_DATES = ["2026-13-01", "2026-02-30", "05/10/2026", "2026-1-5", "", "٢٠٢٦-١٠-٠٥", "2026-10-05T00:00", "yesterday"]
BAD_DURATIONS = ["1h30", "1:30", "01:60:00", "", "٠١:٠٠:٠٠", "-01:00:00", "1000000:00:00", "1.5"]

text = st.text(st.characters(codec="cp1252", exclude_categories=["Cs"]), max_size=30)


def _number(d: Decimal, sep: str) -> str:
    return format(d, "f").replace(".", sep)


hours = st.decimals(min_value=0, max_value=200, places=2, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=__import__("datetime").date(2026, 1, 1), max_value=__import__("datetime").date(2026, 12, 31))


@st.composite
def harvest_row(draw, sep: str) -> tuple[list[str], dict | None]:
    """A row's cells and, when every cell is good, what a strict reading must make of it (None: must quarantine)."""
    h, r, day = draw(hours), draw(rates), draw(days)
    billable, invoiced, approved = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    cells = {"Date": day.isoformat(), "Client": "Acme " + draw(text), "Project": "Web", "Project Code": "",
             "Task": "Dev", "Notes": draw(text), "Hours": _number(h, sep), "Billable?": "Yes" if billable else "No",
             "Invoiced?": "Yes" if invoiced else "No", "Approved?": "Yes" if approved else "No",
             "First Name": draw(text), "Last Name": "Archer", "Billable Rate": _number(r, sep),
             "Currency": "Euro - EUR"}
    expect: dict | None = {"hours": h, "billable_rate": r, "spent_date": day.isoformat(), "billable": billable,
                           "billed_elsewhere": invoiced, "is_closed": approved}
    if draw(st.booleans()):  # make it hostile in one or more cells
        for col in draw(st.lists(st.sampled_from(["Hours", "Billable Rate", "Date", "Billable?", "Invoiced?"]),
                                 min_size=1, max_size=3)):
            bad = {"Hours": BAD_NUMBERS + TOO_MANY_HOURS + AMBIGUOUS[sep], "Billable Rate": BAD_NUMBERS + AMBIGUOUS[sep],
                   "Date": BAD_DATES, "Billable?": BAD_FLAGS, "Invoiced?": BAD_FLAGS}[col]
            cells[col] = draw(st.sampled_from([b for b in bad if not (col == "Billable Rate" and not b.strip())]))
        expect = None
    return [cells[c] for c in HARVEST_HEADER], expect


@st.composite
def toggl_row(draw, sep: str) -> tuple[list[str], dict | None]:
    seconds, r, day, billable = draw(st.integers(0, 48 * 3600)), draw(rates), draw(days), draw(st.booleans())
    duration = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    cells = {"User": draw(text), "Email": "", "Client": draw(text), "Project": "P " + draw(text), "Task": "",
             "Description": draw(text), "Billable": "Yes" if billable else "No", "Start date": day.isoformat(),
             "Start time": "09:00:00", "End date": day.isoformat(), "End time": "10:00:00", "Duration": duration,
             "Tags": "", "Billable Rate (EUR)": _number(r, sep)}
    expect: dict | None = {"hours": (Decimal(seconds) / 3600).quantize(Decimal("0.000001")), "billable_rate": r,
                           "spent_date": day.isoformat(), "billable": billable, "billed_elsewhere": False,
                           "is_closed": False}
    if draw(st.booleans()):
        col = draw(st.sampled_from(["Duration", "Billable Rate (EUR)", "Start date", "Billable"]))
        bad = {"Duration": BAD_DURATIONS, "Billable Rate (EUR)": [b for b in BAD_NUMBERS if b.strip()] + AMBIGUOUS[sep],
               "Start date": BAD_DATES, "Billable": BAD_FLAGS}[col]
        cells[col] = draw(st.sampled_from(bad))
        expect = None
    return [cells[c] for c in TOGGL_HEADER], expect


@st.composite
def export(draw, kind: str):
    sep = draw(st.sampled_from([".", ","]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    header, row = (HARVEST_HEADER, harvest_row) if kind == "harvest" else (TOGGL_HEADER, toggl_row)
    rows = draw(st.lists(row(sep), max_size=12))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(header)
    w.writerows(cells for cells, _ in rows)
    try:
        data = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:  # a hostile cell cp1252 cannot hold (Arabic-Indic digits): such a file is UTF-8
        data = buf.getvalue().encode("utf-8")
    return data, CsvOptions(decimal_separator=sep), header, [e for _, e in rows]


def _check(res, header: list[str], expected: list[dict | None]) -> None:
    quarantined_rows = {e.row for e in res.quarantined}
    typed_rows = res.row_numbers
    assert len(typed_rows) == len(res.rows) and not quarantined_rows & set(typed_rows)
    assert sorted(quarantined_rows | set(typed_rows)) == list(range(2, len(expected) + 2))  # every row, one place
    for e in res.quarantined:
        assert e.column in header and e.problem.strip()  # the column and the reason
    for n, want in enumerate(expected, start=2):
        if want is None:
            assert n in quarantined_rows, f"row {n} has a hostile cell but was typed"
            continue
        assert n in typed_rows, f"good row {n} lost: {[str(e) for e in res.quarantined if e.row == n]}"
        got = res.rows[typed_rows.index(n)]
        assert (got["hours"], got["billable_rate"], got["spent_date"], got["billable"], got["is_closed"]) == \
            (want["hours"], want["billable_rate"], want["spent_date"], want["billable"], want["is_closed"])
        assert (got["billed_elsewhere"] is not None) == want["billed_elsewhere"]


@given(export("harvest"))
def test_every_harvest_export_row_is_typed_strictly_or_quarantined_with_its_reason(case):
    data, options, header, expected = case
    _check(read_harvest_detailed(data, options=options), header, expected)


@given(export("toggl"))
def test_every_toggl_export_row_is_typed_strictly_or_quarantined_with_its_reason(case):
    data, options, header, expected = case
    _check(read_toggl_detailed(data, options=options), header, expected)
