"""``sync-pipeline sandbox up`` prints URLs and credentials and stops on SIGTERM/SIGINT; the fault and
webhook commands drive a running sandbox through its admin API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sync_pipeline.cli import main
from sync_pipeline.sandbox import demo_data


def _start(tmp_path: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.cli", "sandbox", "up", "--harvest-port", "0", "--xero-port", "0",
         "--qbo-port", "0", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    env: dict[str, str] = {}
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if m := re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line.strip()):
            env[m.group(1)] = m.group(2)
        if f"QBO_REFRESH_TOKEN_{demo_data.QBO_REALM_UK}" in env:  # the last line of the environment
            break
    assert "XERO_BASE_URL" in env, "".join(lines)
    text = "".join(lines)
    assert "Harvest-Account-Id" in text and demo_data.XERO_TENANT_ID in text and "sandbox-secret" in text
    assert demo_data.QBO_REALM_US in text and "QuickBooks Online API" in text
    return proc, env


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_up_serves_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, env = _start(tmp_path)
    try:
        r = httpx.get(f"{env['HARVEST_BASE_URL']}/v2/clients",
                      headers={"Authorization": f"Bearer {env['HARVEST_ACCESS_TOKEN']}",
                               "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID})
        assert r.status_code == 200 and r.json()["clients"]
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "sandbox systems stopped" in out


def test_fault_commands_against_a_running_sandbox(tmp_path: Path, capsys) -> None:
    proc, env = _start(tmp_path)
    try:
        url = env["XERO_BASE_URL"]
        assert main(["sandbox", "fault", "add", "--system", "xero", "--url", url, "--route", "/Invoices",
                     "--kind", "503", "--times", "2", "--retry-after", "7"]) == 0
        assert main(["sandbox", "fault", "list", "--system", "xero", "--url", url]) == 0
        assert '"kind": "503"' in capsys.readouterr().out
        statuses = [httpx.get(f"{url}/api.xro/2.0/Invoices").status_code for _ in range(3)]
        assert statuses == [503, 503, 401]  # two injected faults, then the real answer (no token here)
        hurl = env["HARVEST_BASE_URL"]
        assert main(["sandbox", "fault", "add", "--system", "harvest", "--url", hurl, "--kind", "429",
                     "--times", "-1"]) == 0
        assert httpx.get(f"{hurl}/v2/clients").status_code == 429
        assert main(["sandbox", "fault", "clear", "--system", "harvest", "--url", hurl]) == 0
        assert httpx.get(f"{hurl}/v2/clients").status_code == 401
        assert main(["sandbox", "fault", "add", "--system", "xero", "--url", url, "--kind", "nonsense"]) == 2
        assert "unknown fault kind" in capsys.readouterr().err
        qurl, realm = env["QBO_BASE_URL"], demo_data.QBO_REALM_US
        assert main(["sandbox", "fault", "add", "--system", "qbo", "--url", qurl, "--route", "/query",
                     "--kind", "429"]) == 0
        r = httpx.get(f"{qurl}/v3/company/{realm}/query", params={"query": "select * from Item"})
        assert r.status_code == 429 and r.json()["Fault"]["Error"][0]["code"] == "3001"
        assert httpx.get(f"{qurl}/v3/company/{realm}/query").status_code == 401  # the real answer: no token
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_fault_command_without_a_running_sandbox_says_what_to_do(capsys) -> None:
    assert main(["sandbox", "fault", "list", "--system", "xero", "--url", "http://127.0.0.1:9"]) == 2
    assert "is `sync-pipeline sandbox up` running?" in capsys.readouterr().err
