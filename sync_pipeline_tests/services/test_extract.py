"""Hostile Harvest time entries (and expenses) through extract -> clean -> billables: each bad record is quarantined alone,
naming the record, the field and the problem; its good neighbours are extracted and billed as before; nothing
is billed that a strict reading would not bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow
import pytest
from hypothesis import given

from sync_pipeline.bench import hostile
from sync_pipeline.bench.extract import _entry
from sync_pipeline.bench.fuzz import bench_entity
from sync_pipeline.connectors.harvest import read_expense, read_time_entry
from sync_pipeline.connectors.redmine import read_time_entry as read_redmine_time_entry
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.contracts.mapping import Mapping
from sync_pipeline.contracts.warehouse import RawExpense, RawTimeEntry
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import billing
from sync_pipeline.services.extract import extract_time_entries_partition, read_pages
from sync_pipeline.store.sql import SqlModels
from sync_pipeline.store.warehouse import Warehouse, arrow_schema
from sync_pipeline_tests.strict_records import ABSENT, HARVEST_TIME, REQUIRED_HARVEST, is_id, pages_of

P = Period.parse("2026-01")
TODAY = date(2026, 2, 15)
ENTITY = Mapping.model_validate({"version": 2, "entities": [{
    "key": "acme", "name": "Acme Ltd", "timezone": "Europe/London", "base_currency": "GBP",
    "harvest_account_id": "1", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41", "require_approval": True}]}
).entities[0]


def good(i: int, **changes: Any) -> dict[str, Any]:
    """A billable, approved Harvest time entry of January 2026 (id i + 1)."""
    doc = {**_entry(i), "billable": True, "is_closed": True, "approval_status": None, **changes}
    return doc


def run(tmp_path, docs: list[dict[str, Any]]) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Extract one page, clean and bill it as the assets do; the extract's figures, the quarantine, the clean
    entries and the billables."""
    wh = Warehouse(tmp_path)
    done = extract_time_entries_partition(iter([docs]), wh, ENTITY.key, P)
    billing.clean_time_entries_partition(wh, ENTITY, P, TODAY)
    billing.billables_partition(wh, ENTITY, P, TODAY)
    return (done, done["quarantine"], wh.read("clean_time_entries", ENTITY.key, P.key),
            wh.read("billables", ENTITY.key, P.key))


def billed_hours(billables: pd.DataFrame) -> dict[str, Decimal]:
    return {str(i): Decimal(str(h)) for i, h in zip(billables["entry_id"], billables["hours"], strict=True)}


def problems_of(quarantine: pd.DataFrame, record: str) -> list[tuple[str, str]]:
    q = quarantine[quarantine["record"] == record]
    return list(zip(q["field"], q["problem"], strict=True))


@pytest.mark.parametrize("field", ["billable", "is_closed"])
def test_the_string_false_is_not_true(tmp_path, field):
    docs = [good(0), good(1, **{field: "false"}), good(2)]
    _, quarantine, clean, bills = run(tmp_path, docs)
    assert set(billed_hours(bills)) == {"1", "3"}  # never billed: bool("false") used to be True
    [(f, problem)] = problems_of(quarantine, "2")
    assert f == field and "boolean" in problem and "'false'" in problem
    row = clean[clean["entry_id"] == "2"].iloc[0]
    assert row["disposition"] == "quarantined" and field in row["reason"]


def test_hours_true_is_not_one_hour(tmp_path):
    _, quarantine, clean, bills = run(tmp_path, [good(0), good(1, hours=True), good(2)])
    assert set(billed_hours(bills)) == {"1", "3"}
    [(f, problem)] = problems_of(quarantine, "2")
    assert f == "hours" and "boolean" in problem
    assert clean.set_index("entry_id").loc["2", "disposition"] == "quarantined"


def test_two_entries_without_an_id_are_two_quarantined_records_not_one_superseded(tmp_path):
    docs = [good(0), good(1, id=None, hours=Decimal("2.00")), good(2, id=None, hours=Decimal("3.00")), good(3)]
    done, quarantine, clean, bills = run(tmp_path, docs)
    assert done["superseded_versions"] == 0
    assert set(billed_hours(bills)) == {"1", "4"}
    # no id to name them by: their position in the stream (1-based) does
    assert problems_of(quarantine, "position 2") == [("id", "expected a positive integer id, got null")]
    assert problems_of(quarantine, "position 3") == [("id", "expected a positive integer id, got null")]
    assert done["quarantined"] == 2 and done["rows"] == 2


ODD_FIELDS: list[tuple[str, Any]] = [
    ("hours", "abc"), ("hours", "1,5"), ("hours", "1.5"), ("hours", Decimal("1e30")), ("hours", Decimal("1e400")),
    ("hours", Decimal("NaN")), ("hours", Decimal("0.0000001")), ("hours", 1.5), ("hours", [1]), ("hours", {}),
    ("billable_rate", "NaN"), ("billable_rate", Decimal("1e20")), ("billable_rate", True), ("cost_rate", "x"),
    ("client", "Acme"), ("client", []), ("project", 7), ("task", "Design"), ("user", ["x"]),
    ("client", {"id": 1, "name": "C", "currency": 978}), ("project", {"id": "P1", "name": "x"}),
    ("spent_date", "2026-13-01"), ("spent_date", 20260105), ("spent_date", None), ("updated_at", None),
    ("updated_at", 5), ("approval_status", "rubber-stamped"), ("notes", {"x": 1}), ("x_started_at", "yesterday"),
    ("x_approved_by", 5), ("invoice", "INV-1"), ("external_reference", "ref"), ("is_billed", "no"),
]


def test_each_odd_field_quarantines_its_record_alone(tmp_path):
    """One partition: a good entry, then one entry per odd field, then a good one, and so on (one run, not 33)."""
    docs, odd = [], {}
    for n, (field, value) in enumerate(ODD_FIELDS):
        docs += [good(2 * n), good(2 * n + 1, **{field: value})]
        odd[str(2 * n + 2)] = field
    docs.append(good(2 * len(ODD_FIELDS)))
    done, quarantine, clean, bills = run(tmp_path, docs)
    billed = billed_hours(bills)
    good_ids = {str(i + 1) for i in range(len(docs))} - set(odd)
    assert set(billed) == good_ids  # every neighbour billed, no odd one
    assert all(billed[i] == _entry(int(i) - 1)["hours"] for i in good_ids)
    assert done["quarantined"] == len(odd) and quarantine["record"].nunique() == len(odd)
    dispositions = clean.set_index("entry_id")["disposition"]
    for record, field in odd.items():
        problems = problems_of(quarantine, record)
        assert problems and all(f == field or f.startswith(field + ".") for f, _ in problems), (record, problems)
        assert all(p for _, p in problems)
        assert dispositions[record] == "quarantined"


def expense_doc(i: int, **changes: Any) -> dict[str, Any]:
    """A billable, approved Harvest expense of January 2026 (id 500 + i)."""
    doc = {"id": 500 + i, "spent_date": "2026-01-12", "notes": "Train", "total_cost": Decimal("45.50"),
           "units": None, "billable": True, "is_closed": True, "is_billed": False, "approval_status": "approved",
           "updated_at": "2026-01-21T09:00:00Z", "user": {"id": 1, "name": "Alice"},
           "project": {"id": 11, "name": "Web", "code": "W"}, "client": {"id": 1, "name": "Acme", "currency": "GBP"},
           "expense_category": {"id": 1, "name": "Travel"}, "receipt": None, "invoice": None}
    return {**doc, **changes}


@pytest.mark.parametrize(("field", "value"), [("billable", "false"), ("is_closed", "false"), ("total_cost", True),
                                              ("total_cost", "45,50"), ("client", "Acme"), ("id", None),
                                              ("x_markup_percent", Decimal("1e9")), ("receipt", "a.pdf")])
def test_an_odd_expense_is_quarantined_alone_and_never_billed(field, value):
    read = read_pages([[expense_doc(0), expense_doc(1, **{field: value}), expense_doc(2)]], read_expense)
    raw = pd.DataFrame(read.rows, columns=list(RawExpense.to_schema().columns))
    clean = billing.clean_expenses(RawExpense.validate(raw, lazy=True), ENTITY, P, TODAY).set_index("expense_id")
    bills = billing.expense_billables(clean.reset_index(), ENTITY, P)
    assert set(bills["expense_id"]) == {"500", "502"}
    [rejected] = read.rejected
    assert rejected.record == ("position 2" if field == "id" else "501")
    assert [p.field for p in rejected.problems] == [field] and read.quarantine()["problem"].item()
    if field != "id":
        assert clean.loc["501", "disposition"] == "quarantined"
        assert clean.loc["501", "reason"].startswith(f"unreadable source record: {field}: expected")
    else:
        assert len(clean) == 2


# ---- Redmine ---------------------------------------------------------------------------------------------------
REDMINE_PROJECTS = {1: {"id": 1, "identifier": "acme", "name": "Acme"},
                    2: {"id": 2, "identifier": "acme-web", "name": "Web", "parent": {"id": 1}},
                    3: {"id": 3, "identifier": "odd", "name": "Odd", "parent": "acme"}}  # a malformed parent
REDMINE_ENTITY = ENTITY.model_copy(update={"source": "redmine", "harvest_account_id": None, "require_approval": False,
                                         "rate_cards": [
    *Mapping.model_validate({"version": 2, "entities": [{
        "key": "x", "name": "x", "timezone": "Europe/London", "base_currency": "GBP", "source": "redmine",
        "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41",
        "rate_cards": [{"rate": "100", "valid_from": "2025-01-01"}]}]}).entities[0].rate_cards]})


def redmine_doc(i: int, **changes: Any) -> dict[str, Any]:
    """A billable Redmine time entry of January 2026 (id i + 1), one person-day each."""
    doc = {"id": i + 1, "project": {"id": 2, "name": "Web"}, "issue": {"id": 40 + i},
           "user": {"id": 100 + i, "name": f"User {i}"}, "activity": {"id": 9, "name": "Design"},
           "hours": Decimal("1.25"), "comments": "mock-ups", "spent_on": "2026-01-05",
           "created_on": "2026-01-05T10:00:00Z", "updated_on": "2026-01-05T10:00:00Z",
           "custom_fields": [{"id": 1, "name": "billable", "value": "1"}]}
    return {**doc, **changes}


def redmine_reader(doc, extracted_at):
    r = read_redmine_time_entry(doc, REDMINE_PROJECTS, extracted_at)
    return r if isinstance(r, Rejected) else {**r, "client_currency": "GBP"}


REDMINE_ODD: list[tuple[str, Any]] = [
    ("hours", True), ("hours", "1.5"), ("hours", Decimal("1e400")), ("hours", None), ("spent_on", "05/01/2026"),
    ("updated_on", None), ("project", "Web"), ("issue", {"id": "42"}), ("user", 5), ("comments", 7),
    ("custom_fields", [{"id": 1, "name": "billable", "value": "true"}]),
    ("custom_fields", [{"id": 1, "name": "billable", "value": True}]), ("custom_fields", "billable"),
    ("custom_fields", [{"id": 1, "value": "1"}]),
]


def test_each_odd_redmine_field_quarantines_its_entry_alone(tmp_path):
    docs, odd = [], {}
    for n, (field, value) in enumerate(REDMINE_ODD):
        docs += [redmine_doc(2 * n), redmine_doc(2 * n + 1, **{field: value})]
        odd[str(2 * n + 2)] = field
    docs += [redmine_doc(2 * len(REDMINE_ODD), project={"id": 3, "name": "Odd"}),  # its project's parent is odd
             redmine_doc(2 * len(REDMINE_ODD) + 1, id=None), redmine_doc(2 * len(REDMINE_ODD) + 2, id=None)]
    wh = Warehouse(tmp_path)
    done = extract_time_entries_partition(iter([docs]), wh, "acme", P, flatten=redmine_reader)
    billing.clean_time_entries_partition(wh, REDMINE_ENTITY, P, TODAY)
    billing.billables_partition(wh, REDMINE_ENTITY, P, TODAY)
    bills = wh.read("billables", "acme", P.key)
    good_ids = {str(2 * n + 1) for n in range(len(REDMINE_ODD))} | {str(2 * len(REDMINE_ODD) + 1)}
    assert set(bills["entry_id"]) == good_ids
    assert all(Decimal(str(h)) == Decimal("1.25") for h in bills["hours"])
    quarantine = done["quarantine"]
    for record, field in odd.items():
        problems = problems_of(quarantine, record)
        assert problems and all(f == field or f.startswith(field + ".") for f, _ in problems), (record, problems)
    assert problems_of(quarantine, f"position {len(docs) - 1}") == [("id", "expected a positive integer id, got null")]
    assert problems_of(quarantine, f"position {len(docs)}") == [("id", "expected a positive integer id, got null")]
    clean = wh.read("clean_time_entries", "acme", P.key).set_index("entry_id")
    assert (clean.loc[list(odd), "disposition"] == "quarantined").all()
    assert clean.loc[list(odd), "reason"].str.startswith("unreadable source record: ").all()


@pytest.mark.parametrize(("value", "billable"), [("1", True), ("0", False), ("", False), (None, False)])
def test_redmine_billable_is_read_as_redmine_writes_it(value, billable):
    row = redmine_reader(redmine_doc(0, custom_fields=[{"id": 1, "name": "billable", "value": value}]), "now")
    assert row["billable"] is billable


# ---- property: whatever the page, nothing is billed that a strict reading would not bill -------------------------
BENCH_ENTITY = bench_entity()  # approvals not required, source rates: a good entry of January bills
_CON: list = []


RAW_SCHEMA = arrow_schema(RawTimeEntry)


def _bill(raw: pyarrow.Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """clean_time_entries and billables of ``raw`` by the billing SQL models, on one DuckDB connection kept for
    all the examples (a connection per example would cost most of the test's time)."""
    if not _CON:
        _CON.append(billing.connect(BENCH_ENTITY))
    con = _CON[0]
    con.register("raw_time_entries", raw)
    billing.register_raw(con)
    out = SqlModels().run(con, ["clean_time_entries", "billables"], billing.sql_params(BENCH_ENTITY, P, TODAY),
                          sources=["raw_entries", *billing.MAP_SCHEMAS])
    return out["clean_time_entries"].to_pandas(), out["billables"].to_pandas()


@given(pages_of(hostile.harvest_time_entry, sorted(HARVEST_TIME), max_records=15))  # records are cheap, runs are not
def test_only_strictly_read_entries_are_billed_and_every_good_neighbour_is(page):
    docs, changes = page
    read = read_pages([docs], read_time_entry)
    clean, bills = _bill(pyarrow.Table.from_pylist(read.rows, schema=RAW_SCHEMA))  # as the extract writes them
    billed = dict(zip(bills["entry_id"], bills["hours"], strict=True))
    for position, (doc, changed) in enumerate(zip(docs, changes, strict=True), start=1):
        strict_ok = all(f not in REQUIRED_HARVEST | {"hours"} if v is ABSENT else HARVEST_TIME[f](v)
                        for f, v in changed.items())
        key = str(doc["id"]) if is_id(doc.get("id")) else None
        if key in billed:  # billed: only as read, only when every field is what Harvest documents
            assert strict_ok and doc["billable"] is True and Decimal(str(billed[key])) == doc["hours"], (changed, doc)
        if not changed:
            assert key in billed  # a good neighbour is billed, whatever its neighbours are
        else:
            assert key in set(clean["entry_id"]) or f"position {position}" in {r.record for r in read.rejected}
