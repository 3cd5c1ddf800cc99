"""Xero limits per tenant: calls per minute and per day, concurrent calls; headers and 429 + Retry-After.
Windows are scaled down (the sandbox takes them as parameters) so the test does not wait a minute."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from sync_pipeline.sandbox.server import Response, SandboxServer
from sync_pipeline.sandbox.xero import XeroSandbox

TENANT = "11111111-2222-3333-4444-555555555555"


def _client(sb: XeroSandbox, url: str) -> tuple[httpx.Client, dict[str, str]]:
    http = httpx.Client(base_url=url, timeout=10)
    tok = http.post("/connect/token", data={"grant_type": "client_credentials"},
                    auth=(sb.client_id, sb.client_secret)).json()["access_token"]
    return http, {"Authorization": f"Bearer {tok}", "Xero-Tenant-Id": TENANT}


def test_minute_and_day_limits(tmp_path: Path) -> None:
    sb = XeroSandbox(str(tmp_path / "x.sqlite3"), minute_limit=3, minute_window=0.5, day_limit=5)
    sb.add_tenant(TENANT, "Limits Ltd")
    with SandboxServer(sb) as server:
        http, h = _client(sb, server.url)
        rs = [http.get("/api.xro/2.0/Contacts", headers=h) for _ in range(4)]
        assert [r.status_code for r in rs] == [200, 200, 200, 429]
        assert [r.headers["X-MinLimit-Remaining"] for r in rs[:3]] == ["2", "1", "0"]
        assert rs[0].headers["X-DayLimit-Remaining"] == "4"
        assert rs[3].headers["X-Rate-Limit-Problem"] == "minute" and int(rs[3].headers["Retry-After"]) >= 1
        time.sleep(0.55)
        assert http.get("/api.xro/2.0/Contacts", headers=h).status_code == 200
        assert http.get("/api.xro/2.0/Contacts", headers=h).status_code == 200  # the 5th of the day
        r = http.get("/api.xro/2.0/Contacts", headers=h)
        assert r.status_code == 429 and r.headers["X-Rate-Limit-Problem"] == "daily"
        http.close()


def test_concurrent_limit(tmp_path: Path) -> None:
    sb = XeroSandbox(str(tmp_path / "x.sqlite3"), minute_limit=0, day_limit=0, concurrent_limit=2)
    sb.add_tenant(TENANT, "Limits Ltd")
    gate = threading.Event()

    def slow(req):  # a test-only route that holds its request until released
        gate.wait(5)
        return Response(200, {"ok": True})

    sb.router.add("GET", "/api.xro/2.0/Hold", slow)
    with SandboxServer(sb) as server:
        _, h = _client(sb, server.url)
        results: list[int] = []

        def call() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                results.append(c.get("/api.xro/2.0/Hold", headers=h).status_code)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10  # wait until both requests are really in flight (not a fixed sleep)
        while sb._inflight.get(TENANT, 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sb._inflight.get(TENANT, 0) == 2, "the two held requests never reached the sandbox"
        with httpx.Client(base_url=server.url, timeout=10) as c:
            third = c.get("/api.xro/2.0/Contacts", headers=h)
        gate.set()
        for t in threads:
            t.join()
        assert third.status_code == 429 and third.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert results == [200, 200]


def test_auth_errors(tmp_path: Path) -> None:
    sb = XeroSandbox(str(tmp_path / "x.sqlite3"))
    sb.add_tenant(TENANT, "Auth Ltd")
    with SandboxServer(sb) as server, httpx.Client(base_url=server.url) as http:
        assert http.post("/connect/token", data={"grant_type": "client_credentials"},
                         auth=("sandbox-client", "wrong")).json() == {"error": "invalid_client"}
        assert http.get("/api.xro/2.0/Invoices", headers={"Xero-Tenant-Id": TENANT}).status_code == 401
        _, h = _client(sb, server.url)
        r = http.get("/api.xro/2.0/Invoices", headers={**h, "Xero-Tenant-Id": "not-a-tenant"})
        assert r.status_code == 403 and r.json()["Detail"] == "AuthorizationUnsuccessful"
        conns = http.get("/connections", headers=h).json()
        assert [c["tenantId"] for c in conns] == [TENANT]
