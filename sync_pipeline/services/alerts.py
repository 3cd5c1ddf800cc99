"""Alerts: what went wrong, where, and what to do — and the channels that carry them.

A notifier is anything with ``send(alert)``. ``LogNotifier`` writes one structured line per alert;
``WebhookNotifier`` POSTs the alert as JSON (Slack/Teams/PagerDuty bridges accept this shape or sit
behind a small relay); ``SlackNotifier`` POSTs a Slack incoming-webhook body; ``EmailNotifier`` mails it over
SMTP. Hook URLs and the SMTP password never appear in an error or the log. Which channels an alert takes, and
when, is ``services.alert_routing`` (severity routes, one alert per incident, escalation); a failed delivery raises
``AlertDeliveryError``, so the Dagster sensor that sent it shows a failed tick and retries it on the next one.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("sync_pipeline.alerts")

SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failure | dead_letters | reconciliation_mismatch | heartbeat_missing ...
    summary: str
    severity: str = "error"
    details: dict[str, Any] = field(default_factory=dict)
    action: str = ""  # what an operator should do
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "source": "sync_pipeline", "text": f"[{self.severity}] {self.summary}"}


class Notifier(Protocol):
    def send(self, alert: Alert) -> None: ...


class AlertDeliveryError(RuntimeError):
    pass


class LogNotifier:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def send(self, alert: Alert) -> None:
        level = {"info": logging.INFO, "warning": logging.WARNING}.get(alert.severity, logging.ERROR)
        self.logger.log(level, f"ALERT {alert.kind}: {alert.summary}"
                               + (f" — {alert.action}" if alert.action else "")
                               + f" {json.dumps(alert.details, default=str, sort_keys=True)}")


class WebhookNotifier:
    def __init__(self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = hide_url(url)
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, alert: Alert) -> None:
        try:
            r = self.client.post(self.url, json=alert.to_json())
        except httpx.HTTPError as e:
            raise AlertDeliveryError(f"alert webhook {where(self.url)} unreachable: {type(e).__name__}") from e
        if r.status_code >= 300:
            raise AlertDeliveryError(f"alert webhook {where(self.url)} answered HTTP {r.status_code}: {r.text[:200]}")


def where(url: str) -> str:
    """A hook URL as it may be logged: scheme and host only (the path of a Slack or Teams hook is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "") + "/…"


class _HideHookUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a hook URL's path is its secret, so it is cut to ``where``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls:
            msg = record.getMessage()
            hidden = msg
            for u in self.urls:
                hidden = hidden.replace(u, where(u))
            if hidden != msg:
                record.msg, record.args = hidden, ()
        return True


_HIDE = _HideHookUrls()
logging.getLogger("httpx").addFilter(_HIDE)


def hide_url(url: str) -> str:
    """Keep ``url`` out of httpx's request log from now on; returns it."""
    _HIDE.urls.add(url)
    return url


class SlackNotifier:
    """POSTs a Slack-compatible incoming-webhook body (``text`` plus one ``mrkdwn`` section block); Mattermost,
    Rocket.Chat and Teams' Slack-compatible hooks take the same body."""

    def __init__(self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = hide_url(url)
        self.client = httpx.Client(timeout=timeout, transport=transport)

    @staticmethod
    def body(alert: Alert) -> dict[str, Any]:
        text = f"[{alert.severity}] {alert.summary}"
        block = f"*{alert.severity.upper()}* {alert.summary}" + (f"\n_What to do:_ {alert.action}" if alert.action else "")
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": block[:2900]}}]}

    def send(self, alert: Alert) -> None:
        try:
            r = self.client.post(self.url, json=self.body(alert))
        except httpx.HTTPError as e:
            raise AlertDeliveryError(f"Slack hook {where(self.url)} unreachable: {type(e).__name__}") from e
        if r.status_code >= 300:
            raise AlertDeliveryError(f"Slack hook {where(self.url)} answered HTTP {r.status_code}: {r.text[:200]}")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    sender: str = "sync-pipeline@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never printed
    starttls: bool = True
    timeout: float = 10.0


class EmailNotifier:
    """Sends the alert as a plain-text email over SMTP (STARTTLS and login when configured)."""

    def __init__(self, smtp: SmtpSettings, recipients: list[str]) -> None:
        self.smtp = smtp
        self.recipients = list(recipients)

    def message(self, alert: Alert) -> EmailMessage:
        m = EmailMessage()
        m["Subject"] = f"[sync_pipeline {alert.severity}] {alert.summary}"[:200]
        m["From"] = self.smtp.sender
        m["To"] = ", ".join(self.recipients)
        m.set_content(f"{alert.summary}\n\nWhat to do: {alert.action or '-'}\n\nAt: {alert.at}\n\n"
                      + json.dumps(alert.details, default=str, indent=2, sort_keys=True) + "\n")
        return m

    def send(self, alert: Alert) -> None:
        s = self.smtp
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as conn:
                if s.starttls:
                    conn.starttls(context=ssl.create_default_context())
                if s.username:
                    conn.login(s.username, s.password or "")
                conn.send_message(self.message(alert))
        except (smtplib.SMTPException, OSError) as e:
            raise AlertDeliveryError(f"SMTP {s.host}:{s.port} refused the alert email: {type(e).__name__}: "
                                     f"{str(e)[:200]}") from e
