"""SLO alerts routed by severity, one per incident, escalated when nobody acts.

``AlertRouter.process(results)`` takes the judged objectives (``services.slo.evaluate``) and, per incident key
``objective/entity``:

- opens an incident when the objective first fails and sends it to the owning team's route for its severity
  (``warn`` or ``breach``: a list of channels — ``webhook``, ``slack``, ``email``);
- sends nothing more while it stays open at that severity (alert storms become one alert), once more if it
  worsens from warn to breach;
- escalates a breach nobody acknowledged or cleared within the team's ``escalate_after_minutes`` (counted from
  when the owning team was told of the breach) to the team's ``escalate_to`` (that team's breach route), and on along the chain;
- clears it when the objective passes again, so the next failure is a new incident and alerts again;
- sends nothing while the incident is silenced (``silenced_until``), and stops escalating once acknowledged.

The event alerts of the other sensors (a failed run, new dead letters, a failed reconciliation check, a missing
heartbeat, a tampered audit trail) travel the same way through ``AlertRouter.events``: the incident key is
``kind/entity`` (``all`` when the event names no entity), the severity the alert's (``warning`` → warn, else breach;
the SLO file's ``events`` section may change it or turn a kind off), a storm of events while the incident is open is
one alert (the occurrences counted), and the incident clears when the sensor sees the cause gone or after
``events_clear_after_minutes`` without a new occurrence (``AlertRouter.follow_up``, which also escalates).

The state lives in the operational store (``store.alert_incidents``). A delivery that fails is not marked
sent, so the next evaluation tries again; the error is raised after every other incident was handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_pipeline.contracts.slo import EVENT_KINDS, SloConfig, Team
from sync_pipeline.services.alerts import (
    Alert,
    AlertDeliveryError,
    EmailNotifier,
    LogNotifier,
    Notifier,
    SlackNotifier,
    SmtpSettings,
    WebhookNotifier,
)
from sync_pipeline.services.slo import SloResult
from sync_pipeline.store.alert_incidents import Incident, Incidents

log = logging.getLogger("sync_pipeline.alerts")

_RANK = {"warn": 1, "breach": 2}
_ALERT_SEVERITY = {"warn": "warning", "breach": "error"}


@dataclass
class Channels:
    """The configured delivery channels; a channel left unset is skipped with a warning in the log."""

    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    smtp: SmtpSettings | None = None
    timeout: float = 10.0
    _cache: dict[str, Notifier] = field(default_factory=dict, repr=False)

    def notifier(self, channel: str, team: Team) -> Notifier | None:
        if channel == "webhook" and self.webhook_url:
            return self._cache.setdefault("webhook", WebhookNotifier(self.webhook_url, timeout=self.timeout))
        if channel == "slack" and self.slack_webhook_url:
            return self._cache.setdefault("slack", SlackNotifier(self.slack_webhook_url, timeout=self.timeout))
        if channel == "email" and self.smtp is not None and team.email:
            return EmailNotifier(self.smtp, team.email)
        return None


UNSET_HINT = {"webhook": "SYNC_PIPELINE_ALERT_WEBHOOK_URL", "slack": "SYNC_PIPELINE_SLACK_WEBHOOK_URL",
              "email": "SYNC_PIPELINE_SMTP_HOST"}


@dataclass(frozen=True)
class EventSignal:
    """What an event sensor saw for one ``kind/entity``: an alert to route, or ``alert=None`` when the cause is
    gone (the open incident clears)."""

    kind: str
    entity: str
    alert: Alert | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind!r} is not one of {', '.join(EVENT_KINDS)}")

    @property
    def incident_key(self) -> str:
        return f"{self.kind}/{self.entity or 'all'}"


@dataclass(frozen=True)
class Delivery:
    incident_key: str
    what: str  # opened | worsened | escalated
    team: str
    channels: tuple[str, ...]


class AlertRouter:
    def __init__(self, config: SloConfig, channels: Channels, incidents: Incidents,
                 clock: Callable[[], datetime] | None = None, logger: logging.Logger | None = None) -> None:
        self.config = config
        self.channels = channels
        self.incidents = incidents
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log = LogNotifier(logger or log)

    def process(self, results: Iterable[SloResult]) -> list[Delivery]:
        return self._each(results, self._one)

    def _each(self, items: Iterable[Any], route: Callable[[Any, datetime], list[Delivery]]) -> list[Delivery]:
        """``route`` each item at one instant; a failed delivery does not stop the others, all failures raised
        together at the end."""
        now = self.clock()
        sent: list[Delivery] = []
        errors: list[str] = []
        for item in items:
            try:
                sent.extend(route(item, now))
            except AlertDeliveryError as e:
                errors.append(str(e))
        if errors:
            raise AlertDeliveryError("; ".join(errors))
        return sent

    def _notify_open(self, inc: Incident, now: datetime, make: Callable[[str, bool], Alert]) -> list[Delivery]:
        """Notify and escalate an open incident unless it is silenced; the incident is saved whatever happens."""
        out: list[Delivery] = []
        try:
            if not inc.silenced(now):
                out.extend(self._notify(inc, now, make))
                out.extend(self._escalate(inc, now, make))
        finally:
            self.incidents.save(inc)
        return out

    def _one(self, r: SloResult, now: datetime) -> list[Delivery]:
        inc = self.incidents.get(r.incident_key)
        if r.status == "ok":
            if inc is not None and inc.state == "open":
                self._clear(inc, now, r.describe())
            return []
        if not r.failing:  # no data: leave the incident as it is
            return []
        inc = self._open_or_update(inc, r, now)

        def make(team: str, escalated: bool) -> Alert:
            return self._alert(inc, r, now, team, escalated=escalated)

        return self._notify_open(inc, now, make)

    # -- event alerts (the other sensors) -------------------------------------------------------------------
    def events(self, signals: Iterable[EventSignal]) -> list[Delivery]:
        """Route what the event sensors saw: open, de-duplicate, escalate or clear one incident per key."""
        return self._each(signals, self._event)

    def _event(self, s: EventSignal, now: datetime) -> list[Delivery]:
        inc = self.incidents.get(s.incident_key)
        if s.alert is None:
            if inc is not None and inc.state == "open":
                self._clear(inc, now, "the cause is gone")
            return []
        rule = self.config.event_rule(s.kind)
        if not rule.enabled:
            self.log.send(s.alert)  # turned off in the SLO file: the log only
            return []
        status = rule.severity or ("warn" if s.alert.severity in ("info", "warning") else "breach")
        at = now.isoformat()
        if inc is None or inc.state == "cleared":
            inc = Incident(incident_key=s.incident_key, objective=s.kind, entity=s.entity or "all",
                           team=self.config.team_of(s.entity), state="open", severity=status, opened_at=at,
                           value="1", summary=s.alert.summary, breach_at=at if status == "breach" else None,
                           occurrences=(inc.occurrences + 1) if inc is not None else 1,
                           silenced_until=inc.silenced_until if inc is not None else None, updated_at=at)
        else:  # the storm: counted, not sent again
            if _RANK[status] > _RANK[inc.severity]:
                inc.severity, inc.breach_at = status, inc.breach_at or at
            inc.value, inc.summary, inc.updated_at = str(int(inc.value or 0) + 1), s.alert.summary, at
        alert = s.alert

        def make(team: str, escalated: bool) -> Alert:
            return self._event_alert(inc, alert, now, team, escalated=escalated)

        return self._notify_open(inc, now, make)

    def follow_up(self) -> list[Delivery]:
        """For the open event incidents no new event touched: escalate those whose time came, clear those quiet
        for ``events_clear_after_minutes``. Called on every tick of the alerting sensors."""
        now = self.clock()
        quiet = timedelta(minutes=self.config.events_clear_after_minutes)
        out: list[Delivery] = []
        errors: list[str] = []
        for inc in self.incidents.list(state="open"):
            if inc.objective not in EVENT_KINDS:
                continue
            if now - datetime.fromisoformat(inc.updated_at) >= quiet:
                self._clear(inc, now, f"no new {inc.objective} for {self.config.events_clear_after_minutes} min")
                continue
            if inc.silenced(now):
                continue

            def make(team: str, escalated: bool, inc: Incident = inc) -> Alert:
                return self._event_alert(inc, Alert(kind=inc.objective, summary=inc.summary or inc.incident_key),
                                         now, team, escalated=escalated)

            try:
                out.extend(self._escalate(inc, now, make))
            except AlertDeliveryError as e:
                errors.append(str(e))
            finally:
                self.incidents.save(inc)
        if errors:
            raise AlertDeliveryError("; ".join(errors))
        return out

    def _clear(self, inc: Incident, now: datetime, why: str) -> None:
        inc.state, inc.cleared_at, inc.updated_at = "cleared", now.isoformat(), now.isoformat()
        self.incidents.save(inc)
        log.info(f"incident {inc.incident_key} cleared: {why}")

    def _event_alert(self, inc: Incident, alert: Alert, now: datetime, team: str, *, escalated: bool) -> Alert:
        waited = ""
        if escalated:
            waited = f" — escalated from {inc.team}: not acknowledged or cleared since {inc.breach_at}"
        severity = "critical" if escalated else alert.severity
        if severity == "info":
            severity = "warning"
        return Alert(
            kind=alert.kind, severity=severity, summary=alert.summary + waited,
            details={**alert.details, "incident_key": inc.incident_key, "owner": inc.team, "routed_to": team,
                     "opened_at": inc.opened_at, "occurrences": int(inc.value or 1),
                     "escalation_level": inc.escalation_level + (1 if escalated else 0)},
            action=(alert.action + "; " if alert.action else "") + f"acknowledge with `sync-pipeline alerts ack "
                   f"{inc.incident_key}`, silence with `sync-pipeline alerts silence {inc.incident_key} --minutes 60`",
            at=now.isoformat(timespec="seconds"),
        )

    def _open_or_update(self, inc: Incident | None, r: SloResult, now: datetime) -> Incident:
        at = now.isoformat()
        if inc is None or inc.state == "cleared":
            return Incident(incident_key=r.incident_key, objective=r.objective, entity=r.entity, team=r.team,
                            state="open", severity=r.status, opened_at=at, value=_value(r), summary=r.describe(),
                            breach_at=at if r.status == "breach" else None,
                            occurrences=(inc.occurrences + 1) if inc is not None else 1,
                            silenced_until=inc.silenced_until if inc is not None else None, updated_at=at)
        if _RANK[r.status] > _RANK[inc.severity]:
            inc.severity, inc.breach_at = r.status, inc.breach_at or at
        inc.value, inc.summary, inc.updated_at = _value(r), r.describe(), at
        return inc

    def _notify(self, inc: Incident, now: datetime, make: Callable[[str, bool], Alert]) -> list[Delivery]:
        if inc.notified_severity is not None and _RANK[inc.severity] <= _RANK[inc.notified_severity]:
            return []
        team = self.config.teams[inc.team]
        route = team.routes.breach if inc.severity == "breach" else team.routes.warn
        what = "opened" if inc.notified_severity is None else "worsened"
        channels = self._deliver(make(inc.team, False), route, team)
        inc.notified_severity = inc.severity
        if inc.severity == "breach" and inc.escalation_level == 0:
            inc.escalated_at = now.isoformat()  # the escalation clock starts when the owner was told
        return [Delivery(inc.incident_key, what, inc.team, channels)]

    def _escalate(self, inc: Incident, now: datetime, make: Callable[[str, bool], Alert]) -> list[Delivery]:
        if inc.severity != "breach" or inc.acknowledged_at is not None or inc.breach_at is None:
            return []
        chain = self.config.escalation_chain(inc.team)
        if inc.escalation_level + 1 >= len(chain):
            return []
        current = self.config.teams[chain[inc.escalation_level]]
        since = datetime.fromisoformat(inc.escalated_at or inc.breach_at)
        if current.escalate_after_minutes is None or now - since < timedelta(minutes=current.escalate_after_minutes):
            return []
        nxt = chain[inc.escalation_level + 1]
        team = self.config.teams[nxt]
        channels = self._deliver(make(nxt, True), team.routes.breach, team)
        inc.escalation_level += 1
        inc.escalated_at = now.isoformat()
        return [Delivery(inc.incident_key, "escalated", nxt, channels)]

    def _deliver(self, alert: Alert, route: list[str], team: Team) -> tuple[str, ...]:
        self.log.send(alert)
        done: list[str] = []
        errors: list[str] = []
        for channel in route:
            n = self.channels.notifier(channel, team)
            if n is None:
                log.warning(f"alert route {channel} is not configured (set {UNSET_HINT[channel]}); "
                            f"{alert.details.get('incident_key')} went to the log only")
                continue
            try:
                n.send(alert)
                done.append(channel)
            except AlertDeliveryError as e:
                errors.append(str(e))
        if errors:
            raise AlertDeliveryError("; ".join(errors))
        return tuple(done)

    def _alert(self, inc: Incident, r: SloResult, now: datetime, team: str, *, escalated: bool) -> Alert:
        waited = ""
        if escalated:
            waited = f" — escalated from {inc.team}: not acknowledged or cleared since {inc.breach_at}"
        return Alert(
            kind=f"slo_{inc.severity}",
            severity="critical" if escalated else _ALERT_SEVERITY[inc.severity],
            summary=r.describe() + waited,
            details={"incident_key": inc.incident_key, "objective": r.objective, "entity": r.entity,
                     "value": r.value, "warn": r.warn, "breach": r.breach, "unit": r.unit, "owner": inc.team,
                     "routed_to": team, "opened_at": inc.opened_at, "escalation_level": inc.escalation_level
                     + (1 if escalated else 0), "measurement": r.detail},
            action=f"see docs/operations.md (SLOs and alert routing); acknowledge with `sync-pipeline alerts ack "
                   f"{inc.incident_key}`, silence with `sync-pipeline alerts silence {inc.incident_key} --minutes 60`",
            at=now.isoformat(timespec="seconds"),
        )


def _value(r: SloResult) -> str | None:
    return None if r.value is None else f"{r.value:g}"
