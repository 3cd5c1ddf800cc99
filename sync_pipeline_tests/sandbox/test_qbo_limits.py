"""QBO sandbox limits per company: requests per minute and per second, concurrent requests, batch requests per
minute; the documented 429 ThrottleExceeded fault. Windows are scaled down so the test does not wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from sync_pipeline.sandbox.server import Response, SandboxServer
from sync_pipeline_tests.sandbox.conftest import QBO_REALM, QboApi, qbo_sandbox


def _throttled(r: httpx.Response) -> bool:
    body = r.json()
    return r.status_code == 429 and body["Fault"]["type"] == "SERVICE" and \
        body["Fault"]["Error"][0]["code"] == "3001" and "Retry-After" not in r.headers


@pytest.mark.parametrize("limits, path, allowed", [
    ({"second_limit": 3}, "preferences", 3),  # 10 a second per company and app
    ({"minute_limit": 2}, "preferences", 2),  # 500 a minute per company
    ({"batch_minute_limit": 1}, "batch", 1),  # 40 batch requests a minute
])
def test_rate_limits(tmp_path: Path, limits: dict, path: str, allowed: int) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3", minute_window=30.0, second_window=30.0, **limits)
    sb.add_company(QBO_REALM, "Limits Co")
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Customer"}]} if path == "batch" else None
    with SandboxServer(sb) as server:
        api = QboApi(sb, server.url)
        got = [api.call("POST" if body else "GET", path, body) for _ in range(allowed + 1)]
        assert [r.status_code for r in got[:allowed]] == [200] * allowed and _throttled(got[-1])
        api.close()


def test_concurrent_limit(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3", concurrent_limit=2)
    sb.add_company(QBO_REALM, "Busy Co")
    gate = threading.Event()

    def hold(req):
        gate.wait(5)
        return Response(200, {"ok": True})

    sb.router.add("GET", f"/v3/company/{QBO_REALM}/hold", hold)
    with SandboxServer(sb) as server:
        api = QboApi(sb, server.url)
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(api.call("GET", "hold").status_code))
                   for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while sb._inflight.get(QBO_REALM, 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client(base_url=server.url) as other:
            third = other.get(f"/v3/company/{QBO_REALM}/preferences", headers={"Authorization": f"Bearer {api.token}"})
        assert _throttled(third)
        gate.set()
        for t in threads:
            t.join()
        assert results == [200, 200]
        api.close()
