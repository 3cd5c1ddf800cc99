"""The project system is told what is invoiced: is_billed and external_reference on each billed entry, following
the document that bills it now (an adjustment moves it to the rebill, a credit note clears it)."""

import pytest

from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.posting_links import current_documents, entry_links_frame, mark_source_entries
from sync_pipeline_tests.posting.conftest import drafts
from sync_pipeline_tests.posting.test_posting_service import BASE, post

ACCOUNT = demo_data.HARVEST_ACCOUNT_ID
R1, R2 = "SP-acme-uk-2026-10-C1-R1", "SP-acme-uk-2026-10-C1-R2"


@pytest.fixture
def harvest(sandboxes):
    c = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, ACCOUNT, max_attempts=3)
    yield c
    c.close()


def entry(sandboxes, eid: str) -> dict:
    return sandboxes.harvest.store.get("time_entries", ACCOUNT, eid)


def test_billed_entries_are_marked_moved_to_the_rebill_and_unmarked_when_credited(sandboxes, xero, harvest, any_store):
    post(drafts("acme-uk", "2026-10", BASE), xero, any_store)
    assert mark_source_entries(harvest, any_store, "acme-uk", "2026-10") == {
        "marked": 3, "unmarked": 0, "missing": 0, "not_in_project_system": 0}
    for eid, ref in (("1002", R1), ("1003", R1), ("1005", "SP-acme-uk-2026-10-C2-R1")):
        doc = entry(sandboxes, eid)
        assert doc["is_billed"] is True, eid
        assert doc["external_reference"]["group_id"] == ref and doc["external_reference"]["service"] == "xero"
        assert doc["external_reference"]["number"].startswith("INV-")
    # resumable: nothing new, nothing sent
    before = harvest.http.request_count
    assert mark_source_entries(harvest, any_store, "acme-uk", "2026-10")["marked"] == 0
    assert harvest.http.request_count == before

    # late changes: 1003's hours edited (credit + rebill), 1005 refunded to the client (no longer billable: credit
    # only), and a retainer line whose "entries" are not time entries of the project system
    edited = [BASE[0], ("1", "Acme Corp", "GBP", "11", "2", "120", "0.75", "1003"),
              ("1", "Acme Corp", "GBP", "11", "9", "500", "1", "retainer:11")]
    post(drafts("acme-uk", "2026-10", edited), xero, any_store)
    links = entry_links_frame(any_store, "acme-uk", "2026-10")
    assert current_documents(links) == {"1002": R1, "1003": R2, "retainer:11": R2}
    sent_before = harvest.http.request_count
    assert mark_source_entries(harvest, any_store, "acme-uk", "2026-10") == {
        "marked": 1, "unmarked": 1, "missing": 0, "not_in_project_system": 1}
    assert harvest.http.request_count - sent_before == 2  # 1003 and 1005; never a PATCH for "retainer:11"
    assert entry(sandboxes, "1003")["external_reference"]["group_id"] == R2  # the rebill bills it now
    assert entry(sandboxes, "1002")["external_reference"]["group_id"] == R1  # untouched line, untouched mark
    refunded = entry(sandboxes, "1005")
    assert (refunded["is_billed"], refunded["external_reference"]) == (False, None)


def test_billed_expenses_are_marked_billed_and_unmarked_when_credited(sandboxes, xero, harvest, sqlite_store):
    from sync_pipeline.sandbox.harvest import now_iso

    sandboxes.harvest.upsert("expenses", ACCOUNT, {
        "id": 7001, "spent_date": "2026-10-12", "total_cost": "84.00", "units": None, "billable": True,
        "is_billed": False, "is_closed": True, "notes": "Train to client", "updated_at": now_iso(),
        "client": {"id": 1, "name": "Acme Corp", "currency": "GBP"}, "project": {"id": 11, "name": "Acme Website"},
        "user": {"id": 1, "name": "Alice Archer"}, "expense_category": {"id": 1, "name": "Travel"}})
    with_expense = [*BASE, ("1", "Acme Corp", "GBP", "11", "x", "84", "1", "expense:7001")]
    post(drafts("acme-uk", "2026-10", with_expense), xero, sqlite_store)
    assert mark_source_entries(harvest, sqlite_store, "acme-uk", "2026-10")["marked"] == 4
    assert sandboxes.harvest.store.get("expenses", ACCOUNT, "7001")["is_billed"] is True
    assert entry(sandboxes, "7001") is None  # never written to the time entry of the same number
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)  # the expense is refunded: credited
    assert mark_source_entries(harvest, sqlite_store, "acme-uk", "2026-10") == {
        "marked": 0, "unmarked": 1, "missing": 0, "not_in_project_system": 0}
    assert sandboxes.harvest.store.get("expenses", ACCOUNT, "7001")["is_billed"] is False


def test_an_entry_deleted_in_the_project_system_is_skipped_not_fatal(sandboxes, xero, harvest, sqlite_store):
    post(drafts("acme-uk", "2026-10", BASE), xero, sqlite_store)
    sandboxes.harvest.store.delete("time_entries", ACCOUNT, "1003")
    assert mark_source_entries(harvest, sqlite_store, "acme-uk", "2026-10") == {
        "marked": 2, "unmarked": 0, "missing": 1, "not_in_project_system": 0}
    assert mark_source_entries(harvest, sqlite_store, "acme-uk", "2026-10")["missing"] == 0  # not retried forever
