"""The Xero webhook receiver, as a WSGI application.

Xero signs the raw request body with HMAC-SHA256 under the app's webhook key and sends the base64
digest in ``x-xero-signature``. The receiver answers 200 with an empty body only when the signature
is right (that is all "intent to receive" asks: a signed payload with no events), and 401 otherwise.
Events are committed to the event store before the 200, so an acknowledged event is never lost; a
store failure answers 503 so Xero delivers again. Re-deliveries are the same rows (idempotent on
event identity), so duplicates and out-of-order deliveries are harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sync_pipeline.store.events import EventError, EventStore

log = logging.getLogger("sync_pipeline.webhooks.xero")

SIGNATURE_HEADER = "HTTP_X_XERO_SIGNATURE"  # WSGI spelling of x-xero-signature
MAX_BODY = 1_000_000


def sign(body: bytes, webhook_key: str) -> str:
    """The ``x-xero-signature`` Xero sends for this body (also what tests and the sandbox sender use)."""
    return base64.b64encode(hmac.new(webhook_key.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, signature: str | None, webhook_key: str) -> bool:
    return bool(signature) and hmac.compare_digest(sign(body, webhook_key), signature or "")


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class XeroWebhookApp:
    """``POST <path>``: verify, store, acknowledge. Counters are for the health page and tests."""

    def __init__(self, events: EventStore, webhook_key: str, path: str = "/webhooks/xero") -> None:
        if not webhook_key:
            raise ValueError("the Xero webhook key is empty: set XERO_WEBHOOK_KEY to the key shown on the app's "
                             "Webhooks page in the Xero developer portal")
        self.events = events
        self.webhook_key = webhook_key
        self.path = path
        self.stats = {"accepted": 0, "rejected": 0, "events_new": 0, "events_duplicate": 0, "errors": 0}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if path == "/healthz" and method == "GET":
            return _reply(start_response, "200 OK", json.dumps({"ok": True, **self.stats}).encode())
        if path != self.path:
            return _reply(start_response, "404 Not Found")
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", headers=[("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _reply(start_response, "413 Content Too Large")
        body = environ["wsgi.input"].read(length) if length else b""
        if not signature_valid(body, environ.get(SIGNATURE_HEADER), self.webhook_key):
            self.stats["rejected"] += 1
            log.warning("rejected a Xero webhook delivery: x-xero-signature missing or wrong "
                        "(is XERO_WEBHOOK_KEY the app's current webhook key?)")
            return _reply(start_response, "401 Unauthorized")
        try:
            payload = json.loads(body or b"{}")
            events = payload.get("events") or []
            if not isinstance(events, list):
                raise EventError("'events' is not a list")
            result = self.events.record("xero", events)
        except (ValueError, AttributeError, EventError) as e:
            self.stats["errors"] += 1
            log.error(f"signed Xero webhook delivery is malformed, not stored: {e}")
            return _reply(start_response, "400 Bad Request")
        except Exception as e:  # noqa: BLE001 - store down: tell Xero to deliver again
            self.stats["errors"] += 1
            log.exception(f"could not store Xero webhook events ({type(e).__name__}: {e}); answered 503")
            return _reply(start_response, "503 Service Unavailable")
        self.stats["accepted"] += 1
        self.stats["events_new"] += result.new
        self.stats["events_duplicate"] += result.duplicates
        if events:
            log.info(f"stored {result.new} new Xero event(s), {result.duplicates} re-delivered "
                     f"(sequence {payload.get('firstEventSequence')}..{payload.get('lastEventSequence')})")
        return _reply(start_response, "200 OK")


def _reply(start_response: StartResponse, status: str, body: bytes = b"",
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    hs = [("Content-Length", str(len(body)))] + (headers or [])
    if body:
        hs.append(("Content-Type", "application/json"))
    start_response(status, hs)
    return [body]
