# ruff: noqa: E501  (the CSV fixtures are verbatim export lines)
"""CSV exports: Harvest detailed time report and Toggl detailed report, with per-row errors and quarantine."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.connectors.csv_exports import CsvFormatError, CsvOptions, read_harvest_detailed, read_toggl_detailed
from sync_pipeline.contracts.warehouse import RawTimeEntry

HARVEST = """Date,Client,Project,Project Code,Task,Notes,Hours,Hours Rounded,Billable?,Invoiced?,Approved?,First Name,Last Name,Roles,Employee?,Billable Rate,Billable Amount,Cost Rate,Cost Amount,Currency,External Reference URL
2026-10-05,Acme Corp,Acme Website,ACM-WEB,Development,Checkout flow,2.5,2.5,Yes,No,Yes,Alice,Archer,,Yes,120.00,300.00,50,125,British Pound - GBP,
2026-10-06,Acme Corp,Acme Website,ACM-WEB,Development,"API, integration",3.0,3.0,Yes,No,Yes,Bob,Baker,,Yes,100,300,50,150,British Pound - GBP,
2026-13-01,Acme Corp,Acme Website,ACM-WEB,Design,Bad date,1.0,1.0,Yes,No,Yes,Bob,Baker,,Yes,100,100,50,50,British Pound - GBP,
2026-10-07,Acme Corp,Acme Website,ACM-WEB,Design,Bad hours,one,1.0,Maybe,No,Yes,Bob,Baker,,Yes,100,100,50,50,British Pound - GBP,
2026-10-08,Globex GmbH,Globex Data,,Meetings,,0.75,0.75,No,No,No,Carol,Chen,,Yes,,,50,37.5,Euro - EUR,
"""

TOGGL = """User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags,Billable Rate (USD),Amount (USD)
Dana Diaz,dana@example.com,Initech,TPS Reports,,Cover sheets,Yes,2026-10-01,09:00:00,2026-10-01,10:30:00,01:30:00,,90.00,135.00
Dana Diaz,dana@example.com,Initech,TPS Reports,,Cover sheets,Yes,2026-10-01,09:00:00,2026-10-01,10:30:00,01:30:00,,90.00,135.00
Eve Ek,eve@example.com,,Internal,,Standup,No,2026-10-02,09:00:00,2026-10-02,09:15:00,00:15:00,meeting,,
Eve Ek,eve@example.com,Initech,TPS Reports,,Broken,Yes,2026-10-02,11:00:00,2026-10-02,11:00:00,1h30,,90,
"""


def test_harvest_detailed_report_rows_map_into_raw_contract_bad_rows_quarantined():
    res = read_harvest_detailed(HARVEST, extracted_at="2026-11-01T00:00:00+00:00")
    assert len(res.rows) == 3 and not res.ok
    df = pd.DataFrame(res.rows, columns=list(RawTimeEntry.to_schema().columns))
    RawTimeEntry.validate(df, lazy=True)
    first = res.rows[0]
    assert (first["hours"], first["billable_rate"], first["client_currency"], first["project_code"]) == \
        (Decimal("2.5"), Decimal("120.00"), "GBP", "ACM-WEB")
    assert res.rows[1]["notes"] == "API, integration"
    assert res.rows[2]["billable"] is False and res.rows[2]["billable_rate"] is None and res.rows[2]["is_closed"] is False
    problems = [str(e) for e in res.quarantined]
    assert problems == [
        "row 4, column 'Date': '2026-13-01' is not a date (YYYY-MM-DD)",
        "row 5, column 'Hours': 'one' is not a plain decimal number (digits with '.' as the decimal separator)",
        "row 5, column 'Billable?': 'Maybe' is not Yes/No",
    ]
    assert res.quarantined[0].raw["Notes"] == "Bad date"  # the raw row is kept for the fix-and-replay


def test_toggl_detailed_report_durations_and_repeated_rows():
    res = read_toggl_detailed(TOGGL)
    assert [r["hours"] for r in res.rows] == [Decimal("1.5"), Decimal("1.5"), Decimal("0.25")]
    ids = [r["entry_id"] for r in res.rows]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "-1"  # exact repeats stay two entries, ids stable
    assert res.rows[0]["billable_rate"] == Decimal("90.00") and res.rows[0]["client_currency"] == "USD"
    assert res.rows[2]["client_id"] is None
    assert [str(e) for e in res.quarantined] == ["row 5, column 'Duration': '1h30' is not a duration HH:MM:SS"]
    RawTimeEntry.validate(pd.DataFrame(res.rows, columns=list(RawTimeEntry.to_schema().columns)))


def test_ids_are_stable_across_reads():
    assert [r["entry_id"] for r in read_toggl_detailed(TOGGL).rows] == [r["entry_id"] for r in read_toggl_detailed(TOGGL).rows]


def test_wrong_file_names_the_missing_columns():
    with pytest.raises(CsvFormatError, match="missing column.*Duration.*the file has: Date, Client.*declare the "
                                             "delimiter"):
        read_toggl_detailed(HARVEST)


def test_ragged_rows_are_quarantined_not_dropped():
    text = HARVEST.splitlines()[0] + "\n" + HARVEST.splitlines()[1] + ",extra,cells\n"
    res = read_harvest_detailed(text)
    assert res.rows == [] and "2 more value(s) than header columns" in str(res.quarantined[0])


# -- strict reading: Invoiced?, decimals, encodings, delimiters ---------------------------------------------
HEADER = HARVEST.splitlines()[0]


def _harvest_row(hours: str = "2.5", *, invoiced: str = "No", rate: str = "120.00", notes: str = "Work",
                 day: str = "2026-10-05") -> str:
    return (f'{day},Acme Corp,Acme Website,ACM-WEB,Development,{notes},"{hours}",2.5,Yes,{invoiced},Yes,Alice,Archer,,'
            f'Yes,"{rate}",300.00,50,125,British Pound - GBP,')


def test_a_row_invoiced_in_harvest_is_kept_as_billed_elsewhere_not_dropped():
    res = read_harvest_detailed("\n".join([HEADER, _harvest_row(invoiced="Yes"), _harvest_row(notes="Other")]) + "\n")
    assert res.ok and len(res.rows) == 2
    assert res.rows[0]["billed_elsewhere"] == "Invoiced? = Yes in the Harvest export"
    assert res.rows[1]["billed_elsewhere"] is None
    RawTimeEntry.validate(pd.DataFrame(res.rows, columns=list(RawTimeEntry.to_schema().columns)))


def test_an_export_without_the_invoiced_column_is_refused_with_the_fix():
    cells = [c for c in HEADER.split(",") if c != "Invoiced?"]
    with pytest.raises(CsvFormatError, match=r"missing column\(s\) Invoiced\?.*Export the Harvest detailed time"):
        read_harvest_detailed(",".join(cells) + "\n")


@pytest.mark.parametrize(("hours", "problem"), [
    ("1,5", "'1,5' is ambiguous: the declared decimal separator is '.'"),
    ("1,500", "'1,500' is ambiguous"),
    ("1_000", "'1_000' is not a plain decimal number"),
    ("١٫٥", "has characters other than ASCII digits"),
    ("٢", "has characters other than ASCII digits"),
    ("1e400", "'1e400' is not a plain decimal number"),
    ("NaN", "'NaN' is not a plain decimal number"),
    ("2.1234567", "more than 6 decimal places"),
    ("1000000", "out of range"),
    ("", "is empty"),
])
def test_hours_that_are_not_plain_decimals_are_quarantined_alone(hours, problem):
    res = read_harvest_detailed("\n".join([HEADER, _harvest_row(hours), _harvest_row(notes="Good")]) + "\n")
    assert [r["notes"] for r in res.rows] == ["Good"]  # the neighbour is kept
    assert len(res.quarantined) == 1
    e = res.quarantined[0]
    assert (e.row, e.column) == (2, "Hours") and problem in e.problem


def test_decimals_read_under_the_declared_separator():
    text = "\n".join([HEADER, _harvest_row("1,5", rate="1.234,50"), _harvest_row("1.5", rate="120,00", notes="Dot")]) + "\n"
    res = read_harvest_detailed(text, options=CsvOptions(decimal_separator=","))
    assert [(r["hours"], r["billable_rate"]) for r in res.rows] == [(Decimal("1.5"), Decimal("1234.50"))]
    assert [str(e) for e in res.quarantined] == [
        "row 3, column 'Hours': '1.5' is ambiguous: the declared decimal separator is ',', so '.' could be a decimal "
        "or a thousands separator; declare csv_export.decimal_separator: '.' if the file uses it, or correct the value"]
    grouped = read_harvest_detailed("\n".join([HEADER, _harvest_row("2", rate="1,234.50")]) + "\n")
    assert grouped.rows[0]["billable_rate"] == Decimal("1234.50")


LATIN = "Date,Client,Project,Project Code,Task,Notes,Hours,Billable?,Invoiced?,Approved?,First Name,Last Name," \
        "Billable Rate,Currency\n2026-10-05,Société Générale,Café,,Développement,Crème brûlée,2.5,Yes,No,Yes," \
        "Zoë,Müller,120,Euro - EUR\n"


@pytest.mark.parametrize(("data", "encoding", "delimiter"), [
    (LATIN.encode("utf-8"), "utf-8", ","),
    (b"\xef\xbb\xbf" + LATIN.encode("utf-8"), "utf-8", ","),
    (LATIN.encode("utf-16"), "utf-16", ","),
    (LATIN.encode("cp1252"), "cp1252", ","),
    (LATIN.replace(",", ";").encode("utf-8"), "utf-8", ";"),
    (LATIN.replace(",", "\t").encode("utf-16"), "utf-16", "\t"),
])
def test_encodings_and_delimiters_are_detected(data, encoding, delimiter):
    res = read_harvest_detailed(data)
    assert res.ok and (res.encoding, res.delimiter) == (encoding, delimiter)
    assert (res.rows[0]["client_name"], res.rows[0]["user_name"], res.rows[0]["hours"]) == \
        ("Société Générale", "Zoë Müller", Decimal("2.5"))


def test_a_declared_encoding_and_delimiter_are_used_and_a_wrong_one_names_the_file_and_the_fix(tmp_path):
    f = tmp_path / "october.csv"
    f.write_bytes(LATIN.replace(",", ";").encode("latin-1"))
    res = read_harvest_detailed(f, options=CsvOptions(encoding="latin-1", delimiter=";"))
    assert res.rows[0]["client_name"] == "Société Générale"
    with pytest.raises(CsvFormatError, match=r"october.csv: not utf-8 .*declare its encoding \(csv_export.encoding"):
        read_harvest_detailed(f, options=CsvOptions(encoding="utf-8"))
    with pytest.raises(CsvFormatError, match=r"october.csv: not a Harvest .*declared delimiter tab.*Date;Client"):
        read_harvest_detailed(f, options=CsvOptions(delimiter="\t"))


def test_bytes_in_no_detected_encoding_are_refused_naming_the_fix(tmp_path):
    f = tmp_path / "weird.csv"
    f.write_bytes(LATIN.encode("utf-8").replace("é".encode(), b"\x81"))
    with pytest.raises(CsvFormatError, match=r"weird.csv: the encoding is none of utf-8 .* declare its encoding"):
        read_harvest_detailed(f)


def test_toggl_slashed_dates_need_a_declared_format_and_arabic_digits_are_not_durations():
    lines = TOGGL.splitlines()
    text = "\n".join([lines[0], lines[1].replace("2026-10-01,09:00", "03/10/2026,09:00"),
                      lines[3].replace("00:15:00", "٠٠:١٥:٠٠")]) + "\n"
    res = read_toggl_detailed(text)
    assert res.rows == [] and [e.column for e in res.quarantined] == ["Start date", "Duration"]
    assert "ambiguous (day/month or month/day); declare csv_export.date_format" in res.quarantined[0].problem
    day_first = read_toggl_detailed(text, options=CsvOptions(date_format="DD/MM/YYYY"))
    assert day_first.rows[0]["spent_date"] == "2026-10-03"
