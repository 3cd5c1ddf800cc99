"""The event store on SQLite and on the real PostgreSQL server: idempotent on event identity."""

import threading

import pytest

from sync_pipeline.store.events import EventError, EventStore
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.pg_util import pg_database, pg_url

TENANT = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"


def event(resource: str, at: str = "2026-11-20T10:00:00.123", category: str = "INVOICE", kind: str = "UPDATE"):
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}", "resourceId": resource,
            "eventDateUtc": at, "eventType": kind, "eventCategory": category, "tenantId": TENANT,
            "tenantType": "ORGANISATION"}


@pytest.fixture(params=["sqlite", "postgres"])
def events(request, tmp_path):
    if request.param == "sqlite":
        s = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
        yield EventStore(s)
        s.dispose()
        return
    with pg_database() as db:
        s = OperationalStore(pg_url(db))
        yield EventStore(s)
        s.dispose()


def test_redelivery_is_the_same_row(events):
    first = events.record("xero", [event("a"), event("b")])
    assert (first.new, first.duplicates) == (2, 0)
    again = events.record("xero", [event("b"), event("a")])  # duplicate, out of order
    assert (again.new, again.duplicates) == (0, 2)
    rows = events.after(0)
    assert [r.resource_id for r in rows] == ["a", "b"]
    assert [r.deliveries for r in rows] == [2, 2]
    # a later event for the same resource is a new event
    assert events.record("xero", [event("a", at="2026-11-20T10:05:00.000")]).new == 1
    later = events.after(rows[-1].id)  # (ids may skip: PostgreSQL spends sequence values on conflicts)
    assert [(r.resource_id, r.event_at, r.deliveries) for r in later] == [("a", "2026-11-20T10:05:00.000", 1)]


def test_a_malformed_event_stores_nothing_of_its_delivery(events):
    bad = event("c")
    del bad["resourceId"]
    with pytest.raises(EventError, match="resourceId"):
        events.record("xero", [event("d"), bad])
    assert events.count() == 0


def test_concurrent_deliveries_of_one_event_store_one_row(events):
    errors = []

    def deliver():
        try:
            events.record("xero", [event("same")])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = events.after(0)
    assert len(rows) == 1 and rows[0].deliveries == 8
