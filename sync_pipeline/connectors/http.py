"""The shared HTTP layer every connector goes through.

- explicit timeouts and connection pooling (httpx)
- transient vs permanent errors as typed exceptions
- retries with exponential backoff and jitter that honour ``Retry-After`` (tenacity)
- JSON decoded with ``parse_float=Decimal``: money never passes through a float
- secrets redacted from anything we log or raise
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from sync_pipeline.contracts.codec import loads

log = logging.getLogger("sync_pipeline.http")

SECRET_HEADERS = {"authorization", "xero-tenant-id", "harvest-account-id", "x-redmine-api-key", "cookie"}
_SECRET_RE = re.compile(r"(?i)(bearer\s+|access_token[\"'=:\s]+|client_secret[\"'=:\s]+)([A-Za-z0-9._\-~+/]+=*)")


def redact(text: str) -> str:
    """Remove bearer tokens and secrets from free text."""
    return _SECRET_RE.sub(lambda m: m.group(1) + "***", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


class HttpError(Exception):
    """Base class: something went wrong talking to an external system."""

    def __init__(self, message: str, *, system: str, method: str, url: str, status: int | None = None,
                 body: str | None = None, request_id: str | None = None) -> None:
        super().__init__(redact(message))
        self.system = system
        self.method = method
        self.url = url
        self.status = status
        self.body = redact(body) if body else body
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"{self.system} {self.method} {self.url}"
        status = f" → HTTP {self.status}" if self.status else ""
        return f"{self.args[0]} ({where}{status}, request {self.request_id})"


class TransientError(HttpError):
    """Worth retrying: timeouts, resets, 429, 5xx."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.retry_after = retry_after


class PermanentError(HttpError):
    """Retrying will not help: validation errors, auth failures, not found."""

    def json(self) -> Any:
        try:
            return loads(self.body or "")
        except ValueError:
            return None


class AuthError(PermanentError):
    pass


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _wait(base: wait_exponential_jitter):
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        return base(state)

    return wait


class HttpClient:
    """A small wrapper over ``httpx.Client`` with typed errors and retries."""

    def __init__(self, *, system: str, base_url: str, headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, max_attempts: int = 5, backoff_initial: float = 0.5,
                 backoff_max: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.system = system
        self.max_attempts = max_attempts
        self._wait = _wait(wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial))
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Accept": "application/json", "User-Agent": "sync-pipeline/0.1", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
            transport=transport,
        )
        self.request_count = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_once(self, method: str, url: str, **kw: Any) -> httpx.Response:
        request_id = uuid.uuid4().hex[:12]
        headers = {"X-Request-Id": request_id, **kw.pop("headers", {})}
        self.request_count += 1
        t0 = time.perf_counter()
        try:
            resp = self._client.request(method, url, headers=headers, **kw)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
            log.warning("%s %s %s failed: %s (request %s)", self.system, method, url, type(e).__name__, request_id)
            raise TransientError(f"{type(e).__name__}: {e}", system=self.system, method=method, url=url,
                                 request_id=request_id) from e
        ms = (time.perf_counter() - t0) * 1000
        log.debug("%s %s %s → %s in %.0f ms (request %s)", self.system, method, url, resp.status_code, ms, request_id)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(
                f"HTTP {resp.status_code}", system=self.system, method=method, url=url, status=resp.status_code,
                body=resp.text[:2000], request_id=request_id,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if resp.status_code in (401, 403):
            raise AuthError(f"authentication failed (HTTP {resp.status_code}); check the credentials",
                            system=self.system, method=method, url=url, status=resp.status_code,
                            body=resp.text[:2000], request_id=request_id)
        if resp.status_code >= 400:
            raise PermanentError(f"HTTP {resp.status_code}", system=self.system, method=method, url=url,
                                 status=resp.status_code, body=resp.text[:20000], request_id=request_id)
        return resp

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """Send with retries on transient errors; raise the last error when attempts run out."""
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        return retrying(self._send_once, method, url, **kw)

    def json(self, method: str, url: str, **kw: Any) -> Any:
        resp = self.request(method, url, **kw)
        try:
            return loads(resp.content)
        except ValueError as e:
            raise TransientError(f"response is not valid JSON ({e})", system=self.system, method=method,
                                 url=url, status=resp.status_code, body=resp.text[:500]) from e
