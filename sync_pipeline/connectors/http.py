"""The shared HTTP layer every connector goes through.

- explicit timeouts (connect/read/write/pool), connection pooling, gzip (httpx)
- transient vs permanent errors as typed exceptions (:class:`TransientError`, :class:`PermanentError`,
  :class:`AuthError`, :class:`CircuitOpenError`, :class:`RateLimitError`)
- retries with exponential backoff and full jitter that honour ``Retry-After`` (tenacity); writes are
  retried only when safe (an ``Idempotency-Key`` is sent, or the server certainly did not act)
- a client-side rate limiter per product and a circuit breaker (``connectors.limits``)
- JSON decoded with Decimals: money never passes through a float
- structured logs: one line per attempt with a request id, never a secret (``connectors.redaction``)
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_exponential_jitter

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.limits import (
    UNLIMITED,
    CircuitBreaker,
    RateLimiter,
    RateLimits,
    RateLimitWaitTooLong,
)
from sync_pipeline.connectors.redaction import SECRET_HEADERS, redact, redact_headers
from sync_pipeline.connectors.transport import require_secure
from sync_pipeline.contracts.codec import loads

log = logging.getLogger("sync_pipeline.http")
redaction.install(log)

__all__ = [
    "SECRET_HEADERS", "AuthError", "CircuitOpenError", "HttpClient", "HttpError", "PermanentError",
    "RateLimitError", "TransientError", "parse_retry_after", "redact", "redact_headers",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HttpError(Exception):
    """Base class: something went wrong talking to an external system."""

    def __init__(self, message: str, *, system: str, method: str, url: str, status: int | None = None,
                 body: str | None = None, request_id: str | None = None) -> None:
        super().__init__(redact(message))
        self.system = system
        self.method = method
        self.url = redact(str(url))
        self.status = status
        self.body = redact(body) if body else body
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"{self.system} {self.method} {self.url}"
        status = f" → HTTP {self.status}" if self.status else ""
        return redact(f"{self.args[0]} ({where}{status}, request {self.request_id})")


class TransientError(HttpError):
    """Worth retrying later: timeouts, resets, 429, 5xx, an open circuit."""

    def __init__(self, *args: Any, retry_after: float | None = None, maybe_processed: bool = True,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.retry_after = retry_after
        #: False when the server certainly did not act on the request (connect failed, 429)
        self.maybe_processed = maybe_processed


class RateLimitError(TransientError):
    """The quota is spent (HTTP 429, or our own limiter would have to wait too long)."""


class CircuitOpenError(TransientError):
    """The circuit breaker is open: the system failed repeatedly, so we are not calling it now."""

    def __init__(self, *args: Any, breaker: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(*args, maybe_processed=False, **kw)
        self.breaker = breaker or {}


class PermanentError(HttpError):
    """Retrying will not help: validation errors, not found, conflicts."""

    def json(self) -> Any:
        try:
            return loads(self.body or "")
        except ValueError:
            return None


class AuthError(PermanentError):
    """The credentials were refused (401/403): fix the configuration, then re-run."""


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _require_secure_request(request: httpx.Request) -> None:
    require_secure(str(request.url), f"{request.method} request to")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context every client of this process verifies servers with, built once: ``httpx.Client()`` loads
    the CA bundle anew each time (tens of ms), and a run opens a client per step and system. Same trust as
    httpx's default (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as set when the process started)."""
    return httpx.create_ssl_context()


class HttpClient:
    """``httpx.Client`` with typed errors, safe retries, a rate limiter and a circuit breaker."""

    def __init__(self, *, system: str, base_url: str, headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, connect_timeout: float = 10.0, max_attempts: int = 5,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0, max_retry_after: float = 120.0,
                 limits: RateLimits | None = None, limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None, transport: httpx.BaseTransport | None = None,
                 max_connections: int = 10, sleep: Callable[[float], None] = time.sleep,
                 event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
                 throttle_pause: float | None = None) -> None:
        self.system = system
        #: how long a 429 without ``Retry-After`` pauses everyone sharing the limiter (QuickBooks documents 60 s)
        self.throttle_pause = throttle_pause
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._backoff = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial)
        self._sleep = sleep
        self.limiter = limiter or RateLimiter(limits or UNLIMITED, name=system)
        self.breaker = breaker or CircuitBreaker(name=system)
        for k, v in (headers or {}).items():
            if k.lower() in SECRET_HEADERS:
                redaction.register_secret(v.split(" ", 1)[1] if v.lower().startswith("bearer ") else v)
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                     "User-Agent": "sync-pipeline/0.1", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout), pool=timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                                keepalive_expiry=30.0),
            transport=transport,
            verify=_tls_context(),
            event_hooks={k: list(v) for k, v in (event_hooks or {}).items()},
        )
        # every request, whatever its URL (base + path, a token URL, an absolute link): https or this machine
        self._client.event_hooks.setdefault("request", []).insert(0, _require_secure_request)
        self.request_count = 0
        self.retry_count = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return self._client.event_hooks

    # -- one attempt ------------------------------------------------------------------------
    def _send_once(self, method: str, url: str, request_id: str, attempt: int, **kw: Any) -> httpx.Response:
        extra = {"system": self.system, "method": method, "url": redact(str(url)), "request_id": request_id,
                 "attempt": attempt}
        if not self.breaker.allow():
            snap = self.breaker.snapshot()
            raise CircuitOpenError(
                f"circuit open: {self.system} failed {snap['consecutive_failures']} times in a row "
                f"(last: {snap['last_error']}); not calling it for another {snap['retry_in_seconds']:.0f} s",
                system=self.system, method=method, url=url, request_id=request_id,
                retry_after=self.breaker.retry_in() or None, breaker=snap)
        try:
            return self._attempt(method, url, request_id, attempt, extra, **kw)
        finally:
            # a half-open trial that ended without a verdict (our own limiter refused, a local error)
            # must not leave the breaker waiting for it forever
            self.breaker.release_trial()

    def _attempt(self, method: str, url: str, request_id: str, attempt: int, extra: dict[str, Any],
                 **kw: Any) -> httpx.Response:
        try:
            with self.limiter.slot():
                headers = {"X-Request-Id": request_id, **kw.pop("headers", {})}
                self.request_count += 1
                t0 = time.perf_counter()
                try:
                    resp = self._client.request(method, url, headers=headers, **kw)
                except (httpx.TransportError, httpx.DecodingError) as e:
                    self.breaker.record_failure(f"{type(e).__name__}: {e}")
                    log.warning("%s %s %s failed: %s (request %s, attempt %d)", self.system, method, url,
                                type(e).__name__, request_id, attempt, extra={**extra, "error": type(e).__name__})
                    raise TransientError(f"{type(e).__name__}: {e or 'no detail'}", system=self.system,
                                         method=method, url=url, request_id=request_id,
                                         maybe_processed=not isinstance(e, _NOT_SENT)) from e
        except RateLimitWaitTooLong as e:
            raise RateLimitError(str(e), system=self.system, method=method, url=url, request_id=request_id,
                                 retry_after=e.wait, maybe_processed=False) from None
        ms = (time.perf_counter() - t0) * 1000
        self.limiter.observe(resp.headers)
        status = resp.status_code
        log.info("%s %s %s → %s in %.0f ms (request %s, attempt %d)", self.system, method, url, status, ms,
                 request_id, attempt, extra={**extra, "status": status, "ms": round(ms, 1)})
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if status == 429:
            self.breaker.record_success()  # the server is alive and answering; the limiter deals with this
            if retry_after is None and self.throttle_pause is not None:
                retry_after = self.throttle_pause
            self.limiter.pause(retry_after if retry_after is not None else 1.0)
            raise RateLimitError(
                f"HTTP 429 rate limited ({resp.headers.get('X-Rate-Limit-Problem') or 'quota'})", system=self.system,
                method=method, url=url, status=status, body=resp.text[:2000], request_id=request_id,
                retry_after=retry_after, maybe_processed=False)
        if status >= 500 or status == 408:
            self.breaker.record_failure(f"HTTP {status}")
            if retry_after is not None:
                self.limiter.pause(retry_after)
            raise TransientError(f"HTTP {status}", system=self.system, method=method, url=url, status=status,
                                 body=resp.text[:2000], request_id=request_id, retry_after=retry_after,
                                 maybe_processed=status not in (502, 503))
        self.breaker.record_success()
        if status in (401, 403):
            raise AuthError(f"authentication failed (HTTP {status}); check the credentials of {self.system}",
                            system=self.system, method=method, url=url, status=status,
                            body=resp.text[:2000], request_id=request_id)
        if status >= 400:
            raise PermanentError(f"HTTP {status}", system=self.system, method=method, url=url, status=status,
                                 body=resp.text[:20000], request_id=request_id)
        return resp

    # -- retries ----------------------------------------------------------------------------
    def _should_retry(self, state: RetryCallState, safe: bool) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, TransientError) or isinstance(exc, CircuitOpenError):
            return False
        if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
            return False  # e.g. the daily quota: not something to sleep through here
        return safe or not exc.maybe_processed

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = self._backoff(state)
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return backoff

    def request(self, method: str, url: str, *, safe: bool | None = None, **kw: Any) -> httpx.Response:
        return self._request(method, url, safe=safe, decode=False, **kw)

    def _request(self, method: str, url: str, *, safe: bool | None, decode: bool, **kw: Any) -> Any:
        """Send with retries on transient errors; raise the last error when attempts run out.

        ``safe``: may this request be repeated after a failure where the server may have acted?
        Defaults to True for GET/HEAD/OPTIONS and for requests carrying an ``Idempotency-Key``.
        """
        method = method.upper()
        headers = dict(kw.pop("headers", None) or {})
        if safe is None:
            safe = method in SAFE_METHODS or any(k.lower() == "idempotency-key" for k in headers)
        request_id = uuid.uuid4().hex[:12]
        attempt = 0

        def once() -> Any:
            nonlocal attempt
            attempt += 1
            if attempt > 1:
                self.retry_count += 1
            resp = self._send_once(method, url, request_id, attempt, headers=dict(headers), **kw)
            if not decode:
                return resp
            try:
                return loads(resp.content)
            except ValueError as e:  # a proxy's HTML page, a body cut short: worth another try
                raise TransientError(f"response is not valid JSON ({e})", system=self.system, method=method,
                                     url=url, status=resp.status_code, body=resp.text[:500],
                                     request_id=request_id) from e

        retrying = Retrying(
            retry=lambda s: self._should_retry(s, safe),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(once)

    def json(self, method: str, url: str, *, safe: bool | None = None, **kw: Any) -> Any:
        """Send with retries and decode the JSON body (Decimals); an undecodable body is retried too."""
        return self._request(method, url, safe=safe, decode=True, **kw)
