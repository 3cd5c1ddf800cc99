"""Harvest sandbox: every resource, cursor pagination, filters, edits/deletes/approvals through
updated_since and the deletions extension, per_page limits, 429 + Retry-After, auth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import HarvestSandbox
from sync_pipeline.sandbox.server import SandboxServer

ACC = demo_data.HARVEST_ACCOUNT_ID


@pytest.fixture
def harvest(tmp_path: Path) -> Iterator[tuple[HarvestSandbox, httpx.Client]]:
    sb = HarvestSandbox(str(tmp_path / "h.sqlite3"), rate_limit=0)
    demo_data.seed_harvest(sb)
    sb.upsert_many("task_assignments", ACC, [
        {"id": 501, "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"},
         "task": {"id": 1, "name": "Development"}, "is_active": True, "billable": True,
         "hourly_rate": Decimal("120.00"), "budget": None,
         "x_rate_history": [{"effective_from": "2026-01-01", "hourly_rate": Decimal("110.00")},
                            {"effective_from": "2026-07-01", "hourly_rate": Decimal("120.00")}]},
        {"id": 502, "project": {"id": 21, "name": "Globex Data Platform", "code": "GLX-DATA"},
         "task": {"id": 1, "name": "Development"}, "is_active": True, "billable": True,
         "hourly_rate": Decimal("110.00"), "budget": None}])
    sb.upsert_many("user_assignments", ACC, [
        {"id": 601, "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"},
         "user": {"id": 1, "name": "Alice Archer"}, "is_active": True, "is_project_manager": True,
         "use_default_rates": False, "hourly_rate": Decimal("130.00"), "budget": None}])
    sb.upsert_many("expense_categories", ACC, [{"id": 71, "name": "Travel", "unit_name": None, "unit_price": None,
                                                "is_active": True}])
    sb.upsert_many("expenses", ACC, [{
        "id": 801, "spent_date": "2026-10-10", "notes": "Train to client", "total_cost": Decimal("84.20"),
        "units": None, "billable": True, "is_closed": False, "is_locked": False, "is_billed": False,
        "user": {"id": 1, "name": "Alice Archer"}, "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"},
        "client": {"id": 1, "name": "Acme Corp", "currency": "GBP"},
        "expense_category": {"id": 71, "name": "Travel", "unit_price": None, "unit_name": None},
        "receipt": {"url": "https://sandbox.invalid/receipts/801.pdf", "file_name": "801.pdf", "file_size": 41200,
                    "content_type": "application/pdf"},
        "x_markup_percent": Decimal("10")}])
    with SandboxServer(sb) as server:
        sb.base_url = server.url
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {sb.token}",
                                                        "Harvest-Account-Id": ACC}) as http:
            yield sb, http


@pytest.mark.parametrize("resource, count", [
    ("clients", 3), ("projects", 4), ("tasks", 3), ("users", 3), ("task_assignments", 2), ("user_assignments", 1),
    ("expense_categories", 1), ("expenses", 1), ("time_entries", 10)])
def test_each_resource_lists_and_gets(harvest, resource: str, count: int) -> None:
    _, http = harvest
    body = http.get(f"/v2/{resource}").json()
    assert body["total_entries"] == count and len(body[resource]) == count
    assert body["links"]["next"] is None and body["page"] == 1
    first = body[resource][0]
    assert http.get(f"/v2/{resource}/{first['id']}").json()["id"] == first["id"]
    assert http.get(f"/v2/{resource}/999999").status_code == 404


def test_assignments_under_a_project_with_rates_and_history(harvest) -> None:
    _, http = harvest
    tas = http.get("/v2/projects/11/task_assignments").json()["task_assignments"]
    assert [t["id"] for t in tas] == [501]
    assert tas[0]["hourly_rate"] == 120.0 and tas[0]["x_rate_history"][0]["effective_from"] == "2026-01-01"
    assert http.get("/v2/projects/21/task_assignments/501").status_code == 404
    assert http.get("/v2/projects/11/user_assignments").json()["user_assignments"][0]["hourly_rate"] == 130.0
    expense = http.get("/v2/expenses").json()["expenses"][0]
    assert expense["receipt"]["file_name"] == "801.pdf" and expense["x_markup_percent"] == 10
    company = http.get("/v2/company").json()
    assert company["name"] == "Acme UK Ltd" and company["approval_feature"] is True


def test_cursor_pagination_reads_everything_once_in_order(harvest) -> None:
    _, http = harvest
    url: str | None = "/v2/time_entries?per_page=3"
    seen, pages = [], []
    while url:
        body = http.get(url).json()
        pages.append(body)
        seen.extend((e["spent_date"], e["id"]) for e in body["time_entries"])
        url = body["links"]["next"]
    assert len(pages) == 4 and len(seen) == 10 == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest spent_date first, then id descending
    assert "cursor=" in pages[0]["links"]["next"] and "ref=next_cursor" in pages[0]["links"]["next"]
    assert pages[1]["page"] is None and pages[0]["total_pages"] == 4 and pages[0]["next_page"] == 2
    by_page = http.get("/v2/time_entries?per_page=3&page=2").json()
    assert [e["id"] for e in by_page["time_entries"]] == [e[1] for e in seen[3:6]]
    assert http.get("/v2/time_entries?per_page=2001").status_code == 422
    assert http.get("/v2/time_entries?cursor=garbage").status_code == 422


def test_filters(harvest) -> None:
    _, http = harvest
    october = http.get("/v2/time_entries", params={"from": "2026-10-01", "to": "2026-10-31"}).json()
    assert october["total_entries"] == 9
    acme = http.get("/v2/time_entries", params={"project_id": 11}).json()["time_entries"]
    assert {e["project"]["id"] for e in acme} == {11} and len(acme) == 6
    assert http.get("/v2/time_entries", params={"user_id": 3}).json()["total_entries"] == 2
    assert http.get("/v2/projects", params={"client_id": 1}).json()["total_entries"] == 2
    assert http.get("/v2/time_entries", params={"from": "10/01/2026"}).status_code == 422


def test_edits_approvals_and_deletes_show_through_updated_since(harvest) -> None:
    sb, http = harvest
    time.sleep(1.05)  # updated_at has whole seconds, as Harvest's
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert http.get("/v2/time_entries", params={"updated_since": since}).json()["total_entries"] == 0
    r = http.patch("/v2/time_entries/1001", json={"hours": 3.0, "notes": "Checkout flow (corrected)"})
    assert r.status_code == 200 and r.json()["updated_at"] >= since
    assert http.patch("/v2/time_entries/1001", json={"user_id": 2}).status_code == 422
    assert http.post("/v2/x_sandbox/approvals", json={"time_entry_ids": [1008]}).json()["approved"] == {
        "time_entries": [1008], "expenses": []}
    assert http.delete("/v2/time_entries/1009").status_code == 200
    changed = http.get("/v2/time_entries", params={"updated_since": since}).json()["time_entries"]
    assert {e["id"]: e["is_closed"] for e in changed} == {1001: True, 1008: True}
    assert next(e for e in changed if e["id"] == 1001)["hours"] == 3.0
    deleted = http.get("/v2/x_sandbox/deleted", params={"resource": "time_entries", "updated_since": since}).json()
    assert [d["id"] for d in deleted["deleted"]] == [1009]
    assert http.get("/v2/time_entries/1009").status_code == 404
    assert http.patch("/v2/expenses/801", json={"total_cost": 90.5}).json()["total_cost"] == 90.5


def test_rate_limit_and_auth(tmp_path: Path) -> None:
    sb = HarvestSandbox(str(tmp_path / "h.sqlite3"), rate_limit=3, rate_window=0.5)
    demo_data.seed_harvest(sb)
    with SandboxServer(sb) as server, httpx.Client(base_url=server.url) as http:
        h = {"Authorization": f"Bearer {sb.token}", "Harvest-Account-Id": ACC}
        statuses = [http.get("/v2/clients", headers=h) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert int(statuses[3].headers["Retry-After"]) >= 1
        time.sleep(0.55)
        assert http.get("/v2/clients", headers=h).status_code == 200
        assert http.get("/v2/clients", headers={**h, "Authorization": "Bearer nope"}).status_code == 401
        assert http.get("/v2/clients", headers={**h, "Harvest-Account-Id": "42"}).status_code == 403
