"""End to end with the sandbox as the sender: a sync posts invoices, the sandbox Xero delivers signed INVOICE
events (intent to receive first; some batches twice, some out of order) to the receiver, and the webhook
sensor turns them into exactly one refresh run of the partition."""

from dagster import build_sensor_context, instance_for_test

from sync_pipeline.defs.automation.sensors import xero_webhook_events
from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.sandbox import demo_data
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

    resources = {k: resources[k] for k in ("opstore", "mapping")}  # what the sensor uses
    with instance_for_test() as inst:
        res = xero_webhook_events(build_sensor_context(instance=inst, resources=resources))
        assert [str(r.partition_key) for r in res.run_requests] == ["acme-uk|2026-10-01"]
        again = xero_webhook_events(build_sensor_context(instance=inst, cursor=res.cursor, resources=resources))
        assert again.run_requests == []
