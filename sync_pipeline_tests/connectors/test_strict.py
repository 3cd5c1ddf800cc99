"""Property-based tests at the API source boundaries (Harvest time entries and expenses, Redmine time entries):
for every generated page of records -- good ones, and good ones with arbitrary JSON put into (or taken out of) a
few fields -- reading never raises; every record is typed or rejected with its record, field and problem; a
typed record is read exactly as sent (no coercion) and only when every field is what the source documents; a
record is rejected only for a field that is not; the good neighbours are all typed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.bench import hostile
from sync_pipeline.connectors.harvest import read_expense, read_time_entry
from sync_pipeline.connectors.redmine import read_time_entry as read_redmine
from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.services.extract import read_pages
from sync_pipeline_tests.strict_records import (
    HARVEST_EXPENSE,
    HARVEST_TIME,
    REDMINE,
    REQUIRED_HARVEST,
    REQUIRED_REDMINE,
    check_page,
    json_values,
    pages_of,
)


@given(pages_of(hostile.harvest_time_entry, sorted(HARVEST_TIME)))
def test_harvest_time_entries_are_typed_exactly_or_quarantined_alone(page):
    docs, changes = page
    check_page(docs, changes, read_time_entry, HARVEST_TIME, REQUIRED_HARVEST | {"hours"}, "entry_id",
               exact={"hours": "hours", "billable": "billable", "billable_rate": "billable_rate", "notes": "notes"})


@given(pages_of(hostile.harvest_expense, sorted(HARVEST_EXPENSE)))
def test_harvest_expenses_are_typed_exactly_or_quarantined_alone(page):
    docs, changes = page
    check_page(docs, changes, read_expense, HARVEST_EXPENSE, REQUIRED_HARVEST | {"total_cost"}, "expense_id",
               exact={"total_cost": "total_cost", "billable": "billable", "is_billed": "is_billed"})


@given(pages_of(hostile.redmine_time_entry, sorted(REDMINE)))
def test_redmine_time_entries_are_typed_exactly_or_quarantined_alone(page):
    docs, changes = page
    check_page(docs, changes, lambda d, at: read_redmine(d, hostile.REDMINE_PROJECTS, at), REDMINE,
               REQUIRED_REDMINE, "entry_id", exact={"hours": "hours"})


@given(st.lists(st.one_of(json_values, st.builds(dict)), min_size=1, max_size=6))
def test_anything_at_all_is_read_or_rejected_never_raised(records):
    for reader in (read_time_entry, read_expense, lambda d, at: read_redmine(d, hostile.REDMINE_PROJECTS, at)):
        read = read_pages([records], reader)
        assert read.inputs == len(records)
        typed = len(read.rows) - sum(1 for r in read.rejected if r.row is not None)
        assert typed + len(read.rejected) == len(records)  # each record once: typed or rejected
        assert all(isinstance(r, Rejected) and r.problems for r in read.rejected)
