"""A real Redmine for the Redmine source tests, installed and started from ../shared/tools/redmine.

The scripts keep one server per machine (one state dir, one pid file). Several test sessions may run at
once (each helper's suite, CI), so the fixture coordinates through a lock file in the state dir: it
reuses a running server on whatever port it listens on, records this session as a user, and stops the
server only when the last user leaves. A new server gets a free port, never 3000 (the Dagster UI's).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync_pipeline.defs import settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tools() -> Path:
    return settings.shared_dir() / "tools" / "redmine"


def _state() -> Path:
    return Path(os.environ.get("REDMINE_STATE_DIR", "/var/tmp/redmine-sandbox"))


@contextmanager
def _locked(state: Path) -> Iterator[Path]:
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "pytest.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield state / "pytest-users.json"
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _read(path: Path) -> tuple[set[int], bool]:
    """Live pytest sessions using the server, and whether it was started outside pytest (never ours to stop)."""
    try:
        data = json.loads(path.read_text())
        return {p for p in data["users"] if _alive(p)}, bool(data.get("external"))
    except (OSError, ValueError, KeyError, TypeError):
        return set(), False


def _write(path: Path, users: set[int], external: bool) -> None:
    path.write_text(json.dumps({"users": sorted(users), "external": external}))


def _running_port(state: Path) -> int | None:
    """The port of the server in the pid file, if it is a live thin process."""
    try:
        pid = int((state / "server.pid").read_text().strip())
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    m = re.search(r"thin start .*-p (\d+)", cmd)
    return int(m.group(1)) if m else None


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
    state = _state()
    with _locked(state) as users_file:
        users, external = _read(users_file)
        running = _running_port(state)
        if running and not users:
            external = True  # someone started it by hand: use it, leave it running
        elif not running:
            external = False
        port = running or _free_port()
        env = {**os.environ, "REDMINE_PORT": str(port)}
        if not (state / "config.env").exists():  # first time on this machine: apt install (~30 s)
            inst = subprocess.run([str(tools / "install.sh")], capture_output=True, text=True, timeout=900, env=env)
            if inst.returncode != 0:
                pytest.skip(f"Redmine could not be installed here (install.sh exit {inst.returncode}): "
                            f"{inst.stderr.strip().splitlines()[-1:] or inst.stdout[-300:]}")
        start = subprocess.run([str(tools / "start.sh")], capture_output=True, text=True, timeout=300, env=env)
        if start.returncode != 0:
            pytest.skip(f"Redmine did not start (start.sh exit {start.returncode}): {start.stderr.strip()[-400:]}")
        info = dict(line.split("=", 1) for line in start.stdout.splitlines() if "=" in line)
        seed = subprocess.run(["python3", str(tools / "seed.py"), "--url", info["REDMINE_URL"], "--key",
                               info["REDMINE_API_KEY"]], capture_output=True, text=True, timeout=600)
        _write(users_file, users | {os.getpid()}, external)
    try:
        if seed.returncode != 0:
            pytest.fail(f"seeding Redmine failed: {seed.stderr[-600:]}")
        yield {"url": info["REDMINE_URL"], "api_key": info["REDMINE_API_KEY"],
               "billable_cf_id": info.get("REDMINE_BILLABLE_CF_ID", "1")}
    finally:
        with _locked(state) as users_file:
            users, external = _read(users_file)
            left = users - {os.getpid()}
            _write(users_file, left, external)
            if not left and not external:  # the last session using it stops it
                subprocess.run([str(tools / "stop.sh")], capture_output=True, text=True, timeout=60, env=env)
