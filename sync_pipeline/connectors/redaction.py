"""Secrets never reach a log line, an exception message or a Dagster event.

Two complementary defences:

- *patterns*: ``Bearer <token>``, ``access_token=...``, ``client_secret=...``, ``X-Redmine-API-Key: ...``,
  ``key=...`` query parameters are masked wherever they appear;
- *known values*: every credential a connector is built with is registered here
  (:func:`register_secret`), and its literal value is masked wherever it appears, whatever
  the surrounding text looks like (a token pasted into a note, a URL, a repr).

:class:`RedactingFilter` applies both to ``logging`` records (message, args, and a few
well-known structured fields); the connectors' own loggers carry it from import time, and
``sync_pipeline.defs.resources`` installs it on Dagster's log manager and event-log handlers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words

# headers that carry credentials; an account's or tenant's id (Harvest-Account-Id, Xero-Tenant-Id) is not one:
# it grants nothing without the token, and masking it would mask every equal run of digits in the logs
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-redmine-api-key", "x-api-key",
})

_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._\-~+/]+=*)"),
    re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}=*)"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|api_key|apikey|password)[\"']?\s*[=:]\s*[\"']?)"
               r"([^\s\"'&,;}]+)"),
    re.compile(r"(?i)(x-redmine-api-key[\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;}]+)"),
    re.compile(r"(?i)([?&]key=)([^\s&#\"']+)"),
]

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a credential so its literal value is masked everywhere from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def registered_secret_count() -> int:
    return len(_secrets)


def redact(text: str) -> str:
    """Mask bearer tokens, keys and every registered secret in free text."""
    if not text:
        return text
    for rx in _PATTERNS:
        text = rx.sub(lambda m: m.group(1) + MASK, text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in SECRET_HEADERS else redact(v)) for k, v in headers.items()}


def _redact_value(v: Any) -> Any:
    if isinstance(v, str):
        return redact(v)
    if isinstance(v, Mapping):
        return {k: _redact_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_redact_value(x) for x in v)
    if isinstance(v, BaseException):
        return redact(str(v))
    return v


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in place; it never drops a record."""

    #: structured fields (``extra=``) and Dagster's own record metadata that may carry text
    FIELDS = ("url", "error", "detail", "headers", "dagster_meta")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            msg = f"{record.msg} {record.args}"
        record.msg = redact(msg)
        record.args = ()
        for name in self.FIELDS:
            if name in record.__dict__:
                value = record.__dict__[name]
                if name == "dagster_meta" and isinstance(value, dict):
                    # Dagster keeps the pre-formatting message here; it becomes the event's user_message
                    if isinstance(value.get("orig_message"), str):
                        value["orig_message"] = redact(value["orig_message"])
                else:
                    record.__dict__[name] = _redact_value(value)
        return True


REDACTOR = RedactingFilter()


def install(target: logging.Logger | logging.Handler) -> None:
    """Attach the shared redacting filter to a logger or handler (idempotent)."""
    if REDACTOR not in target.filters:
        target.addFilter(REDACTOR)


# Our own loggers carry the filter from import time: records are masked where they are made,
# before any handler (Dagster's included) sees them.
for _name in ("sync_pipeline", "sync_pipeline.http", "sync_pipeline.connectors"):
    install(logging.getLogger(_name))
