"""Harvest source: all resources, streaming pagination, incremental cursor, edits and deletions, faults."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from sync_pipeline.connectors.harvest import HarvestClient, flatten_assignment, flatten_expense
from sync_pipeline.connectors.http import AuthError
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.extract import extract_incremental, extract_time_entries, window_changes
from sync_pipeline.store.cursors import CursorStore
from sync_pipeline.store.operational import OperationalStore

ACC = demo_data.HARVEST_ACCOUNT_ID


def test_every_resource_streams_pages_following_links_next():
    calls = []

    def api(req: httpx.Request) -> httpx.Response:
        calls.append(str(req.url))
        res = req.url.path.rsplit("/", 1)[1]
        page = int(req.url.params.get("page", 1))
        nxt = f"https://harvest.test/v2/{res}?page={page + 1}&per_page=2" if page < 2 else None
        return httpx.Response(200, json={res: [{"id": page * 10 + i, "hourly_rate": "125.50", "updated_at": "x"}
                                              for i in range(2)], "links": {"next": nxt}})

    c = HarvestClient("https://harvest.test", "tok-abcdef", ACC, transport=httpx.MockTransport(api))
    for res in HarvestClient.RESOURCES:
        pages = c.pages(res, per_page=2, is_active=True)
        first = next(pages)  # a generator: nothing fetched beyond what was consumed
        assert len(first) == 2
        assert len(list(pages)) == 1
    assert "is_active=true" in calls[0] and "per_page=2" in calls[0]
    with pytest.raises(ValueError, match="unknown Harvest resource"):
        c.pages("invoices_v9")


def test_assignment_rates_and_expenses_stay_decimal():
    row = flatten_assignment({"id": 5, "project": {"id": 11}, "task": {"id": 1, "name": "Dev"}, "billable": True,
                              "is_active": True, "hourly_rate": Decimal("125.50"), "updated_at": "t"}, "task_assignments")
    assert row == {"assignment_id": "5", "kind": "task", "project_id": "11", "subject_id": "1", "subject_name": "Dev",
                   "billable": True, "is_active": True, "hourly_rate": Decimal("125.50"), "updated_at": "t"}
    exp = flatten_expense({"id": 9, "spent_date": "2026-10-02", "total_cost": Decimal("42.10"), "units": None,
                           "billable": True, "expense_category": {"name": "Travel"}, "client": {"id": 1, "currency": "GBP"},
                           "project": {"id": 11}, "user": {"id": 2}, "updated_at": "t"}, "now")
    assert exp["total_cost"] == Decimal("42.10") and exp["category"] == "Travel" and exp["client_currency"] == "GBP"


@pytest.fixture
def harvest(sandboxes):
    c = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, ACC, max_attempts=4)
    c.http._backoff = lambda state: 0.01
    yield c
    c.close()


@pytest.fixture
def cursors(tmp_path: Path) -> CursorStore:
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    return CursorStore(store.engine)


def test_incremental_extraction_persists_its_cursor_and_sees_edits(harvest, cursors, sandboxes, tmp_path):
    got: list[dict] = []
    first = extract_incremental(harvest, cursors, ACC, "time_entries", got.extend)
    assert first.records == 10 and first.cursor_before is None and first.cursor_after
    # a new store object on the same database resumes from the persisted cursor
    cursors2 = CursorStore(OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}").engine)
    assert cursors2.get("harvest", ACC, "time_entries").cursor == first.cursor_after
    time.sleep(1.1)  # the sandbox stamps updated_at to the second
    r = httpx.patch(f"{sandboxes.harvest_server.url}/v2/time_entries/1002", content=b'{"hours": 3.5}',
                    headers={"Authorization": f"Bearer {sandboxes.harvest.token}", "Harvest-Account-Id": ACC})
    assert r.status_code == 200
    changed: list[dict] = []
    second = extract_incremental(harvest, cursors2, ACC, "time_entries", changed.extend)
    # the edit, plus the record at the old cursor (updated_since is inclusive: read again, never skipped)
    boundary = {d["id"] for d in got if d["updated_at"] == first.cursor_after}
    assert {d["id"] for d in changed} == {1002} | boundary and boundary == {1006}
    assert next(d for d in changed if d["id"] == 1002)["hours"] == Decimal("3.5")
    assert second.cursor_after > first.cursor_after
    assert cursors2.get("harvest", ACC, "time_entries").records == 12


def test_deletions_are_found_by_reconciling_the_window(harvest, sandboxes):
    period = Period.parse("2026-10")
    before = extract_time_entries(harvest, period)
    r = httpx.delete(f"{sandboxes.harvest_server.url}/v2/time_entries/1003",
                     headers={"Authorization": f"Bearer {sandboxes.harvest.token}", "Harvest-Account-Id": ACC})
    assert r.status_code == 200
    after = extract_time_entries(harvest, period)
    changes = window_changes(before, after)
    assert changes.deleted == ["1003"] and changes.added == [] and changes.edited == []
    assert changes.as_metadata()["deleted_since_last_extract"] == 1


def test_extraction_survives_faults(harvest, sandboxes):
    faults = sandboxes.harvest.faults
    harvest.http.max_attempts = 6  # four faults in a row on the first page, then success
    faults.add("429", path="/v2/time_entries", times=1, retry_after=0)
    faults.add("reset", path="/v2/time_entries", times=1)
    faults.add("truncate", path="/v2/time_entries", times=1)
    faults.add("503", path="/v2/time_entries", times=1, retry_after=0)
    pages = list(harvest.pages("time_entries", per_page=3))
    assert sum(len(p) for p in pages) == 10
    assert {k for k, _, _ in faults.fired} == {"429", "reset", "truncate", "503"}
    assert harvest.http.retry_count == 4


def test_bad_token_is_an_auth_error(sandboxes):
    c = HarvestClient(sandboxes.harvest_server.url, "wrong-token-123", ACC)
    with pytest.raises(AuthError, match="check the credentials of harvest"):
        next(c.pages("clients"))


def test_incremental_extraction_reads_deletions_from_the_sandbox_feed(harvest, cursors, sandboxes):
    first = extract_incremental(harvest, cursors, ACC, "time_entries", lambda page: None, deletion_feed=True)
    assert first.deleted_ids == ()
    r = httpx.delete(f"{sandboxes.harvest_server.url}/v2/time_entries/1004",
                     headers={"Authorization": f"Bearer {sandboxes.harvest.token}", "Harvest-Account-Id": ACC})
    assert r.status_code == 200
    second = extract_incremental(harvest, cursors, ACC, "time_entries", lambda page: None, deletion_feed=True)
    assert second.deleted_ids == ("1004",)


def test_assignments_with_rates_and_expenses_from_the_sandbox(harvest, sandboxes):
    sb = sandboxes.harvest
    sb.upsert_many("task_assignments", ACC, [
        {"id": 501, "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"}, "task": {"id": 1, "name": "Development"},
         "billable": True, "is_active": True, "hourly_rate": Decimal("125.50"), "budget": None}])
    sb.upsert_many("user_assignments", ACC, [
        {"id": 601, "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"}, "user": {"id": 1, "name": "Alice Archer"},
         "is_active": True, "is_project_manager": False, "hourly_rate": Decimal("140"), "budget": None}])
    sb.upsert_many("expenses", ACC, [
        {"id": 701, "spent_date": "2026-10-07", "total_cost": Decimal("42.10"), "units": None, "billable": True,
         "is_closed": True, "is_billed": False, "notes": "Train to client", "expense_category": {"id": 3, "name": "Travel"},
         "client": {"id": 1, "name": "Acme Corp", "currency": "GBP"}, "project": {"id": 11, "name": "Acme Website"},
         "user": {"id": 1, "name": "Alice Archer"}}])
    tasks = [flatten_assignment(d, "task_assignments") for p in harvest.pages("task_assignments") for d in p]
    users = [flatten_assignment(d, "user_assignments") for p in harvest.pages("user_assignments") for d in p]
    assert [(t["project_id"], t["subject_id"], t["hourly_rate"]) for t in tasks if t["assignment_id"] == "501"] == \
        [("11", "1", Decimal("125.50"))]
    assert [(u["kind"], u["hourly_rate"]) for u in users if u["assignment_id"] == "601"] == [("user", Decimal("140"))]
    expenses = [flatten_expense(d, "now") for p in harvest.expenses(start=date(2026, 10, 1), end=date(2026, 10, 31))
                for d in p]
    assert [(e["expense_id"], e["total_cost"], e["category"]) for e in expenses if e["expense_id"] == "701"] == \
        [("701", Decimal("42.10"), "Travel")]


def test_client_limiter_keeps_the_sandbox_from_ever_answering_429(tmp_path):
    from sync_pipeline.connectors.limits import RateLimiter, RateLimits, Window
    from sync_pipeline.sandbox.harvest import HarvestSandbox
    from sync_pipeline.sandbox.server import SandboxServer

    sb = HarvestSandbox(str(tmp_path / "h.sqlite3"), rate_limit=5, rate_window=1.0)
    demo_data.seed_harvest(sb)
    with SandboxServer(sb) as server:
        sb.base_url = server.url
        # a half-window margin: this machine's scheduling jitter under load is far above real-world latency jitter
        limiter = RateLimiter(RateLimits(windows=(Window(5, 1.0),), margin=0.5), name="harvest")
        c = HarvestClient(server.url, sb.token, ACC, limiter=limiter)
        t0 = time.monotonic()
        rows = [d for _ in range(3) for p in c.pages("time_entries", per_page=2) for d in p]  # 15 requests
        elapsed = time.monotonic() - t0
        c.close()
    assert len(rows) == 30 and c.http.request_count == 15
    assert limiter.stats.server_pauses == 0 and c.http.retry_count == 0  # never a 429
    assert limiter.stats.waits >= 2 and elapsed >= 1.9  # 15 requests at 5/s need two full windows of waiting
