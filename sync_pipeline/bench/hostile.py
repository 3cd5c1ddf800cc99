"""Hostile source records with a known strict verdict, for ``sync-pipeline bench fuzz``.

Each generated :class:`Case` is a record as its source sends it (a JSON object for Harvest and Redmine, a row of
cells for the CSV exports) and what a strict reading must do with it: bill exactly ``bill_hours``, or never bill it
(``bill_hours`` None: a record with one odd field, or a good one the source says not to bill). Good records are
billable, approved, in January 2026, one per person-day (so no daily limit applies) with the source's own rate
(Redmine: the entity's default card). Odd records take one good record and change one field to a value a strict
reader must refuse: a string for a boolean or a number, a boolean for a number, a number out of the warehouse's
range or precision, a locale-dependent number, an object where a string belongs, a missing or null id, a record
that is not an object at all. The values are drawn from fixed lists with a seeded ``random.Random``: the same seed
gives the same records.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ODD_SHARE = 0.4  # of the generated records, this share carries one odd field
NOT_BILLABLE_SHARE = 0.05  # good records the source marks non-billable (never billed, never quarantined)


@dataclass(frozen=True)
class Case:
    doc: Any
    bill_hours: Decimal | None  # a strict reading bills exactly these hours; None: it must not bill the record
    change: str  # "good", "non-billable" or "field=value" (what was changed)
    must_quarantine: bool = False


def _hours(i: int) -> Decimal:
    return Decimal(25 + i % 700) / 100  # 0.25 .. 7.24 h


NOT_OBJECTS: list[Any] = ["an entry", None, [], 5, True]
BOOL_ODD: list[Any] = ["false", "true", "0", "1", 0, 1, None, "", [], {}, "yes"]
NUMBER_ODD: list[Any] = [True, False, "1.5", "1,5", "abc", None, Decimal("NaN"), Decimal("Infinity"), Decimal("1e400"),
                         Decimal("1e6"), Decimal("1e-7"), 1.5, [], {}, "١٫٥", "1_000"]
AMOUNT_ODD: list[Any] = [v for v in NUMBER_ODD if not isinstance(v, Decimal) or not v.is_finite() or v != 10**6] + [
    Decimal("1e12"), Decimal("0.0000001")]  # amounts are DECIMAL(18, 6): 10^6 is a valid one
RATE_ODD: list[Any] = [True, "100", Decimal("NaN"), Decimal("-Infinity"), Decimal("1e20"), 1.5, [], "1,5"]
ID_ODD: list[Any] = [None, "abc", -1, 0, True, 1.5, "12", {}, [], 2**64]
DATE_ODD: list[Any] = [None, "2026-13-01", "05/01/2026", 20260105, "", "2026-1-5", "2026-02-30", []]
INSTANT_ODD: list[Any] = [None, 5, "yesterday", "2026-01-05T10:00:00", "", {}]
REF_ODD: list[Any] = ["Acme", 7, [], {"id": None}, {"id": "1"}, {"id": 1, "name": 5}, {"name": "no id"}, True]
TEXT_ODD: list[Any] = [5, {}, [], True, Decimal("1.5")]


# ---- Harvest v2 time entries and expenses -----------------------------------------------------------------------
def harvest_time_entry(i: int) -> dict[str, Any]:
    return {
        "id": i + 1, "spent_date": f"2026-01-{1 + i % 28:02d}", "hours": _hours(i), "notes": f"Work item {i}",
        "is_locked": True, "is_closed": True, "is_billed": False, "is_running": False, "billable": True,
        "budgeted": False, "billable_rate": Decimal(80 + i % 5 * 10), "cost_rate": Decimal("50"),
        "approval_status": "approved", "created_at": "2026-01-30T17:00:00Z", "updated_at": "2026-01-30T18:00:00Z",
        "user": {"id": 1 + i, "name": f"User {i}"},
        "client": {"id": 1 + i % 50, "name": f"Client {1 + i % 50}", "currency": "GBP"},
        "project": {"id": 100 + i % 200, "name": f"Project {100 + i % 200}", "code": f"P{100 + i % 200}"},
        "task": {"id": 1 + i % 6, "name": f"Task {1 + i % 6}"}, "invoice": None, "external_reference": None,
    }


HARVEST_TIME_ODD: dict[str, list[Any]] = {
    "id": ID_ODD, "billable": BOOL_ODD, "is_closed": BOOL_ODD, "is_billed": BOOL_ODD, "hours": NUMBER_ODD,
    "billable_rate": RATE_ODD, "cost_rate": RATE_ODD, "spent_date": DATE_ODD, "updated_at": INSTANT_ODD,
    "client": [*REF_ODD, {"id": 1, "currency": "gbp"}, {"id": 1, "currency": 826}], "project": REF_ODD,
    "task": REF_ODD, "user": REF_ODD, "approval_status": ["APPROVED", "", 1, "rubber-stamped"], "notes": TEXT_ODD,
    "x_started_at": INSTANT_ODD[1:], "x_approved_at": INSTANT_ODD[1:], "x_approved_by": ["Mia", 5, {"id": "9"}],
    "invoice": ["INV-1", 5, {"id": "x"}], "external_reference": ["ref", 5, {"group_id": 5}],
}


def harvest_expense(i: int) -> dict[str, Any]:
    cost = Decimal(1000 + i % 9000) / 100
    return {
        "id": 500_000 + i, "spent_date": f"2026-01-{1 + i % 28:02d}", "notes": f"Train {i}", "total_cost": cost,
        "units": None, "billable": True, "is_closed": True, "is_locked": True, "is_billed": False,
        "approval_status": "approved", "created_at": "2026-01-30T09:00:00Z", "updated_at": "2026-01-30T09:00:00Z",
        "user": {"id": 1 + i, "name": f"User {i}"}, "project": {"id": 11, "name": "Web", "code": "W"},
        "client": {"id": 1, "name": "Acme", "currency": "GBP"}, "expense_category": {"id": 1, "name": "Travel"},
        "receipt": None, "invoice": None,
    }


HARVEST_EXPENSE_ODD: dict[str, list[Any]] = {
    "id": ID_ODD, "billable": BOOL_ODD, "is_closed": BOOL_ODD, "is_billed": BOOL_ODD, "total_cost": AMOUNT_ODD,
    "units": [True, "2", Decimal("NaN"), 1.5], "x_markup_percent": [True, "10", Decimal("1e9"), Decimal("0.00001")],
    "spent_date": DATE_ODD, "updated_at": INSTANT_ODD, "client": REF_ODD, "project": REF_ODD, "user": REF_ODD,
    "expense_category": REF_ODD, "receipt": ["a.pdf", 5, {"url": 5}], "notes": TEXT_ODD,
    "approval_status": ["APPROVED", "", 1],
}


# ---- Redmine -----------------------------------------------------------------------------------------------------
REDMINE_PROJECTS = {1: {"id": 1, "identifier": "acme", "name": "Acme"},
                    2: {"id": 2, "identifier": "acme-web", "name": "Web", "parent": {"id": 1}}}


def redmine_time_entry(i: int) -> dict[str, Any]:
    return {"id": i + 1, "project": {"id": 2, "name": "Web"}, "issue": {"id": 40 + i % 100},
            "user": {"id": 100 + i, "name": f"User {i}"}, "activity": {"id": 9, "name": "Design"},
            "hours": _hours(i), "comments": f"mock-ups {i}", "spent_on": f"2026-01-{1 + i % 28:02d}",
            "created_on": "2026-01-30T10:00:00Z", "updated_on": "2026-01-30T10:00:00Z",
            "custom_fields": [{"id": 1, "name": "billable", "value": "1"}]}


REDMINE_ODD: dict[str, list[Any]] = {
    "id": ID_ODD, "hours": NUMBER_ODD, "spent_on": DATE_ODD, "updated_on": INSTANT_ODD, "created_on": INSTANT_ODD[1:],
    "project": REF_ODD, "issue": ["#42", {"id": "42"}, 42], "user": REF_ODD, "activity": REF_ODD,
    "comments": TEXT_ODD, "custom_fields": ["billable", {}, [{"id": 1, "value": "1"}],
                                             *([{"id": 1, "name": "billable", "value": v}]
                                               for v in ("true", "yes", True, 1, "2", ["1"]))],
}


def _api_cases(n: int, seed: int, good: Callable[[int], dict[str, Any]], odd: dict[str, list[Any]],
               hours_key: str | None, not_billable: Callable[[dict[str, Any]], None]) -> list[Case]:
    rng = random.Random(seed)
    fields = sorted(odd)
    cases = []
    for i in range(n):
        doc = good(i)
        roll = rng.random()
        if roll < ODD_SHARE:
            if rng.random() < 0.03:
                cases.append(Case(rng.choice(NOT_OBJECTS), None, "record=not an object", True))
                continue
            f = rng.choice(fields)
            v = rng.choice(odd[f])
            doc[f] = v
            cases.append(Case(doc, None, f"{f}={v!r}", True))
        elif roll < ODD_SHARE + NOT_BILLABLE_SHARE:
            not_billable(doc)
            cases.append(Case(doc, None, "non-billable"))
        else:
            cases.append(Case(doc, doc[hours_key] if hours_key else Decimal(1), "good"))
    return cases


def _harvest_not_billable(doc: dict[str, Any]) -> None:
    doc["billable"] = False


def _redmine_not_billable(doc: dict[str, Any]) -> None:
    doc["custom_fields"] = [{"id": 1, "name": "billable", "value": "0"}]


def harvest_time_entry_cases(n: int, seed: int = 0) -> list[Case]:
    return _api_cases(n, seed, harvest_time_entry, HARVEST_TIME_ODD, "hours", _harvest_not_billable)


def harvest_expense_cases(n: int, seed: int = 0) -> list[Case]:
    """Expenses bill an amount, not hours: ``bill_hours`` holds the expense's ``total_cost``."""
    return _api_cases(n, seed, harvest_expense, HARVEST_EXPENSE_ODD, "total_cost", _harvest_not_billable)


def redmine_cases(n: int, seed: int = 0) -> list[Case]:
    return _api_cases(n, seed, redmine_time_entry, REDMINE_ODD, "hours", _redmine_not_billable)


# ---- CSV exports -------------------------------------------------------------------------------------------------
HARVEST_CSV_HEADER = ["Date", "Client", "Project", "Project Code", "Task", "Notes", "Hours", "Billable?", "Invoiced?",
                      "Approved?", "First Name", "Last Name", "Billable Rate", "Currency"]
CSV_NUMBER_ODD = ["1,5", "1_000", "١٫٥", "1e400", "NaN", "", "-1", "abc", "1.1234567", "1.5 h", "+-1", "0x10",
                  "1.000,5", "Infinity"]
CSV_RATE_ODD = ["1,5", "1_000", "abc", "1e400", "NaN", "-5", "£100"]
CSV_BOOL_ODD = ["maybe", "", "Ja", "2", "yes please"]
CSV_DATE_ODD = ["2026-13-01", "05/01/2026", "", "yesterday", "2026-1-5", "2026-02-30", "01.13.2026"]


def _harvest_csv_row(i: int) -> dict[str, str]:
    return {"Date": f"2026-01-{1 + i % 28:02d}", "Client": f"Client {1 + i % 50}", "Project": f"Project {i % 200}",
            "Project Code": f"P{i % 200}", "Task": f"Task {1 + i % 6}", "Notes": f"rec-{i}",
            "Hours": str(_hours(i)), "Billable?": "Yes", "Invoiced?": "No", "Approved?": "Yes",
            "First Name": "User", "Last Name": str(i), "Billable Rate": "100.00", "Currency": "British Pound - GBP"}


HARVEST_CSV_ODD: dict[str, list[str]] = {
    "Hours": CSV_NUMBER_ODD, "Billable?": CSV_BOOL_ODD, "Invoiced?": CSV_BOOL_ODD, "Approved?": CSV_BOOL_ODD,
    "Date": CSV_DATE_ODD, "Client": [""], "Project": [""], "Task": [""], "Billable Rate": CSV_RATE_ODD,
}

TOGGL_CSV_HEADER = ["User", "Email", "Client", "Project", "Task", "Description", "Billable", "Start date",
                    "Start time", "End date", "End time", "Duration", "Tags", "Billable Rate (GBP)"]


def _duration(h: Decimal) -> str:
    s = int(h * 3600)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _toggl_csv_row(i: int) -> dict[str, str]:
    day = f"2026-01-{1 + i % 28:02d}"
    return {"User": f"User {i}", "Email": f"user{i}@example.com", "Client": f"Client {1 + i % 50}",
            "Project": f"Project {i % 200}", "Task": f"Task {1 + i % 6}", "Description": f"rec-{i}",
            "Billable": "Yes", "Start date": day, "Start time": "09:00:00", "End date": day, "End time": "10:00:00",
            "Duration": _duration(_hours(i)), "Tags": "", "Billable Rate (GBP)": "100.00"}


TOGGL_CSV_ODD: dict[str, list[str]] = {
    "Duration": ["1:5:00", "abc", "", "-01:00:00", "99999999:00:00", "01:61:00", "1.5", "١:٠٠:٠٠"],
    "Billable": CSV_BOOL_ODD, "Start date": CSV_DATE_ODD + ["01/13/2026"], "Project": [""],
    "Billable Rate (GBP)": CSV_RATE_ODD,
}


def _csv_cases(n: int, seed: int, good: Callable[[int], dict[str, str]], odd: dict[str, list[str]],
               not_billable: dict[str, str]) -> list[Case]:
    rng = random.Random(seed)
    fields = sorted(odd)
    cases = []
    for i in range(n):
        row = good(i)
        roll = rng.random()
        if roll < ODD_SHARE:
            f = rng.choice(fields)
            row[f] = rng.choice(odd[f])
            cases.append(Case(row, None, f"{f}={row[f]!r}", True))
        elif roll < ODD_SHARE + NOT_BILLABLE_SHARE:
            row.update(not_billable)
            cases.append(Case(row, None, "non-billable"))
        else:
            cases.append(Case(row, Decimal(row["Hours"]) if "Hours" in row else _hours(i), "good"))
    return cases


def harvest_csv_cases(n: int, seed: int = 0) -> list[Case]:
    """Rows of a Harvest detailed time export; ``Invoiced? = Yes`` rows are never billed (billed in Harvest)."""
    return _csv_cases(n, seed, _harvest_csv_row, HARVEST_CSV_ODD, {"Invoiced?": "Yes"})


def toggl_csv_cases(n: int, seed: int = 0) -> list[Case]:
    return _csv_cases(n, seed, _toggl_csv_row, TOGGL_CSV_ODD, {"Billable": "No"})


def csv_text(header: list[str], cases: list[Case]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(c.doc for c in cases)
    return out.getvalue()
