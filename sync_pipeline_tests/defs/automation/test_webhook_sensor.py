"""The Xero webhook sensor: stored events → refresh runs of the partitions whose documents changed."""

from datetime import UTC, datetime, timedelta

from dagster import build_sensor_context, instance_for_test

from sync_pipeline.defs.automation.sensors import xero_webhook_events
from sync_pipeline.domain.tracing import is_trace_id
from sync_pipeline.services.webhook_events import EventCursor, plan_refreshes
from sync_pipeline.store.events import EventStore
from sync_pipeline_tests.store.test_events import event

T1, T2, T3 = "1" * 32, "2" * 32, "3" * 32


def _ledger(store, target_id, period="2026-10", client="1"):
    key = f"inv_{target_id}"
    store.record_pending(invoice_key=key, entity="acme-uk", period=period, client_id=client, revision=1,
                         reference=f"SP-acme-uk-{period}-C{client}-R1-{target_id}", payload_hash="", idempotency_key="",
                         triggered_by="test")
    store.record_posted(key, target_id, "INV-1")


def _tick(instance, resources, cursor):
    used = {k: resources[k] for k in ("opstore", "mapping")}  # what the sensor uses (Xero's resource needs a with)
    return xero_webhook_events(build_sensor_context(instance=instance, cursor=cursor, resources=used))


def test_events_for_posted_documents_refresh_their_partition_once(resources):
    store = resources["opstore"].get()
    _ledger(store, "inv-oct")
    _ledger(store, "inv-sep", period="2026-09", client="2")
    events = EventStore(store)
    # a newer event arrives before an older one, one is delivered twice, a contact event needs no run
    events.record("xero", [event("inv-oct", at="2026-11-20T10:05:00.000")], trace_id=T1)
    events.record("xero", [event("inv-oct", at="2026-11-20T10:00:00.000"), event("inv-sep")], trace_id=T2)
    events.record("xero", [event("inv-sep")], trace_id=T3)
    events.record("xero", [event("c-1", category="CONTACT")])
    with instance_for_test() as instance:
        first = _tick(instance, resources, None)
        reqs = sorted(first.run_requests, key=lambda r: str(r.partition_key))
        assert [str(r.partition_key) for r in reqs] == ["acme-uk|2026-09-01", "acme-uk|2026-10-01"]
        assert all(r.run_key.startswith("xero-webhook:") for r in reqs)
        assert {r.tags["sync_pipeline/trigger"] for r in reqs} == {"xero_webhook"}
        # each run carries the trace the receiver gave its first event (the change's arrival), not a new one
        assert [r.tags["sync_pipeline/trace_id"] for r in reqs] == [T2, T1]
        assert reqs[1].tags["sync_pipeline/linked_traces"] == T2  # October's second event came in another delivery
        assert _tick(instance, resources, first.cursor).run_requests == []
        # Xero re-delivers an old event: same row, no new run
        events.record("xero", [event("inv-sep")])
        assert _tick(instance, resources, first.cursor).run_requests == []
        # a genuinely new event for the October invoice
        events.record("xero", [event("inv-oct", at="2026-11-21T08:00:00.000")])
        third = _tick(instance, resources, first.cursor)
        assert [str(r.partition_key) for r in third.run_requests] == ["acme-uk|2026-10-01"]
        assert is_trace_id(third.run_requests[0].tags["sync_pipeline/trace_id"])  # stored untraced: a new one
        assert third.run_requests[0].run_key not in {r.run_key for r in reqs}


def test_an_event_overtaking_the_ledger_is_retried_then_given_up(resources):
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings

    store = resources["opstore"].get()
    events = EventStore(store)
    mapping = load_mapping(settings.mapping_path())
    events.record("xero", [event("inv-late")])
    now = datetime.now(UTC)
    early = plan_refreshes(events, mapping, EventCursor(), now=now)
    assert early.refreshes == [] and early.cursor.done == set() and "retried" in early.notes[0]
    _ledger(store, "inv-late")  # the posting run records it a moment later
    later = plan_refreshes(events, mapping, early.cursor, now=now + timedelta(seconds=5))
    assert [(r.entity, r.period) for r in later.refreshes] == [("acme-uk", "2026-10")]
    # an event for a document this pipeline never posted is dropped after the settle window
    events.record("xero", [event("not-ours")])
    gone = plan_refreshes(events, mapping, later.cursor, now=now + timedelta(hours=1))
    assert gone.refreshes == [] and any("not a document this pipeline posted" in n for n in gone.notes)
    assert gone.cursor.floor == max(e.id for e in events.after(0)) and gone.cursor.done == set()


def test_events_of_unknown_tenants_are_ignored(resources):
    store = resources["opstore"].get()
    ev = event("x")
    ev["tenantId"] = "00000000-0000-0000-0000-000000000000"
    EventStore(store).record("xero", [ev])
    with instance_for_test() as instance:
        assert _tick(instance, resources, None).run_requests == []
