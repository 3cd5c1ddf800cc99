"""A real Redmine for the Redmine source tests, installed and started from ../shared/tools/redmine."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_pipeline.defs import settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tools() -> Path:
    return settings.shared_dir() / "tools" / "redmine"


@pytest.fixture(scope="session")
def redmine() -> Iterator[dict[str, str]]:
    """``{"url": ..., "api_key": ...}`` of a seeded Redmine 5; skips with the reason when it cannot run here."""
    tools = _tools()
    if not (tools / "start.sh").exists():
        pytest.skip(f"Redmine tools not found at {tools} (set SYNC_PIPELINE_SHARED_DIR)")
    if os.geteuid() != 0:
        pytest.skip("installing and starting Redmine needs root (apt, www-data); run the suite as root or in CI")
    if shutil.which("apt-get") is None and not Path("/usr/share/redmine").exists():
        pytest.skip("no apt-get on this machine: cannot install Debian's redmine package")
    state = Path(os.environ.get("REDMINE_STATE_DIR", "/var/tmp/redmine-sandbox"))
    pid_file = state / "server.pid"
    running_before = pid_file.exists() and pid_file.read_text().strip() and \
        Path(f"/proc/{pid_file.read_text().strip()}").exists()
    # never the default port 3000 (the Dagster UI's in `make dev`): a free one, unless one is already running
    env = {**os.environ, "REDMINE_PORT": str(_free_port())}
    if not (state / "config.env").exists():  # first time on this machine: apt install (~30 s)
        inst = subprocess.run([str(tools / "install.sh")], capture_output=True, text=True, timeout=900, env=env)
        if inst.returncode != 0:
            pytest.skip(f"Redmine could not be installed here (install.sh exit {inst.returncode}): "
                        f"{inst.stderr.strip().splitlines()[-1:] or inst.stdout[-300:]}")
    start = subprocess.run([str(tools / "start.sh")], capture_output=True, text=True, timeout=300, env=env)
    if start.returncode != 0:
        pytest.skip(f"Redmine did not start (start.sh exit {start.returncode}): {start.stderr.strip()[-400:]}")
    info = dict(line.split("=", 1) for line in start.stdout.splitlines() if "=" in line)
    try:
        seed = subprocess.run(["python3", str(tools / "seed.py"), "--url", info["REDMINE_URL"], "--key",
                               info["REDMINE_API_KEY"]], capture_output=True, text=True, timeout=600)
        if seed.returncode != 0:
            pytest.fail(f"seeding Redmine failed: {seed.stderr[-600:]}")
        yield {"url": info["REDMINE_URL"], "api_key": info["REDMINE_API_KEY"],
               "billable_cf_id": info.get("REDMINE_BILLABLE_CF_ID", "1")}
    finally:
        if not running_before:  # stop only what this session started
            subprocess.run([str(tools / "stop.sh")], capture_output=True, text=True, timeout=60, env=env)
