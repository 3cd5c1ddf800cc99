"""End to end with the sandbox as the sender: a sync posts invoices, the sandbox Xero delivers signed INVOICE
events (intent to receive first; some batches twice, some out of order) to the receiver, and the webhook
sensor turns them into exactly one refresh run of the partition."""

from dagster import build_sensor_context, instance_for_test

from sync_pipeline.defs.automation.sensors import xero_webhook_events
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.domain.tracing import TRACE_TAG, is_trace_id
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.trace import trace
from sync_pipeline.store.events import EventStore
from sync_pipeline.webhooks.server import WebhookServer
from sync_pipeline.webhooks.xero import XeroWebhookApp


def test_sandbox_deliveries_with_duplicates_and_reordering_make_one_refresh(sandboxes, resources, instance, standing_approval):
    store = resources["opstore"].get()
    key = "k" * 88
    app = XeroWebhookApp(EventStore(store), key)
    with WebhookServer(app) as receiver:
        url = f"{receiver.url}/webhooks/xero"
        sub = sandboxes.xero.webhooks.subscribe(url, key, ["INVOICE"])
        assert sub.status == "OK", sub.detail  # intent to receive passed: right signature 200, wrong 401
        assert app.stats["rejected"] >= 1
        sandboxes.xero.faults.add("duplicate", path="webhooks/xero", times=-1)
        sandboxes.xero.faults.add("out_of_order", path="webhooks/xero", times=1)

        job = build_defs(resources).resolve_job_def("sync_job")
        assert job.execute_in_process(instance=instance, partition_key=partition_key(
            demo_data.DEMO_ENTITY, demo_data.DEMO_PERIOD)).success
        assert sandboxes.xero.webhooks.flush(timeout=20)

    events = EventStore(store).after(0)
    invoices = {d["InvoiceID"] for d in sandboxes.xero.all("Invoices", demo_data.XERO_TENANT_ID)}
    assert {e.resource_id for e in events} == invoices  # every posted invoice's events arrived ...
    assert len({e.event_key for e in events}) == len(events)  # ... each stored once
    assert any(e.deliveries > 1 for e in events)  # although delivered more than once
    assert app.stats["events_duplicate"] >= 1

    used = {k: resources[k] for k in ("opstore", "mapping")}  # what the sensor uses
    with instance_for_test() as inst:
        res = xero_webhook_events(build_sensor_context(instance=inst, resources=used))
        assert [str(r.partition_key) for r in res.run_requests] == ["acme-uk|2026-10-01"]
        again = xero_webhook_events(build_sensor_context(instance=inst, cursor=res.cursor, resources=used))
        assert again.run_requests == []

    # the trace starts at the receiver: the run carries the first delivery's trace id; the trail of an invoice
    # lists the changes received about it, each with the trace it arrived under
    first = min(events, key=lambda e: e.id)
    assert is_trace_id(first.trace_id) and res.run_requests[0].tags[TRACE_TAG] == first.trace_id
    t = trace(store, resources["warehouse"].get(), first.resource_id, kind="invoice")
    [inv] = t.invoices
    assert [c["trace_id"] for c in inv["changes_received"]] == [e.trace_id for e in events
                                                                if e.resource_id == first.resource_id]
    assert inv["changes_received"][0]["event"] == "INVOICE CREATE" and first.trace_id in t.trace_ids
