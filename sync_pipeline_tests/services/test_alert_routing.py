"""SLO alerts reach real local receivers (HTTP webhook, Slack-style hook, SMTP) once per incident, escalate
when nobody acts, and fire again after the incident cleared."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sync_pipeline.contracts.slo import EventRule, SloConfig
from sync_pipeline.services import slo
from sync_pipeline.services.alert_routing import AlertRouter, Channels, EventSignal
from sync_pipeline.services.alerts import Alert, AlertDeliveryError, SmtpSettings
from sync_pipeline.store.alert_incidents import Incidents, acknowledge, alert_incidents, silence
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.alert_capture import AlertCapture
from sync_pipeline_tests.clock import Clock
from sync_pipeline_tests.smtp_capture import SmtpCapture, free_port

SMTP_PASSWORD = "s3cret-smtp-pw"
CONFIG = SloConfig.model_validate({
    "objectives": {"dead_letter_backlog": {"warn": 0, "breach": 3}},
    "teams": {
        "finance": {"email": ["finance@example.com"], "routes": {"warn": ["slack"],
                                                                  "breach": ["slack", "webhook", "email"]},
                    "escalate_after_minutes": 30, "escalate_to": "platform"},
        "platform": {"email": ["oncall@example.com"], "routes": {"breach": ["email"]}},
    },
    "default_team": "finance",
})


class Receivers:
    def __init__(self, hook: AlertCapture, slack: AlertCapture, smtp: SmtpCapture) -> None:
        self.hook, self.slack, self.smtp = hook, slack, smtp

    def counts(self) -> tuple[int, int, int]:
        return len(self.hook.received), len(self.slack.received), len(self.smtp.messages)


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    with AlertCapture() as hook, AlertCapture() as slack, SmtpCapture(username="alerts", password=SMTP_PASSWORD) as s:
        yield Receivers(hook, slack, s)


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> OperationalStore:
    return OperationalStore(f"sqlite:///{tmp_path_factory.mktemp('alerts') / 'op.sqlite3'}")


@pytest.fixture
def store(module_store: OperationalStore) -> OperationalStore:
    with module_store.engine.begin() as c:
        c.execute(alert_incidents.delete())
    return module_store


@pytest.fixture
def setup(receivers: Receivers, store: OperationalStore):
    for r in (receivers.hook.received, receivers.slack.received, receivers.smtp.messages):
        r.clear()
    clock = Clock()
    channels = Channels(webhook_url=receivers.hook.url, slack_webhook_url=receivers.slack.url + "/T000/B000/XXXX",
                        smtp=SmtpSettings("127.0.0.1", receivers.smtp.port, sender="alerts@example.com",
                                          username="alerts", password=SMTP_PASSWORD, starttls=False))
    router = AlertRouter(CONFIG, channels, Incidents(store), clock=clock)
    yield router, clock, store


def backlog(n: int, entity: str = "acme-uk") -> list[slo.SloResult]:
    return slo.evaluate(CONFIG, [slo.dead_letter_backlog(entity, [{"id": i, "entity": entity} for i in range(n)])])


def test_a_breach_reaches_every_route_once_however_often_it_is_seen(setup, receivers: Receivers) -> None:
    router, clock, _ = setup
    first = router.process(backlog(5))
    for _ in range(5):
        clock.advance(minutes=1)
        assert router.process(backlog(6)) == []
    assert [(d.what, d.team, d.channels) for d in first] == [("opened", "finance", ("slack", "webhook", "email"))]
    assert receivers.counts() == (1, 1, 1)
    hook = receivers.hook.received[0]
    assert hook["kind"] == "slo_breach" and hook["details"]["incident_key"] == "dead_letter_backlog/acme-uk"
    assert hook["severity"] == "error" and hook["details"]["value"] == 5
    slack = receivers.slack.received[0]
    assert slack["text"].startswith("[error] dead_letter_backlog for acme-uk is 5 letters (breach")
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    mail = receivers.smtp.messages[0]
    assert mail["To"] == "finance@example.com" and mail["Subject"].startswith("[sync_pipeline error]")
    assert "alerts" in receivers.smtp.logins


def test_a_warning_goes_to_the_warn_route_and_again_when_it_becomes_a_breach(setup, receivers: Receivers) -> None:
    router, clock, _ = setup
    router.process(backlog(1))
    router.process(backlog(2))
    assert receivers.counts() == (0, 1, 0)
    clock.advance(minutes=5)
    (d,) = router.process(backlog(4))
    assert d.what == "worsened" and receivers.counts() == (1, 2, 1)
    router.process(backlog(1))  # better but still failing: no news
    assert receivers.counts() == (1, 2, 1)


def test_an_unacknowledged_breach_escalates_once_to_the_next_team(setup, receivers: Receivers) -> None:
    router, clock, _ = setup
    router.process(backlog(5))
    clock.advance(minutes=29, seconds=59)
    assert router.process(backlog(5)) == []
    clock.advance(seconds=1)
    (d,) = router.process(backlog(5))
    assert (d.what, d.team, d.channels) == ("escalated", "platform", ("email",))
    mail = receivers.smtp.messages[-1]
    assert mail["To"] == "oncall@example.com" and "escalated from finance" in mail["Subject"]
    clock.advance(hours=5)
    assert router.process(backlog(5)) == []  # the chain ends at platform
    assert receivers.counts() == (1, 1, 2)


def test_an_acknowledged_breach_does_not_escalate(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    router.process(backlog(5))
    acknowledge(store, "dead_letter_backlog/acme-uk", actor="ana", now=clock())
    clock.advance(hours=2)
    assert router.process(backlog(5)) == []
    assert receivers.counts() == (1, 1, 1)


def test_a_cleared_incident_fires_again_and_escalation_starts_over(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    router.process(backlog(5))
    clock.advance(minutes=10)
    assert router.process(backlog(0)) == []
    inc = Incidents(store).get("dead_letter_backlog/acme-uk")
    assert inc is not None and inc.state == "cleared"
    clock.advance(minutes=25)
    (d,) = router.process(backlog(7))
    assert d.what == "opened" and receivers.counts() == (2, 2, 2)
    clock.advance(minutes=29)
    assert router.process(backlog(7)) == []  # 29 min since this incident's breach, not since the first
    inc = Incidents(store).get("dead_letter_backlog/acme-uk")
    assert inc is not None and inc.occurrences == 2 and inc.escalation_level == 0


def test_incidents_are_per_objective_and_entity(setup, receivers: Receivers) -> None:
    router, _, _ = setup
    router.process(backlog(5, "acme-uk") + backlog(5, "acme-us"))
    router.process(backlog(5, "acme-uk") + backlog(5, "acme-us"))
    assert receivers.counts() == (2, 2, 2)


def test_a_silenced_key_sends_nothing_until_the_silence_ends(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    silence(store, "dead_letter_backlog/acme-uk", minutes=60, actor="ana", now=clock())
    router.process(backlog(5))
    clock.advance(minutes=59)
    router.process(backlog(5))
    assert receivers.counts() == (0, 0, 0)
    clock.advance(minutes=1)
    (d,) = router.process(backlog(5))
    assert d.what == "opened" and receivers.counts() == (1, 1, 1)


def test_a_failed_delivery_is_retried_and_leaks_no_secret(store: OperationalStore, receivers: Receivers,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with AlertCapture(status=500) as broken:
        secret_path = "/T000/B000/very-secret-token"
        channels = Channels(webhook_url=receivers.hook.url, slack_webhook_url=broken.url + secret_path,
                            smtp=SmtpSettings("127.0.0.1", free_port(), username="alerts",
                                              password=SMTP_PASSWORD, starttls=False))  # nobody listens
        router = AlertRouter(CONFIG, channels, Incidents(store), clock=clock)
        with caplog.at_level(logging.DEBUG), pytest.raises(AlertDeliveryError) as e:
            router.process(backlog(5))
        assert len(broken.received) == 1
        with pytest.raises(AlertDeliveryError):
            router.process(backlog(5))  # not marked sent: tried again
        assert len(broken.received) == 2
    text = str(e.value) + caplog.text
    assert "HTTP 500" in text and "SMTP 127.0.0.1" in text
    assert "very-secret-token" not in text and SMTP_PASSWORD not in text


def test_an_unconfigured_route_goes_to_the_log_with_the_variable_to_set(store: OperationalStore,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    router = AlertRouter(CONFIG, Channels(), Incidents(store), clock=Clock())
    with caplog.at_level(logging.WARNING, logger="sync_pipeline.alerts"):
        (d,) = router.process(backlog(5))
    assert d.channels == ()
    assert "set SYNC_PIPELINE_SLACK_WEBHOOK_URL" in caplog.text and "ALERT slo_breach" in caplog.text


# -- event alerts of the other sensors: the same routes, one alert per incident --------------------------------
def failure(entity: str = "acme-uk", n: int = 1, severity: str = "error") -> EventSignal:
    return EventSignal("run_failure", entity, Alert(kind="run_failure", severity=severity,
                                                    summary=f"run {n} of sync_job failed for {entity}",
                                                    details={"run_id": f"run-{n}"}, action="re-execute"))


def test_an_event_storm_is_one_alert_on_the_breach_route(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    (d,) = router.events([failure(n=1)])
    assert (d.incident_key, d.what, d.channels) == ("run_failure/acme-uk", "opened", ("slack", "webhook", "email"))
    for n in range(2, 21):
        clock.advance(seconds=30)
        assert router.events([failure(n=n)]) == []
    assert receivers.counts() == (1, 1, 1)
    hook = receivers.hook.received[0]
    assert hook["kind"] == "run_failure" and hook["severity"] == "error"
    assert hook["details"]["incident_key"] == "run_failure/acme-uk" and hook["details"]["run_id"] == "run-1"
    assert "alerts ack run_failure/acme-uk" in hook["action"] and hook["action"].startswith("re-execute; ")
    inc = Incidents(store).get("run_failure/acme-uk")
    assert (inc.state, inc.value, inc.summary) == ("open", "20", "run 20 of sync_job failed for acme-uk")


def test_an_unacknowledged_event_breach_escalates_on_follow_up(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    router.events([failure()])
    clock.advance(minutes=29)
    assert router.follow_up() == []
    clock.advance(minutes=1)
    (d,) = router.follow_up()
    assert (d.what, d.team, d.channels) == ("escalated", "platform", ("email",))
    mail = receivers.smtp.messages[-1]
    assert mail["To"] == "oncall@example.com" and "escalated from finance" in mail["Subject"]
    clock.advance(minutes=20)
    assert router.follow_up() == [] and receivers.counts() == (1, 1, 2)


def test_an_acknowledged_event_does_not_escalate(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    router.events([failure()])
    acknowledge(store, "run_failure/acme-uk", actor="ana", now=clock())
    clock.advance(minutes=45)
    assert router.follow_up() == [] and receivers.counts() == (1, 1, 1)


def test_an_event_incident_clears_when_its_cause_is_gone_or_after_a_quiet_hour(setup, receivers: Receivers) -> None:
    router, clock, store = setup
    router.events([failure()])
    router.events([EventSignal("run_failure", "acme-uk")])  # the sensor saw the cause gone
    assert Incidents(store).get("run_failure/acme-uk").state == "cleared"
    router.events([failure(n=2)])  # a new incident: alerted again
    assert receivers.counts() == (2, 2, 2)
    clock.advance(minutes=59)
    router.events([failure(n=3)])  # the storm goes on: the quiet hour starts over
    clock.advance(minutes=59)
    router.follow_up()
    assert Incidents(store).get("run_failure/acme-uk").state == "open"
    clock.advance(minutes=1)
    router.follow_up()
    inc = Incidents(store).get("run_failure/acme-uk")
    assert inc.state == "cleared" and inc.occurrences == 2


def test_the_slo_file_sets_an_event_kinds_severity_or_turns_it_off(store: OperationalStore, receivers: Receivers,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    for r in (receivers.hook.received, receivers.slack.received, receivers.smtp.messages):
        r.clear()
    config = CONFIG.model_copy(update={"events": {"run_failure": EventRule(severity="warn"),
                                                  "dead_letters": EventRule(enabled=False)}})
    channels = Channels(webhook_url=receivers.hook.url, slack_webhook_url=receivers.slack.url)
    router = AlertRouter(config, channels, Incidents(store), clock=Clock())
    (d,) = router.events([failure()])
    assert d.channels == ("slack",)  # finance's warn route
    with caplog.at_level(logging.INFO, logger="sync_pipeline.alerts"):
        assert router.events([EventSignal("dead_letters", "acme-uk",
                                          Alert(kind="dead_letters", summary="3 new dead letters"))]) == []
    assert "ALERT dead_letters: 3 new dead letters" in caplog.text and receivers.counts() == (0, 1, 0)
    with pytest.raises(ValueError, match="event kind 'disk_full'"):
        EventSignal("disk_full", "acme-uk")
