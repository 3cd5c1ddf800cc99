"""The shared HTTP layer on ``httpx.MockTransport``: every error class, retry, limiter and breaker path."""

from __future__ import annotations

import gzip
import logging
from decimal import Decimal

import httpx
import pytest

from sync_pipeline.connectors.http import (
    AuthError,
    CircuitOpenError,
    HttpClient,
    PermanentError,
    RateLimitError,
    TransientError,
    parse_retry_after,
    redact,
    redact_headers,
)
from sync_pipeline.connectors.limits import CircuitBreaker, RateLimiter, RateLimits, Window

BASE = "https://api.example.test"


class Script:
    """A MockTransport handler answering from a script, recording every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def make(script: Script, *, sleeps: list[float] | None = None, **kw) -> HttpClient:
    """A client whose retry sleeps and limiter share one fake clock; ``sleeps`` records the waits."""
    clk = FakeClock()
    if sleeps is not None:
        clk.slept = sleeps
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("limiter", RateLimiter(RateLimits(), clock=clk, sleep=clk.sleep))
    return HttpClient(system="test", base_url=BASE, transport=httpx.MockTransport(script), sleep=clk.sleep,
                      headers={"Authorization": "Bearer tok-SECRET-123456"}, **kw)


def ok(body: bytes = b'{"amount": 12.30}', **headers) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json", **headers})


# -- success path -------------------------------------------------------------------------------
def test_json_is_decimal_exact_and_request_carries_id_timeout_and_gzip():
    s = Script(ok())
    c = make(s)
    assert c.json("GET", "/x") == {"amount": Decimal("12.30")}
    req = s.requests[0]
    assert len(req.headers["X-Request-Id"]) == 12
    assert "gzip" in req.headers["Accept-Encoding"]
    assert req.extensions["timeout"] == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}


def test_gzip_response_is_decoded():
    body = gzip.compress(b'{"ok": true}')
    c = make(Script(httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})))
    assert c.json("GET", "/x") == {"ok": True}


# -- error classes ------------------------------------------------------------------------------
@pytest.mark.parametrize("status,cls", [(400, PermanentError), (404, PermanentError), (422, PermanentError),
                                        (401, AuthError), (403, AuthError)])
def test_permanent_errors_are_not_retried(status, cls):
    s = Script(httpx.Response(status, json={"message": "bad field X"}))
    c = make(s)
    with pytest.raises(cls) as ei:
        c.json("GET", "/x")
    assert len(s.requests) == 1
    assert ei.value.status == status
    assert ei.value.json() == {"message": "bad field X"}
    assert "test GET /x" in str(ei.value) and f"HTTP {status}" in str(ei.value)


@pytest.mark.parametrize("answer", [
    httpx.Response(500), httpx.Response(502), httpx.Response(503), httpx.Response(504), httpx.Response(408),
    httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset by peer"),
    httpx.ReadError("connection reset"),
])
def test_transient_errors_are_retried_then_succeed(answer):
    s = Script(answer, ok())
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps)
    assert c.json("GET", "/x") == {"amount": Decimal("12.30")}
    assert len(s.requests) == 2 and len(sleeps) == 1
    assert c.retry_count == 1
    # the same logical request keeps its id across attempts
    assert s.requests[0].headers["X-Request-Id"] == s.requests[1].headers["X-Request-Id"]


def test_transient_errors_exhaust_attempts_and_raise_the_last():
    s = Script(httpx.Response(503))
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps, max_attempts=3, breaker=CircuitBreaker(failure_threshold=100))
    with pytest.raises(TransientError) as ei:
        c.json("GET", "/x")
    assert ei.value.status == 503
    assert len(s.requests) == 3 and len(sleeps) == 2


def test_backoff_is_exponential_with_jitter():
    s = Script(httpx.Response(500))
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps, max_attempts=5, backoff_initial=1.0, breaker=CircuitBreaker(failure_threshold=100))
    with pytest.raises(TransientError):
        c.json("GET", "/x")
    # initial * 2^n plus up to `jitter` (= initial) seconds of random jitter
    for n, s_ in enumerate(sleeps):
        assert 2 ** n <= s_ <= 2 ** n + 1.0


def test_429_honours_retry_after_seconds_and_is_a_rate_limit_error():
    s = Script(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps)
    c.json("GET", "/x")
    assert sleeps == [7.0]
    s2 = Script(httpx.Response(429, headers={"Retry-After": "2"}))
    c2 = make(s2, max_attempts=2)
    with pytest.raises(RateLimitError):
        c2.json("GET", "/x")


def test_retry_after_longer_than_we_accept_is_raised_not_slept():
    s = Script(httpx.Response(429, headers={"Retry-After": "3600", "X-Rate-Limit-Problem": "daily"}))
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps, max_retry_after=60)
    with pytest.raises(RateLimitError) as ei:
        c.json("GET", "/x")
    assert ei.value.retry_after == 3600 and sleeps == [] and "daily" in str(ei.value)


def test_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None


def test_writes_without_idempotency_key_are_not_replayed_after_ambiguous_failures():
    s = Script(httpx.ReadTimeout("no answer"), ok())
    c = make(s)
    with pytest.raises(TransientError) as ei:
        c.json("POST", "/x", content=b"{}")
    assert ei.value.maybe_processed and len(s.requests) == 1


def test_writes_are_retried_when_the_server_certainly_did_not_act():
    s = Script(httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "0"}), ok())
    c = make(s)
    c.json("POST", "/x", content=b"{}")
    assert len(s.requests) == 3


def test_writes_with_idempotency_key_are_retried_with_the_same_key():
    s = Script(httpx.Response(500), httpx.RemoteProtocolError("dropped"), ok())
    c = make(s)
    c.json("PUT", "/x", content=b"{}", headers={"Idempotency-Key": "k-1"})
    assert [r.headers["Idempotency-Key"] for r in s.requests] == ["k-1"] * 3


def test_invalid_json_is_transient_and_retried():
    s = Script(ok(b"<html>gateway</html>"), ok())
    assert make(s).json("GET", "/x") == {"amount": Decimal("12.30")} and len(s.requests) == 2
    c = make(Script(ok(b"<html>gateway</html>")), max_attempts=2)
    with pytest.raises(TransientError, match="not valid JSON"):
        c.json("GET", "/x")


# -- rate limiter -------------------------------------------------------------------------------
def test_limiter_blocks_at_the_window_limit():
    clk = FakeClock()
    lim = RateLimiter(RateLimits(windows=(Window(3, 15.0),), margin=0), clock=clk, sleep=clk.sleep)
    for _ in range(3):
        lim.acquire()
    assert clk.slept == []
    clk.now += 5
    lim.acquire()  # 4th request waits until the first leaves the window
    assert clk.slept == [pytest.approx(10.0)]
    assert lim.stats.waits == 1 and lim.stats.requests == 4


def test_limiter_harvest_preset_is_100_per_15_seconds():
    from sync_pipeline.connectors.limits import HARVEST_LIMITS, XERO_LIMITS

    assert HARVEST_LIMITS.windows[0].limit == 100 and HARVEST_LIMITS.windows[0].seconds == 15
    assert [(w.limit, w.seconds) for w in XERO_LIMITS.windows] == [(60, 60), (5000, 86400)]
    assert XERO_LIMITS.max_concurrent == 5
    clk = FakeClock()
    lim = RateLimiter(HARVEST_LIMITS, clock=clk, sleep=clk.sleep)
    for _ in range(250):
        lim.acquire()
        clk.now += 0.01
    # 250 requests need at least two full windows of waiting
    assert sum(clk.slept) >= 2 * 15 - 3


def test_limiter_adapts_to_remaining_headers():
    clk = FakeClock()
    lim = RateLimiter(RateLimits(windows=(Window(60, 60.0, "X-MinLimit-Remaining"),
                                          Window(5000, 86400.0, "X-DayLimit-Remaining")), margin=0),
                      clock=clk, sleep=clk.sleep)
    lim.acquire()
    lim.observe({"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
    assert lim.remaining() == [0, 4000]
    lim.acquire()  # someone else spent the minute: we wait for the window
    assert clk.slept and clk.slept[0] == pytest.approx(60.0)


def test_limiter_day_quota_spent_raises_rate_limit_error_through_the_client():
    clk = FakeClock()
    lim = RateLimiter(RateLimits(windows=(Window(5000, 86400.0, "X-DayLimit-Remaining"),), max_wait=60),
                      clock=clk, sleep=clk.sleep)
    s = Script(ok(**{"X-DayLimit-Remaining": "0"}))
    c = make(s, limiter=lim)
    c.json("GET", "/x")
    with pytest.raises(RateLimitError, match="5000 requests per 86400 s") as ei:
        c.json("GET", "/x")
    assert ei.value.retry_after > 80000
    assert len(s.requests) == 1  # the second never left


def test_retry_after_pauses_everyone_sharing_the_limiter():
    clk = FakeClock()
    lim = RateLimiter(RateLimits(), clock=clk, sleep=clk.sleep)
    s = Script(httpx.Response(429, headers={"Retry-After": "5"}), ok())
    sleeps: list[float] = []
    c = make(s, sleeps=sleeps, limiter=lim)
    c.json("GET", "/x")
    assert lim.stats.server_pauses == 1
    # the retry's own sleep is the fake one; the limiter saw the pause still in force only if no time passed
    assert sleeps == [5.0]


def test_concurrency_cap():
    import threading

    lim = RateLimiter(RateLimits(max_concurrent=2, max_wait=0.05))
    gate = threading.Event()
    inside = []

    def hold():
        with lim.slot():
            inside.append(1)
            gate.wait(2)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    while len(inside) < 2:
        pass
    from sync_pipeline.connectors.limits import RateLimitWaitTooLong

    with pytest.raises(RateLimitWaitTooLong, match="2 requests in flight"):
        with lim.slot():
            pass
    gate.set()
    for t in threads:
        t.join()
    with lim.slot():
        pass


# -- circuit breaker ----------------------------------------------------------------------------
def test_breaker_opens_after_consecutive_failures_and_fails_fast():
    clk = FakeClock()
    br = CircuitBreaker(name="test", failure_threshold=3, reset_timeout=30, clock=clk)
    s = Script(httpx.Response(500))
    c = make(s, breaker=br, max_attempts=10)
    with pytest.raises(CircuitOpenError) as ei:
        c.json("GET", "/x")
    assert len(s.requests) == 3  # the 4th attempt was refused by the open circuit
    assert br.state == "open"
    snap = ei.value.breaker
    assert snap["state"] == "open" and snap["consecutive_failures"] == 3 and snap["last_error"] == "HTTP 500"
    assert "circuit open" in str(ei.value) and isinstance(ei.value, TransientError)
    with pytest.raises(CircuitOpenError):
        c.json("GET", "/y")
    assert len(s.requests) == 3 and br.rejected == 2


def test_breaker_half_open_trial_closes_on_success_and_reopens_on_failure():
    clk = FakeClock()
    br = CircuitBreaker(name="test", failure_threshold=1, reset_timeout=30, clock=clk)
    s = Script(httpx.Response(502), httpx.Response(502), ok())
    c = make(s, breaker=br, max_attempts=1)
    with pytest.raises(TransientError):
        c.json("GET", "/x")
    assert br.state == "open"
    clk.now += 31
    assert br.state == "half_open"
    with pytest.raises(TransientError) as ei:  # the trial fails: open again
        c.json("GET", "/x")
    assert not isinstance(ei.value, CircuitOpenError) and br.state == "open" and br.opens == 2
    clk.now += 31
    assert c.json("GET", "/x") == {"amount": Decimal("12.30")}
    assert br.state == "closed" and br.snapshot()["consecutive_failures"] == 0


def test_breaker_half_open_lets_exactly_one_trial_through():
    clk = FakeClock()
    br = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clk)
    br.record_failure("HTTP 500")
    clk.now += 6
    assert br.allow() is True
    assert br.allow() is False


def test_permanent_errors_and_429_do_not_trip_the_breaker():
    br = CircuitBreaker(failure_threshold=2)
    s = Script(httpx.Response(404), httpx.Response(404), httpx.Response(404))
    c = make(s, breaker=br)
    for _ in range(3):
        with pytest.raises(PermanentError):
            c.json("GET", "/x")
    s2 = Script(httpx.Response(429, headers={"Retry-After": "0"}))
    c2 = make(s2, breaker=br, max_attempts=4)
    with pytest.raises(RateLimitError):
        c2.json("GET", "/x")
    assert br.state == "closed"


# -- logs and secrets ---------------------------------------------------------------------------
def test_logs_are_structured_with_request_id_and_never_carry_the_token(caplog):
    s = Script(httpx.Response(500, text="token tok-SECRET-123456 rejected"), httpx.Response(401, text="Bearer tok-SECRET-123456"))
    c = make(s)
    with caplog.at_level(logging.INFO, logger="sync_pipeline.http"), pytest.raises(AuthError) as ei:
        c.json("GET", "/x?access_token=tok-SECRET-123456")
    recs = [r for r in caplog.records if r.name == "sync_pipeline.http"]
    assert len(recs) == 2
    assert {r.request_id for r in recs} == {s.requests[0].headers["X-Request-Id"]}
    assert [r.status for r in recs] == [500, 401] and [r.attempt for r in recs] == [1, 2]
    text = caplog.text + str(ei.value) + (ei.value.body or "") + repr(ei.value.args)
    assert "tok-SECRET-123456" not in text
    assert "***" in str(ei.value)


def test_account_and_tenant_ids_are_not_secrets_the_credentials_are(monkeypatch):
    from sync_pipeline.connectors import redaction

    monkeypatch.setattr(redaction, "_secrets", set())  # registrations are process-wide: start from none
    tenant = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"
    headers = {"Authorization": "Bearer tok-SECRET-123456", "X-Api-Key": "key-SECRET-987654",
               "Harvest-Account-Id": "900001", "Xero-Tenant-Id": tenant}
    HttpClient(system="test", base_url=BASE, transport=httpx.MockTransport(Script(ok())), headers=headers).close()
    said = "token tok-SECRET-123456 key key-SECRET-987654 account 900001 tenant " + tenant + " invoice 9000012"
    assert redact(said) == "token *** key *** account 900001 tenant " + tenant + " invoice 9000012"
    assert redact_headers(headers) == {"Authorization": "***", "X-Api-Key": "***",
                                       "Harvest-Account-Id": "900001", "Xero-Tenant-Id": tenant}


def test_json_log_lines_carry_the_structured_fields_and_no_secret():
    import io
    import json as _json

    from sync_pipeline.connectors.logs import enable_json_logs

    buf = io.StringIO()
    handler = enable_json_logs(stream=buf)
    try:
        c = make(Script(httpx.Response(503), ok()))
        c.json("GET", "/x?access_token=tok-SECRET-123456")
    finally:
        logging.getLogger("sync_pipeline").removeHandler(handler)
    lines = [_json.loads(line) for line in buf.getvalue().splitlines() if '"sync_pipeline.http"' in line]
    assert [(ln["status"], ln["attempt"]) for ln in lines] == [(503, 1), (200, 2)]
    assert lines[0]["request_id"] == lines[1]["request_id"] and lines[0]["system"] == "test"
    assert "tok-SECRET-123456" not in buf.getvalue() and "access_token=***" in lines[0]["url"]


def test_half_open_trial_without_a_verdict_does_not_wedge_the_breaker():
    clk = FakeClock()
    br = CircuitBreaker(name="test", failure_threshold=1, reset_timeout=30, clock=clk)
    br.record_failure("HTTP 500")
    clk.now += 31
    # the trial is refused by our own limiter (day quota spent): no verdict on the server
    lim = RateLimiter(RateLimits(windows=(Window(1, 86400.0),), max_wait=1), clock=clk, sleep=clk.sleep)
    lim.acquire()
    c = make(Script(ok()), breaker=br, limiter=lim, max_attempts=1)
    with pytest.raises(RateLimitError):
        c.json("GET", "/x")
    assert br.state == "half_open" and br.allow() is True  # the next request gets the trial


def test_a_corrupt_gzip_body_is_transient():
    def corrupt(request: httpx.Request) -> httpx.Response:  # decoded only when the client reads it
        return httpx.Response(200, stream=httpx.ByteStream(b"not gzip at all"), headers={"Content-Encoding": "gzip"})

    s = Script(corrupt, ok())
    assert make(s).json("GET", "/x") == {"amount": Decimal("12.30")} and len(s.requests) == 2


def test_clients_share_one_verifying_tls_context():
    """Built once per process (loading the CA bundle per client cost tens of ms a step), and still verifying."""
    import ssl

    a = HttpClient(system="xero", base_url="https://api.xero.com")
    b = HttpClient(system="harvest", base_url="https://api.harvestapp.com")
    try:
        ctx_a = a._client._transport._pool._ssl_context
        assert ctx_a is b._client._transport._pool._ssl_context
        assert ctx_a.verify_mode == ssl.CERT_REQUIRED and ctx_a.check_hostname
        assert ctx_a.cert_store_stats()["x509_ca"] > 0
    finally:
        a.close()
        b.close()
