"""Alert sensors: run failures, reconciliation check failures, dead letters and a tampered audit trail travel the
SLO file's routes by severity (webhook, Slack-compatible hook, SMTP email), one alert per incident."""

import textwrap

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
from sync_pipeline.defs.resources import OperationalStoreResource, SloResource
from sync_pipeline.services.alerts import AlertDeliveryError
from sync_pipeline.store.alert_incidents import Incidents
from sync_pipeline_tests.alert_capture import AlertCapture
from sync_pipeline_tests.smtp_capture import SmtpCapture

ROUTES = textwrap.dedent("""
    teams:
      finance:
        email: [finance@example.com]
        routes: {warn: [slack], breach: [webhook, slack, email]}
    default_team: finance
""")


@pytest.fixture
def routed(tmp_path):
    """The sensors' routing resources: a team whose breach route is the webhook, a Slack-style hook and email,
    each a real local receiver; its own operational store."""
    (tmp_path / "slo.yaml").write_text(ROUTES, encoding="utf-8")
    with AlertCapture() as hook, AlertCapture() as slack, SmtpCapture() as smtp:
        slo = SloResource(path=str(tmp_path / "slo.yaml"), webhook_url=hook.url, slack_webhook_url=slack.url,
                          smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False)
        yield {"slo": slo, "opstore": OperationalStoreResource(url=f"sqlite:///{tmp_path / 'op.sqlite3'}"),
               "hook": hook, "slack": slack, "smtp": smtp}


def _res(routed):
    return {"slo": routed["slo"], "opstore": routed["opstore"]}


@op
def extract_step():
    raise ValueError("Harvest said 401: the access token expired")


@job
def failing_job():
    extract_step()


def _fail_and_tick(instance, resources, tags=None):
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False,
                                            tags={"dagster/partition": "acme-uk|2026-10-01", **(tags or {})})
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"][0]
    ctx = build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=run, dagster_event=failure,
        resources=resources).for_run_failure()
    run_failure_alert(ctx)


def test_run_failures_go_to_every_breach_route_once_per_incident(caplog, routed):
    with instance_for_test() as instance:
        with caplog.at_level("ERROR", logger="sync_pipeline.alerts"):
            _fail_and_tick(instance, _res(routed), tags={"sync_pipeline/ticket": "a-run-ticket-never-sent"})
        for _ in range(2):  # the same entity fails again while its incident is open: no new alert
            _fail_and_tick(instance, _res(routed))
    [alert] = routed["hook"].received
    assert alert["kind"] == "run_failure" and "acme-uk|2026-10-01" in alert["summary"]
    assert alert["details"]["incident_key"] == "run_failure/acme-uk"
    assert alert["details"]["failed_steps"][0]["step"] == "extract_step"
    assert "access token expired" in alert["details"]["failed_steps"][0]["error"]
    assert "sync_pipeline/ticket" not in alert["details"]["tags"]  # a run's ticket is a credential
    assert "ALERT run_failure" in caplog.text
    assert len(routed["slack"].received) == 1 and routed["slack"].received[0]["text"].startswith("[error] run ")
    [mail] = routed["smtp"].messages
    assert mail["To"] == "finance@example.com" and "acme-uk|2026-10-01" in mail["Subject"]
    inc = Incidents(routed["opstore"].get()).get("run_failure/acme-uk")
    assert (inc.state, inc.value, inc.team) == ("open", "3", "finance")


@asset(group_name="reconciliation")
def toy_reconciliation():
    return 1


STATE = {"pass": True}


@asset_check(asset=toy_reconciliation)
def toy_totals_match():
    return AssetCheckResult(passed=STATE["pass"], metadata={"exceptions": 0 if STATE["pass"] else 2})


def test_reconciliation_mismatch_alerts_once_per_incident(routed):
    defs = Definitions(assets=[toy_reconciliation], asset_checks=[toy_totals_match])
    capture = routed["hook"]
    with instance_for_test() as instance:
        resources = _res(routed)

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
        assert capture.received[0]["details"]["incident_key"] == "reconciliation_mismatch/all"  # unpartitioned
        out, cur = tick(cur)  # nothing new
        assert isinstance(out, SkipReason) and len(capture.received) == 1
        run(raise_on_error=False)  # fails again while the incident is open: counted, not sent
        out, cur = tick(cur)
        assert "1 new failed check(s)" in out.skip_message and len(capture.received) == 1
        STATE["pass"] = True
        run()
        tick(cur)
        assert len(capture.received) == 1


def test_an_alert_that_cannot_be_delivered_fails_the_tick(routed):
    with instance_for_test() as instance, AlertCapture(status=500) as broken:
        res = {**_res(routed), "slo": SloResource(path=routed["slo"].path, webhook_url=broken.url)}
        with pytest.raises(AlertDeliveryError, match="HTTP 500"):
            _fail_and_tick(instance, res)
        with pytest.raises(AlertDeliveryError, match="HTTP 500"):  # not marked sent: the next failure tries again
            _fail_and_tick(instance, res)
        assert len(broken.received) == 2


def test_dead_letter_growth_alerts_once_per_entity_until_its_letters_are_gone(routed):
    from sync_pipeline.store.dead_letters import DeadLetters

    letters = DeadLetters(routed["opstore"].get())

    def park(key, entity="acme-uk"):
        return letters.park(entity=entity, period="2026-10", doc_key=key, kind="invoice", operation="create",
                            error="ValidationException: Account code '999' is not a valid code", reference=f"SP-{key}")

    park("inv_a")
    capture = routed["hook"]
    with instance_for_test() as instance:
        def tick(cursor):
            with build_sensor_context(instance=instance, cursor=cursor, resources=_res(routed)) as ctx:
                return dead_letter_growth_alert(ctx)

        first = tick(None)  # first look: the open backlog is reported once
        assert [a["summary"] for a in capture.received] == ["1 open dead letters (backlog at first look): acme-uk 1"]
        quiet = tick(first.cursor)
        assert len(capture.received) == 1
        park("inv_b")
        park("inv_c", entity="acme-ie")
        park("inv_a")  # the same refusal again is another attempt on the open letter, not growth
        grew = tick(quiet.cursor)
        assert len(capture.received) == 2  # acme-uk's incident is open: counted; acme-ie's is new
        alert = capture.received[1]
        assert alert["kind"] == "dead_letters" and alert["details"]["per_entity"] == {"acme-ie": 1}
        assert alert["details"]["incident_key"] == "dead_letters/acme-ie"
        assert alert["details"]["open_total"] == 1 and "dlq replay" in alert["action"]
        assert len(routed["slack"].received) == 2 and len(routed["smtp"].messages) == 2
        tick(grew.cursor)
        assert len(capture.received) == 2
        incidents = Incidents(routed["opstore"].get())
        assert incidents.get("dead_letters/acme-uk").value == "2"
        for x in letters.open_for("acme-ie"):  # acme-ie's letter discarded: its incident clears
            letters.discard(x["id"], actor="olivia", note="billed by hand")
        tick(grew.cursor)
        assert incidents.get("dead_letters/acme-ie").state == "cleared"
        assert incidents.get("dead_letters/acme-uk").state == "open"


def test_audit_trail_alert_checks_new_events_and_alerts_on_tampering(routed):
    from sync_pipeline.defs.monitoring.sensors import audit_trail_alert
    from sync_pipeline.store import audit

    store = routed["opstore"].get()
    for i in range(3):
        audit.append(store, actor="olivia", action="posting_paused", entity="acme-uk", detail={"i": i})
    capture = routed["hook"]
    with instance_for_test() as instance:
        res = _res(routed)

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
        tick(alarmed.cursor)  # still broken: the incident stays open, no second alert
        (alert,) = capture.received
        assert alert["kind"] == "audit_trail_tampered" and alert["severity"] == "critical"
        assert "decisions seq 3" in alert["summary"] and "changed since" in alert["summary"]
        assert alert["details"]["incident_key"] == "audit_trail_tampered/all" and len(routed["smtp"].messages) == 1


def test_a_broken_slo_file_does_not_silence_a_failed_run(routed, tmp_path, caplog):
    (tmp_path / "broken.yaml").write_text("teams: {operations: {routes: {breach: [pager]}}}\n", encoding="utf-8")
    res = {**_res(routed), "slo": SloResource(path=str(tmp_path / "broken.yaml"), webhook_url=routed["hook"].url)}
    with instance_for_test() as instance, caplog.at_level("ERROR", logger="sync_pipeline.alerts"):
        _fail_and_tick(instance, res)
    assert [a["kind"] for a in routed["hook"].received] == ["run_failure"]  # the default route: the webhook
    assert "unknown channel(s) ['pager']" in caplog.text and "default routes until it is fixed" in caplog.text
