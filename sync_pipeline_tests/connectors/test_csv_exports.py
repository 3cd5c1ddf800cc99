# ruff: noqa: E501  (the CSV fixtures are verbatim export lines)
"""CSV exports: Harvest detailed time report and Toggl detailed report, with per-row errors and quarantine."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.connectors.csv_exports import CsvFormatError, read_harvest_detailed, read_toggl_detailed
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
        "row 4, column 'Date': '2026-13-01' is not a date (Y-m-d)",
        "row 5, column 'Hours': 'one' is not a number",
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
    with pytest.raises(CsvFormatError, match="missing column.*Duration.*the file has: Date, Client"):
        read_toggl_detailed(HARVEST)


def test_ragged_rows_are_quarantined_not_dropped():
    text = HARVEST.splitlines()[0] + "\n" + HARVEST.splitlines()[1] + ",extra,cells\n"
    res = read_harvest_detailed(text)
    assert res.rows == [] and "2 more value(s) than header columns" in str(res.quarantined[0])
