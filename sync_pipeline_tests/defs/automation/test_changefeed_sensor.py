"""The change-feed sensor: cursor, partition targeting, run keys, dynamic entity registration."""

import json
from decimal import Decimal

import httpx
from dagster import build_sensor_context, instance_for_test

from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.defs.automation.sensors import harvest_changefeed
from sync_pipeline.domain.periods import Period
from sync_pipeline.domain.tracing import is_trace_id
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.changefeed import EntityCursor, FeedCursor
from sync_pipeline.services.extract import extract_time_entries

START = FeedCursor({demo_data.DEMO_ENTITY: EntityCursor(high_water="2026-09-01T00:00:00Z")}).to_json()


def _tick(instance, resources, cursor):
    # only what the sensor uses: a resource with setup and teardown (Xero's) would need a context manager
    used = {k: v for k, v in resources.items() if k in ("harvest", "redmine", "mapping", "warehouse")}
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources=used)
    return harvest_changefeed(ctx), ctx


def _partitions(result):
    return sorted(str(r.partition_key) for r in result.run_requests)


def _patch(sandboxes, entry_id, **changes):
    r = httpx.patch(f"{sandboxes.harvest_server.url}/v2/time_entries/{entry_id}", json=changes,
                    headers={"Authorization": f"Bearer {sandboxes.harvest.token}",
                             "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID})
    r.raise_for_status()


def _extract_october(sandboxes, resources):
    """Extract October's time entries into the warehouse, as the raw_time_entries asset would."""
    client = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, demo_data.HARVEST_ACCOUNT_ID)
    try:
        resources["warehouse"].get().write("raw_time_entries", demo_data.DEMO_ENTITY, "2026-10",
                                           extract_time_entries(client, Period.parse("2026-10")), RawTimeEntry)
    finally:
        client.close()


def test_first_tick_registers_the_entity_and_requests_each_changed_partition(sandboxes, resources):
    with instance_for_test() as instance:
        assert not instance.get_dynamic_partitions("entity")
        result, _ = _tick(instance, resources, START)
        assert [r.partitions_def_name for r in result.dynamic_partitions_requests] == ["entity"]
        assert list(result.dynamic_partitions_requests[0].partition_keys) == [demo_data.DEMO_ENTITY]
        # seeded entries: 1010 is September, the others October
        assert _partitions(result) == ["acme-uk|2026-09-01", "acme-uk|2026-10-01"]
        assert all(r.job_name in (None, "sync_job") for r in result.run_requests)
        cur = json.loads(result.cursor)["entities"][demo_data.DEMO_ENTITY]
        assert cur["high_water"] == "2026-10-20T18:00:00Z"  # the newest updated_at of the seed


def test_a_change_in_one_entity_period_triggers_exactly_that_partition_once(sandboxes, resources):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        first, _ = _tick(instance, resources, START)
        quiet, _ = _tick(instance, resources, first.cursor)
        assert quiet.run_requests == [] and not quiet.dynamic_partitions_requests  # nothing changed

        _patch(sandboxes, 1003, hours="1.5")
        changed, _ = _tick(instance, resources, quiet.cursor)
        assert _partitions(changed) == ["acme-uk|2026-10-01"]
        req = changed.run_requests[0]
        assert req.run_key.startswith("changefeed:acme-uk|2026-10:")
        assert req.tags["sync_pipeline/changed_entries"] == "1003"
        assert req.tags["sync_pipeline/trigger"] == "harvest_changefeed"
        assert is_trace_id(req.tags["sync_pipeline/trace_id"])  # a new trace starts at the tick

        # the same change is not reported again; a second edit within the same second is a new change
        again, _ = _tick(instance, resources, changed.cursor)
        assert again.run_requests == []
        _patch(sandboxes, 1003, notes="edited twice")
        second, _ = _tick(instance, resources, again.cursor)
        assert _partitions(second) == ["acme-uk|2026-10-01"]
        assert second.run_requests[0].run_key != req.run_key

        # a lost cursor re-reads the feed, but the same changes produce the same run keys
        replay, _ = _tick(instance, resources, START)
        assert req.run_key not in {r.run_key for r in replay.run_requests}  # 1003 changed again since
        assert len({r.run_key for r in replay.run_requests}) == 2


def test_an_entry_moved_to_another_period_refreshes_both(sandboxes, resources):
    _extract_october(sandboxes, resources)  # the warehouse knows 1004 as an October entry
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        first, _ = _tick(instance, resources, START)
        _patch(sandboxes, 1004, spent_date="2026-11-02")
        moved, _ = _tick(instance, resources, first.cursor)
        assert _partitions(moved) == ["acme-uk|2026-10-01", "acme-uk|2026-11-01"]


def test_a_change_outside_the_partitioned_range_is_logged_not_run(sandboxes, resources):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        first, _ = _tick(instance, resources, START)
        _patch(sandboxes, 1005, spent_date="2024-06-03")  # before the first partition (2025-01)
        res, _ = _tick(instance, resources, first.cursor)
        assert res.run_requests == []


def test_unreachable_project_system_keeps_the_cursor_and_fails_the_tick(resources):
    import pytest

    resources = {**resources, "harvest": type(resources["harvest"])(base_url="http://127.0.0.1:9", access_token="x",
                                                                     max_attempts=1, timeout_seconds=1)}
    with instance_for_test() as instance:
        with pytest.raises(Exception, match="could not be read for any entity"):
            _tick(instance, resources, START)


def test_our_own_write_back_is_not_a_change(sandboxes, resources):
    """Posting marks invoiced entries (is_billed, external_reference): that must not trigger another sync."""
    _extract_october(sandboxes, resources)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        first, _ = _tick(instance, resources, START)
        _patch(sandboxes, 1001, is_billed=True,  # the mark posting writes (services/posting_links.py)
               external_reference={"id": "x", "group_id": "SP-acme-uk-2026-10-C1-R1", "permalink": None})
        echo, _ = _tick(instance, resources, first.cursor)
        assert echo.run_requests == []
        # a lost cursor re-reads everything: entries the warehouse already holds unchanged are no change either
        replay, _ = _tick(instance, resources, START)
        assert _partitions(replay) == ["acme-uk|2026-09-01"]  # only September was never extracted


def test_an_entry_invoiced_in_the_project_system_is_a_change_our_own_mark_is_not(sandboxes, resources):
    """Invoicing an entry in Harvest itself (or another tool marking it billed) changes what we may bill, though
    no field billing sums changes; posting's own mark (one of our references) is still no change."""
    _extract_october(sandboxes, resources)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        first, _ = _tick(instance, resources, START)
        _patch(sandboxes, 1001, is_billed=True,
               external_reference={"id": "x", "service": "xero", "group_id": "SP-acme-uk-2026-10-C1-R1"})
        ours, _ = _tick(instance, resources, first.cursor)
        assert ours.run_requests == []
        _patch(sandboxes, 1002, is_billed=True, external_reference={"service": "quickbooks", "group_id": "QB-7"})
        theirs, _ = _tick(instance, resources, ours.cursor)
        assert _partitions(theirs) == ["acme-uk|2026-10-01"]
        assert theirs.run_requests[0].tags["sync_pipeline/changed_entries"] == "1002"


def test_only_billing_relevant_fields_make_a_content_change():
    from sync_pipeline.services.changefeed import content_digest

    row = {"spent_date": "2026-10-05", "hours": "2", "billable": True, "is_closed": False,
           "approval_status": "submitted", "approved_by": None, "billed_elsewhere": None}
    base = content_digest(row)
    assert content_digest({**row, "updated_at": "2026-10-06T00:00:00Z"}) == base  # a timestamp alone is no change
    assert content_digest({**row, "approval_status": "approved", "approved_by": "Bea (2)"}) != base
    assert content_digest({**row, "billed_elsewhere": "Harvest invoice H-1"}) != base
    assert content_digest({**row, "started_at": "2026-10-05T23:30:00+00:00"}) != base


# -- expenses: a feed of their own, in the same sensor ------------------------------------------------------

E = demo_data.DEMO_ENTITY
START_WITH_EXPENSES = FeedCursor({E: EntityCursor(high_water="2026-09-01T00:00:00Z")},
                                 {E: EntityCursor(high_water="2026-09-01T00:00:00Z")}).to_json()


def _expense(eid, spent_date, cost, updated_at="2026-10-21T09:00:00Z"):
    return {"id": eid, "spent_date": spent_date, "notes": "Train", "total_cost": Decimal(cost), "units": None,
            "billable": True, "is_closed": True, "is_locked": True, "is_billed": False, "approval_status": "approved",
            "created_at": updated_at, "updated_at": updated_at, "user": {"id": 1, "name": "Alice Archer"},
            "project": {"id": 11, "name": "Acme Website", "code": "ACM-WEB"},
            "client": {"id": 1, "name": "Acme Corp", "currency": "GBP"},
            "expense_category": {"id": 1, "name": "Travel"}, "receipt": None, "invoice": None}


def _seed_expenses(sandboxes):
    sandboxes.harvest.upsert_many("expenses", demo_data.HARVEST_ACCOUNT_ID, [
        _expense(9001, "2026-10-12", "45.50"), _expense(9002, "2026-11-03", "12.00")])


def _api(sandboxes, method, path, **kw):
    r = httpx.request(method, f"{sandboxes.harvest_server.url}{path}", **kw,
                      headers={"Authorization": f"Bearer {sandboxes.harvest.token}",
                               "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID})
    r.raise_for_status()


def _expense_runs(result):
    return sorted((str(r.partition_key), r.tags["sync_pipeline/changed_expenses"]) for r in result.run_requests
                  if "sync_pipeline/changed_expenses" in r.tags)


def test_a_changed_expense_triggers_exactly_its_partition_once(sandboxes, resources):
    _seed_expenses(sandboxes)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [E])
        first, _ = _tick(instance, resources, START_WITH_EXPENSES)
        assert _expense_runs(first) == [("acme-uk|2026-10-01", "9001"), ("acme-uk|2026-11-01", "9002")]
        # an October run carries the entries' and the expense's changes together: one run per partition
        assert _partitions(first) == ["acme-uk|2026-09-01", "acme-uk|2026-10-01", "acme-uk|2026-11-01"]
        exp_cursor = json.loads(first.cursor)["expenses"][E]
        assert exp_cursor["high_water"] == "2026-10-21T09:00:00Z"

        quiet, _ = _tick(instance, resources, first.cursor)
        assert quiet.run_requests == []  # no change → no run

        _api(sandboxes, "PATCH", "/v2/expenses/9002", json={"total_cost": "14.00"})
        changed, _ = _tick(instance, resources, quiet.cursor)
        assert _partitions(changed) == ["acme-uk|2026-11-01"]
        req = changed.run_requests[0]
        assert req.tags["sync_pipeline/changed_expenses"] == "9002"
        assert "sync_pipeline/changed_entries" not in req.tags
        assert req.run_key.startswith("changefeed:acme-uk|2026-11:")
        after = json.loads(changed.cursor)["expenses"][E]
        assert after["high_water"] > exp_cursor["high_water"]  # the cursor advanced to the edit
        assert after["seen"]["9002"].startswith(after["high_water"])
        assert json.loads(changed.cursor)["entities"] == json.loads(quiet.cursor)["entities"]  # entries untouched

        again, _ = _tick(instance, resources, changed.cursor)
        assert again.run_requests == []  # the same change never runs twice

        # a lost expense cursor re-reads the feed, and the same changes produce the same run key
        lost = json.loads(changed.cursor)
        lost["expenses"] = {E: {"high_water": "2026-09-01T00:00:00Z", "seen": {}}}
        replay, _ = _tick(instance, resources, json.dumps(lost))
        assert req.run_key in {r.run_key for r in replay.run_requests}


def test_an_expense_moved_or_deleted_refreshes_the_periods_the_warehouse_holds_it_in(sandboxes, resources):
    from sync_pipeline.contracts.warehouse import RawExpense
    from sync_pipeline.services.extract import extract_expenses

    _seed_expenses(sandboxes)
    wh = resources["warehouse"].get()
    client = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, demo_data.HARVEST_ACCOUNT_ID)
    try:  # the warehouse holds 9001 in October and 9002 in November
        for period in ("2026-10", "2026-11"):
            wh.write("raw_expenses", E, period, extract_expenses(client, Period.parse(period)), RawExpense)
    finally:
        client.close()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [E])
        first, _ = _tick(instance, resources, START_WITH_EXPENSES)
        assert _expense_runs(first) == []  # the warehouse already holds both exactly as listed

        _api(sandboxes, "PATCH", "/v2/expenses/9001", json={"spent_date": "2026-11-20"})
        moved, _ = _tick(instance, resources, first.cursor)
        assert _expense_runs(moved) == [("acme-uk|2026-10-01", "9001"), ("acme-uk|2026-11-01", "9001")]

        _api(sandboxes, "DELETE", "/v2/expenses/9002")
        deleted, _ = _tick(instance, resources, moved.cursor)
        assert _expense_runs(deleted) == [("acme-uk|2026-11-01", "9002")]
        assert deleted.run_requests[0].run_key.startswith("changefeed:acme-uk|2026-11:")
        again, _ = _tick(instance, resources, deleted.cursor)
        assert again.run_requests == []  # the deletion is reported once


def test_our_own_expense_write_back_is_not_a_change(sandboxes, resources):
    from sync_pipeline.contracts.warehouse import RawExpense
    from sync_pipeline.services.extract import extract_expenses

    _seed_expenses(sandboxes)
    wh = resources["warehouse"].get()
    client = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, demo_data.HARVEST_ACCOUNT_ID)
    try:
        wh.write("raw_expenses", E, "2026-10", extract_expenses(client, Period.parse("2026-10")), RawExpense)
    finally:
        client.close()
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("entity", [E])
        first, _ = _tick(instance, resources, START_WITH_EXPENSES)
        assert _expense_runs(first) == [("acme-uk|2026-11-01", "9002")]  # only November was never extracted
        _api(sandboxes, "PATCH", "/v2/expenses/9001", json={"is_billed": True})  # posting marks it billed
        echo, _ = _tick(instance, resources, first.cursor)
        assert echo.run_requests == []


def test_a_cursor_from_before_expenses_were_watched_still_loads():
    old = json.dumps({"version": 1, "entities": {E: {"high_water": "2026-10-20T18:00:00Z", "seen": {"1001": "x#y"}}}})
    cur = FeedCursor.from_json(old)
    assert cur.entities[E].high_water == "2026-10-20T18:00:00Z" and cur.expenses == {}
    assert json.loads(cur.to_json())["expenses"] == {}
