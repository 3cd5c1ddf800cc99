"""The heartbeat: a probe pushed through the sandbox arrives on the draft invoice; a missing one alerts."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dagster import SkipReason, build_sensor_context, instance_for_test

from sync_pipeline.defs.definitions import build_defs
from sync_pipeline.defs.monitoring.sensors import heartbeat
from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.resources import HeartbeatResource, SloResource
from sync_pipeline.domain.periods import Period, today_in
from sync_pipeline.sandbox import demo_data
from sync_pipeline.services.heartbeat import HeartbeatState
from sync_pipeline.store.alert_incidents import Incidents
from sync_pipeline_tests.alert_capture import AlertCapture


def test_unconfigured_heartbeat_skips(resources):
    with instance_for_test() as inst:
        with build_sensor_context(instance=inst, resources={**resources, "heartbeat_probe": HeartbeatResource()}) as ctx:
            assert isinstance(heartbeat(ctx), SkipReason)


def test_probe_arrives_through_a_sync_and_a_lost_probe_alerts(sandboxes, resources, instance, standing_approval,
                                                             tmp_path):
    today = today_in("Europe/London", datetime.now(UTC))
    period = Period.of(today)
    # the probe entry: client 1 bills nothing else in the current period of the demo data
    doc = demo_data.time_entry_doc((9001, 1, 11, 1, today.isoformat(), "1.0", True, "120", True, "probe"))
    sandboxes.harvest.upsert_many("time_entries", demo_data.HARVEST_ACCOUNT_ID, [doc])
    probe_cfg = HeartbeatResource(entity=demo_data.DEMO_ENTITY, entry_id="9001", client_id="1", deadline_seconds=900)
    with instance_for_test() as inst, AlertCapture() as capture:
        (tmp_path / "slo.yaml").write_text("teams: {ops: {routes: {breach: [webhook]}}}\ndefault_team: ops\n")
        slo = SloResource(path=str(tmp_path / "slo.yaml"), webhook_url=capture.url)
        res = {**resources, "heartbeat_probe": probe_cfg, "slo": slo}

        def tick(cursor):  # a context manager: Xero's resource sets up and tears down
            with build_sensor_context(instance=inst, cursor=cursor, resources=res) as ctx:
                heartbeat(ctx)
                return ctx.cursor

        c1 = tick(None)
        first = HeartbeatState.from_json(c1).probe
        assert first.hours == "0.25"
        entry = sandboxes.harvest.store.get("time_entries", demo_data.HARVEST_ACCOUNT_ID, "9001")
        assert str(entry["hours"]) in ("0.25", "0.250") and "heartbeat probe" in entry["notes"]
        assert capture.received == []

        # what the change-feed sensor's run does: sync the current period (posts the draft invoice)
        job = build_defs(resources).resolve_job_def("sync_job")
        assert job.execute_in_process(instance=instance,
                                      partition_key=partition_key(demo_data.DEMO_ENTITY, period)).success
        c2 = tick(c1)
        state = HeartbeatState.from_json(c2)
        assert state.arrived_count == 1 and state.last_latency_s is not None
        assert state.probe.hours == "0.50"  # the next probe is a real change again
        facts = Incidents(resources["opstore"].get())  # what the heartbeat_age objective reads
        assert facts.noted("heartbeat_last_arrived", demo_data.DEMO_ENTITY) is not None
        assert facts.noted("heartbeat_first_sent", demo_data.DEMO_ENTITY) is not None
        assert capture.received == []

        # nothing syncs this probe: the cursor as a tick 1000 s later sees it (past the 900 s deadline, short of
        # the 2700 s after which a fresh probe is sent) — no sleep, whatever the machine's load
        late = HeartbeatState.from_json(c2)
        sent = datetime.fromisoformat(late.probe.sent_at.replace("Z", "+00:00")) - timedelta(seconds=1000)
        late.probe = replace(late.probe, sent_at=sent.strftime("%Y-%m-%dT%H:%M:%SZ"))
        c3 = tick(late.to_json())
        c4 = tick(c3)
        assert [a["kind"] for a in capture.received] == ["heartbeat_missing"]
        assert capture.received[0]["severity"] == "critical"
        assert capture.received[0]["details"]["age_s"] >= 1000 and capture.received[0]["details"]["deadline_s"] == 900
        assert capture.received[0]["details"]["incident_key"] == f"heartbeat_missing/{demo_data.DEMO_ENTITY}"
        assert HeartbeatState.from_json(c4).alerted
        assert facts.get(f"heartbeat_missing/{demo_data.DEMO_ENTITY}").state == "open"
