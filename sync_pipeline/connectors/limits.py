"""Client-side rate limiting and circuit breaking, shared by every connector.

:class:`RateLimiter` keeps us inside a product's documented limits *before* the server has
to say no: sliding windows (e.g. Harvest 100 requests / 15 s; Xero 60 / min and 5,000 / day)
and a cap on requests in flight (Xero: 5 concurrent), one per quota in a process (:func:`shared_limiter`). It
adapts to what the server reports:
``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining`` (another client sharing the quota shows up
as requests we did not make) and ``Retry-After`` (everyone sharing the limiter pauses).

:class:`CircuitBreaker` stops hammering a system that keeps failing: after N consecutive
transient failures (5xx, timeouts, resets) it opens, calls fail fast with
:class:`~sync_pipeline.connectors.http.CircuitOpenError` for ``reset_timeout`` seconds, then one
trial request decides between closing again and another open period. Its state is a
property and a :meth:`CircuitBreaker.snapshot` dict, and transitions are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sync_pipeline.connectors import redaction

log = logging.getLogger("sync_pipeline.connectors.limits")
redaction.install(log)


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float
    remaining_header: str | None = None  # server header reporting what is left of this window


@dataclass(frozen=True)
class RateLimits:
    """A product's documented limits."""

    windows: tuple[Window, ...] = ()
    max_concurrent: int | None = None
    #: longest we are willing to block a caller; beyond it we raise instead (e.g. daily quota spent)
    max_wait: float = 120.0
    #: windows are stretched by this fraction: the server's clock starts when a request *arrives*, so
    #: latency jitter would otherwise let the (limit+1)-th request land inside the server's window
    margin: float = 0.05


#: Harvest API v2: 100 requests per 15 seconds per access token (429 + Retry-After beyond).
HARVEST_LIMITS = RateLimits(windows=(Window(100, 15.0),))
#: Xero Accounting API: 60 calls / minute, 5,000 / day per tenant, 5 concurrent.
XERO_LIMITS = RateLimits(
    windows=(Window(60, 60.0, "X-MinLimit-Remaining"), Window(5000, 86400.0, "X-DayLimit-Remaining")),
    max_concurrent=5,
)
#: Redmine documents no limit; one single-threaded server deserves some restraint.
REDMINE_LIMITS = RateLimits(max_concurrent=4)
UNLIMITED = RateLimits()


class RateLimitWaitTooLong(Exception):
    """Waiting for quota would take longer than the caller accepts (e.g. the daily quota is spent)."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(f"rate limit: {reason}; next request possible in {wait:.0f} s")
        self.wait = wait
        self.reason = reason


@dataclass
class LimiterStats:
    requests: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    server_pauses: int = 0
    synced_from_headers: int = 0


class RateLimiter:
    def __init__(self, limits: RateLimits, *, name: str = "", clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = limits
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._hits: list[deque[float]] = [deque() for _ in limits.windows]
        self._paused_until = 0.0
        self._slots = threading.BoundedSemaphore(limits.max_concurrent) if limits.max_concurrent else None
        self.stats = LimiterStats()

    # -- bookkeeping ------------------------------------------------------------------------
    def _span(self, w: Window) -> float:
        return w.seconds * (1 + self.limits.margin)

    def _purge(self, now: float) -> None:
        for w, q in zip(self.limits.windows, self._hits, strict=True):
            while q and now - q[0] >= self._span(w):
                q.popleft()

    def _wait_needed(self, now: float) -> tuple[float, str]:
        wait, reason = max(0.0, self._paused_until - now), "server asked to pause"
        for w, q in zip(self.limits.windows, self._hits, strict=True):
            if len(q) >= w.limit:
                # the oldest hits leaving the window free the slots; wait for enough of them
                excess = len(q) - w.limit
                w_wait = q[excess] + self._span(w) - now
                if w_wait > wait:
                    wait, reason = w_wait, f"{w.limit} requests per {w.seconds:g} s"
        return wait, reason

    def remaining(self) -> list[int]:
        with self._lock:
            self._purge(self._clock())
            return [max(0, w.limit - len(q)) for w, q in zip(self.limits.windows, self._hits, strict=True)]

    # -- the API the HTTP layer uses --------------------------------------------------------
    def acquire(self, max_wait: float | None = None) -> None:
        """Block until one more request fits every window; raise if that would take too long."""
        max_wait = self.limits.max_wait if max_wait is None else max_wait
        while True:
            with self._lock:
                now = self._clock()
                self._purge(now)
                wait, reason = self._wait_needed(now)
                if wait <= 0:
                    for q in self._hits:
                        q.append(now)
                    self.stats.requests += 1
                    return
            if wait > max_wait:
                raise RateLimitWaitTooLong(wait, reason)
            self.stats.waits += 1
            self.stats.waited_seconds += wait
            log.info("%s: waiting %.2f s for the rate limit (%s)", self.name, wait, reason,
                     extra={"system": self.name, "wait_seconds": round(wait, 3)})
            self._sleep(wait)

    @contextmanager
    def slot(self, max_wait: float | None = None) -> Iterator[None]:
        """Hold one of the concurrent slots and one request of every window for one request."""
        if self._slots is not None:
            if not self._slots.acquire(timeout=self.limits.max_wait if max_wait is None else max_wait):
                raise RateLimitWaitTooLong(self.limits.max_wait, f"{self.limits.max_concurrent} requests in flight")
        try:
            self.acquire(max_wait)
            yield
        finally:
            if self._slots is not None:
                self._slots.release()

    def pause(self, seconds: float) -> None:
        """The server said ``Retry-After``: nobody sharing this limiter sends before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self.stats.server_pauses += 1

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to the server's remaining-quota headers (others may share our quota)."""
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            now = self._clock()
            self._purge(now)
            for w, q in zip(self.limits.windows, self._hits, strict=True):
                if not w.remaining_header:
                    continue
                raw = lower.get(w.remaining_header.lower())
                try:
                    remaining = int(raw) if raw is not None else None
                except ValueError:
                    remaining = None
                if remaining is None:
                    continue
                server_used = w.limit - max(0, remaining)
                if server_used > len(q):
                    # requests we did not make count against the same quota: book them now
                    q.extend([now] * (server_used - len(q)))
                    self.stats.synced_from_headers += 1


class CircuitState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_SHARED: dict[tuple[str, ...], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(limits: RateLimits, *, quota: tuple[str, ...], name: str) -> RateLimiter:
    """The one limiter of this process for ``quota`` (e.g. system, API address, app, company): every client that
    spends the same server-side quota waits on the same windows, whichever resource made it. Dagster builds a
    run's resources afresh, so a limiter per resource instance would let two runs (or a run and the workbench)
    together exceed what the server allows, and earn its 429 (QuickBooks: then 60 s without a call)."""
    key = (*quota, repr(limits))
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = RateLimiter(limits, name=name)
        return limiter


@dataclass
class CircuitBreaker:
    name: str = ""
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _state: str = CircuitState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _trial_in_flight: bool = False
    opens: int = 0
    rejected: int = 0
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._state == CircuitState.OPEN and self.clock() - self._opened_at >= self.reset_timeout:
            self._state = CircuitState.HALF_OPEN
            self._trial_in_flight = False
            log.warning("circuit %s half-open: letting one trial request through", self.name,
                        extra={"system": self.name, "circuit_state": CircuitState.HALF_OPEN})
        return self._state

    def retry_in(self) -> float:
        with self._lock:
            if self._current() != CircuitState.OPEN:
                return 0.0
            return max(0.0, self.reset_timeout - (self.clock() - self._opened_at))

    def allow(self) -> bool:
        """May a request go out now? (In half-open state, exactly one trial may.)"""
        with self._lock:
            state = self._current()
            if state == CircuitState.CLOSED:
                return True
            if state == CircuitState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            self.rejected += 1
            return False

    def release_trial(self) -> None:
        """End a half-open trial that produced no verdict, so the next request may try instead."""
        with self._lock:
            self._trial_in_flight = False

    def record_success(self) -> None:
        with self._lock:
            if self._state != CircuitState.CLOSED:
                log.warning("circuit %s closed again after a successful request", self.name,
                            extra={"system": self.name, "circuit_state": CircuitState.CLOSED})
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self, error: str) -> None:
        with self._lock:
            self.last_error = redaction.redact(error)
            self._failures += 1
            if self._state == CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
                if self._state != CircuitState.OPEN:
                    self.opens += 1
                    log.error("circuit %s OPEN after %d consecutive failures (last: %s); failing fast for %.0f s",
                              self.name, self._failures, self.last_error, self.reset_timeout,
                              extra={"system": self.name, "circuit_state": CircuitState.OPEN})
                self._state = CircuitState.OPEN
                self._opened_at = self.clock()
                self._trial_in_flight = False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self._current()
            return {"name": self.name, "state": state, "consecutive_failures": self._failures,
                    "opens": self.opens, "rejected": self.rejected, "last_error": self.last_error,
                    "retry_in_seconds": round(max(0.0, self.reset_timeout - (self.clock() - self._opened_at)), 3)
                    if state == CircuitState.OPEN else 0.0}
