"""Alert sensors: run failures and reconciliation check failures reach the log and the webhook URL."""

import pytest
from dagster import (
    AssetCheckResult,
    DagsterRunStatus,
    Definitions,
    SkipReason,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
    job,
    materialize,
    op,
)

from sync_pipeline.defs.monitoring.sensors import (
    dead_letter_growth_alert,
    reconciliation_mismatch_alert,
    run_failure_alert,
)
from sync_pipeline.defs.resources import NotifierResource
from sync_pipeline.services.alerts import AlertDeliveryError
from sync_pipeline_tests.alert_capture import AlertCapture


@op
def extract_step():
    raise ValueError("Harvest said 401: the access token expired")


@job
def failing_job():
    extract_step()


def test_run_failure_alert_names_the_failed_step(caplog):
    with instance_for_test() as instance, AlertCapture() as capture:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False,
                                                tags={"dagster/partition": "acme-uk|2026-10-01"})
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"][0]
        ctx = build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=run, dagster_event=failure,
            resources={"notifier": NotifierResource(webhook_url=capture.url)},
        ).for_run_failure()
        assert run.status == DagsterRunStatus.FAILURE
        with caplog.at_level("ERROR", logger="sync_pipeline.alerts"):
            run_failure_alert(ctx)
        [alert] = capture.received
        assert alert["kind"] == "run_failure" and "acme-uk|2026-10-01" in alert["summary"]
        assert alert["details"]["failed_steps"][0]["step"] == "extract_step"
        assert "access token expired" in alert["details"]["failed_steps"][0]["error"]
        assert "ALERT run_failure" in caplog.text


@asset(group_name="reconciliation")
def toy_reconciliation():
    return 1


STATE = {"pass": True}


@asset_check(asset=toy_reconciliation)
def toy_totals_match():
    return AssetCheckResult(passed=STATE["pass"], metadata={"exceptions": 0 if STATE["pass"] else 2})


def test_reconciliation_mismatch_alerts_once_per_new_failure():
    defs = Definitions(assets=[toy_reconciliation], asset_checks=[toy_totals_match])
    with instance_for_test() as instance, AlertCapture() as capture:
        resources = {"notifier": NotifierResource(webhook_url=capture.url)}

        def pin():
            # Dagster 1.13 leaves the defs-state storage of a dropped instance in the context (a sensor invoked
            # directly that skips does); whether its weakref is dead by the next call depends on the garbage
            # collector ("Attempted to resolve undefined DagsterInstance weakref"): pin this test's instance
            from dagster._core.storage.defs_state.base import _current_storage

            _current_storage.set(instance.defs_state_storage)

        def tick(cursor):
            pin()
            ctx = build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=resources)
            out = reconciliation_mismatch_alert(ctx)
            return out, ctx.cursor

        def run(**kw):
            pin()
            materialize([toy_reconciliation, toy_totals_match], instance=instance, **kw)

        STATE["pass"] = False
        run(raise_on_error=False)
        _, cur = tick(None)  # first look: history is not replayed
        assert capture.received == []
        run(raise_on_error=False)
        _, cur = tick(cur)
        assert [a["kind"] for a in capture.received] == ["reconciliation_mismatch"]
        assert capture.received[0]["details"]["metadata"]["exceptions"] == "2"
        out, cur = tick(cur)  # nothing new
        assert isinstance(out, SkipReason) and len(capture.received) == 1
        STATE["pass"] = True
        run()
        tick(cur)
        assert len(capture.received) == 1


def test_an_alert_that_cannot_be_delivered_fails_the_tick():
    with instance_for_test() as instance, AlertCapture(status=500) as capture:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"][0]
        ctx = build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure,
            resources={"notifier": NotifierResource(webhook_url=capture.url)},
        ).for_run_failure()
        with pytest.raises(AlertDeliveryError, match="HTTP 500"):
            run_failure_alert(ctx)


def test_dead_letter_growth_alerts_on_new_letters_only(resources):
    from sync_pipeline.store.dead_letters import DeadLetters

    letters = DeadLetters(resources["opstore"].get())

    def park(key, entity="acme-uk"):
        return letters.park(entity=entity, period="2026-10", doc_key=key, kind="invoice", operation="create",
                            error="ValidationException: Account code '999' is not a valid code", reference=f"SP-{key}")

    park("inv_a")
    with instance_for_test() as instance, AlertCapture() as capture:
        res = {**resources, "notifier": NotifierResource(webhook_url=capture.url)}

        def tick(cursor):
            with build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
                return dead_letter_growth_alert(ctx)

        first = tick(None)  # first look: the open backlog is reported once
        assert [a["summary"] for a in capture.received] == ["1 open dead letters (backlog at first look): acme-uk 1"]
        quiet = tick(first.cursor)
        assert len(capture.received) == 1
        park("inv_b")
        park("inv_c", entity="acme-ie")
        park("inv_a")  # the same refusal again is another attempt on the open letter, not growth
        grew = tick(quiet.cursor)
        assert len(capture.received) == 2
        alert = capture.received[1]
        assert alert["kind"] == "dead_letters" and alert["details"]["per_entity"] == {"acme-ie": 1, "acme-uk": 1}
        assert alert["details"]["open_total"] == 3 and "dlq replay" in alert["action"]
        tick(grew.cursor)
        assert len(capture.received) == 2


def test_audit_trail_alert_checks_new_events_and_alerts_on_tampering(resources):
    from sync_pipeline.defs.monitoring.sensors import audit_trail_alert
    from sync_pipeline.store import audit

    store = resources["opstore"].get()
    for i in range(3):
        audit.append(store, actor="olivia", action="posting_paused", entity="acme-uk", detail={"i": i})
    with instance_for_test() as instance, AlertCapture() as capture:
        res = {**resources, "notifier": NotifierResource(webhook_url=capture.url)}

        def tick(cursor):
            with build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
                return audit_trail_alert(ctx)

        first = tick(None)
        assert '"decisions": [3,' in first.cursor and capture.received == []
        assert isinstance(tick(first.cursor), SkipReason)  # nothing new
        with store.engine.begin() as c:  # the owner, triggers dropped, rewrites the last checked event
            c.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            c.exec_driver_sql("UPDATE audit_events SET actor = 'admin' WHERE stream = 'decisions' AND seq = 3")
        audit.append(store, actor="olivia", action="posting_resumed", entity="acme-uk")
        alarmed = tick(first.cursor)
        assert alarmed.cursor == first.cursor
        (alert,) = capture.received
        assert alert["kind"] == "audit_trail_tampered" and alert["severity"] == "critical"
        assert "decisions seq 3" in alert["summary"] and "changed since" in alert["summary"]
