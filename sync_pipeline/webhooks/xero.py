"""The Xero webhook receiver, as a WSGI application.

Xero signs the raw request body with HMAC-SHA256 under the app's webhook key and sends the base64
digest in ``x-xero-signature``. The receiver answers 200 with an empty body only when the signature
is right (that is all "intent to receive" asks: a signed payload with no events), and 401 otherwise.
Each delivery gets a trace id when it arrives (``domain.tracing``), stored with its events: the refresh run the
``xero_webhook_events`` sensor launches for them carries it, so the change is one trace from its receipt on.
Events are committed to the event store before the 200, so an acknowledged event is never lost; a
store failure answers 503 so Xero delivers again. Re-deliveries are the same rows (idempotent on
event identity), so duplicates and out-of-order deliveries are harmless.

A body we will never accept is a 4xx, never a 5xx (Xero re-delivers 5xx for hours): over ``max_body``
bytes 413; not sent within the server's body timeout 408; signed but not JSON, deeper than
``MAX_DEPTH``, or not the shape of a delivery (``events`` a list of objects whose identity fields are
strings within the store's column sizes) 400, each with the reason in the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sync_pipeline.domain.tracing import new_trace_id
from sync_pipeline.store.events import EventError, EventStore

log = logging.getLogger("sync_pipeline.webhooks.xero")

SIGNATURE_HEADER = "HTTP_X_XERO_SIGNATURE"  # WSGI spelling of x-xero-signature
MAX_BODY = 1_000_000
MAX_DEPTH = 16  # a Xero delivery is 3 levels deep (payload -> events -> event)
FIELD_LIMITS = {"tenantId": 64, "eventCategory": 32, "eventType": 32, "resourceId": 64, "eventDateUtc": 40}


class BadDelivery(ValueError):
    """A signed body that can never be stored: 400, so Xero stops re-delivering it."""


def read_body(environ: dict[str, Any], length: int) -> bytes:
    """Exactly ``length`` bytes of the body, read in pieces before the server's body deadline (TimeoutError
    after it, or when one read times out); BadDelivery when the client ends the body early."""
    stream = environ["wsgi.input"]
    deadline = environ.get("sync_pipeline.body_deadline")
    read = getattr(stream, "read1", stream.read)
    chunks, got = [], 0
    while got < length:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"body not received in time ({got} of {length} bytes)")
        chunk = read(min(length - got, 65536))
        if not chunk:
            raise BadDelivery(f"body ended after {got} of its {length} bytes (Content-Length)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def parse_delivery(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The payload and its events, or BadDelivery saying what is wrong with it."""
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError) as e:
        raise BadDelivery(f"not JSON ({type(e).__name__}: {str(e)[:100]})") from None
    if _too_deep(payload):
        raise BadDelivery(f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(payload, dict):
        raise BadDelivery(f"the body is a JSON {type(payload).__name__}, not an object")
    events = payload.get("events", [])
    if not isinstance(events, list):
        raise BadDelivery("'events' is not a list")
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise BadDelivery(f"events[{i}] is not an object")
        for f, limit in FIELD_LIMITS.items():
            v = e.get(f)
            if not isinstance(v, str) or not v or len(v) > limit:
                raise BadDelivery(f"events[{i}].{f} is not a string of 1 to {limit} characters")
        if not isinstance(e.get("resourceUrl", ""), str | None):
            raise BadDelivery(f"events[{i}].resourceUrl is not a string")
    return payload, events


def sign(body: bytes, webhook_key: str) -> str:
    """The ``x-xero-signature`` Xero sends for this body (also what tests and the sandbox sender use)."""
    return base64.b64encode(hmac.new(webhook_key.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, signature: str | None, webhook_key: str) -> bool:
    return bool(signature) and hmac.compare_digest(sign(body, webhook_key), signature or "")


def matching_key(body: bytes, signature: str | None, webhook_keys: Sequence[str]) -> int | None:
    """Which of the valid keys signed the body (0: the current key, 1: the previous one during a rotation
    window), or None. Every key is compared, so the time taken does not say which one matched."""
    found = None
    for i, key in enumerate(webhook_keys):
        if signature_valid(body, signature, key) and found is None:
            found = i
    return found


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class XeroWebhookApp:
    """``POST <path>``: verify, store, acknowledge. Counters are for the health page and tests."""

    def __init__(self, events: EventStore, webhook_key: str | Sequence[str], path: str = "/webhooks/xero", *,
                 max_body: int = MAX_BODY) -> None:
        """``webhook_key``: the current key, or (current, previous) during a rotation window, when deliveries
        signed with either are accepted (XERO_WEBHOOK_KEY, XERO_WEBHOOK_KEY_PREVIOUS)."""
        keys = [webhook_key] if isinstance(webhook_key, str) else [k for k in webhook_key if k]
        if not keys or not keys[0]:
            raise ValueError("the Xero webhook key is empty: set XERO_WEBHOOK_KEY to the key shown on the app's "
                             "Webhooks page in the Xero developer portal")
        if len(keys) > 2:
            raise ValueError("at most two webhook keys are valid at once: the current one and, during a "
                             "rotation window, the previous one")
        self.max_body = max_body
        self.events = events
        self.webhook_keys = tuple(keys)
        self.webhook_key = keys[0]
        self.path = path
        self.stats = {"accepted": 0, "rejected": 0, "events_new": 0, "events_duplicate": 0, "errors": 0,
                      "accepted_previous_key": 0}

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
        if length < 0 or length > self.max_body:
            return _reply(start_response, "413 Content Too Large")
        try:
            body = read_body(environ, length) if length else b""
        except TimeoutError as e:
            return self._bad(start_response, "408 Request Timeout", f"Xero webhook delivery cut off: {e}")
        except BadDelivery as e:
            return self._bad(start_response, "400 Bad Request", f"Xero webhook delivery incomplete: {e}")
        which = matching_key(body, environ.get(SIGNATURE_HEADER), self.webhook_keys)
        if which is None:
            self.stats["rejected"] += 1
            log.warning("rejected a Xero webhook delivery: x-xero-signature missing or wrong "
                        "(is XERO_WEBHOOK_KEY the app's current webhook key?)")
            return _reply(start_response, "401 Unauthorized")
        if which:
            self.stats["accepted_previous_key"] += 1
            log.warning("a Xero webhook delivery was signed with the previous key (XERO_WEBHOOK_KEY_PREVIOUS): "
                        "unset it once the rotation window is over")
        try:
            payload, events = parse_delivery(body)
            trace_id = new_trace_id()
            result = self.events.record("xero", events, trace_id=trace_id)
        except (BadDelivery, EventError) as e:
            return self._bad(start_response, "400 Bad Request", f"signed Xero webhook delivery is malformed, not "
                                                                f"stored: {e}")
        except Exception as e:  # noqa: BLE001 - store down: tell Xero to deliver again
            self.stats["errors"] += 1
            log.exception(f"could not store Xero webhook events ({type(e).__name__}: {e}); answered 503")
            return _reply(start_response, "503 Service Unavailable")
        self.stats["accepted"] += 1
        self.stats["events_new"] += result.new
        self.stats["events_duplicate"] += result.duplicates
        if events:
            log.info(f"stored {result.new} new Xero event(s), {result.duplicates} re-delivered "
                     f"(sequence {payload.get('firstEventSequence')}..{payload.get('lastEventSequence')}; "
                     f"trace {trace_id})")
        return _reply(start_response, "200 OK")


    def _bad(self, start_response: StartResponse, status: str, message: str) -> list[bytes]:
        self.stats["errors"] += 1
        log.error(message)
        return _reply(start_response, status)


def _reply(start_response: StartResponse, status: str, body: bytes = b"",
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    hs = [("Content-Length", str(len(body)))] + (headers or [])
    if body:
        hs.append(("Content-Type", "application/json"))
    start_response(status, hs)
    return [body]
