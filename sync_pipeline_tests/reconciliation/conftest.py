"""Fixtures for the reconciliation tests: a headless Chromium for the workbench's browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _install_chromium() -> str | None:
    """Debian's Chromium, installed on first use when we may (root with apt-get); None otherwise."""
    found = shutil.which("chromium")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "chromium"]):
        subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)
        if shutil.which("chromium"):
            return shutil.which("chromium")
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _install_chromium()
    if path is None:
        pytest.skip("the workbench browser tests need Debian's Chromium: run `apt-get install -y chromium` as root "
                    "(the tests install it themselves when run as root with apt-get available)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    """A headless Chromium for one test module. Not per session: while Playwright's sync API is open it keeps an
    asyncio loop running on the main thread, and a later test on the same xdist worker calling ``asyncio.run``
    (Dagster's GraphQL client) would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
