"""Alerts: what went wrong, where, and what to do — sent to the log and, optionally, a webhook URL.

A notifier is anything with ``send(alert)``. ``LogNotifier`` writes one structured line per alert;
``WebhookNotifier`` POSTs the alert as JSON (Slack/Teams/PagerDuty bridges accept this shape or sit
behind a small relay). ``FanOutNotifier`` sends to all and raises if any delivery failed, so the
Dagster sensor that sent it shows a failed tick and retries it on the next one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

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
        self.url = url
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, alert: Alert) -> None:
        try:
            r = self.client.post(self.url, json=alert.to_json())
        except httpx.HTTPError as e:
            raise AlertDeliveryError(f"alert webhook {self.url} unreachable: {type(e).__name__}: {e}") from e
        if r.status_code >= 300:
            raise AlertDeliveryError(f"alert webhook {self.url} answered HTTP {r.status_code}: {r.text[:200]}")


class FanOutNotifier:
    def __init__(self, notifiers: list[Notifier]) -> None:
        self.notifiers = notifiers

    def send(self, alert: Alert) -> None:
        errors: list[str] = []
        for n in self.notifiers:
            try:
                n.send(alert)
            except AlertDeliveryError as e:
                log.error(f"could not deliver alert {alert.kind}: {e}")
                errors.append(str(e))
        if errors:
            raise AlertDeliveryError("; ".join(errors))
