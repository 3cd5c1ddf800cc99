"""Start the sandbox project system and accounting system, seeded, on localhost."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import HarvestSandbox
from sync_pipeline.sandbox.qbo import QboSandbox
from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline.sandbox.xero import XeroSandbox

DEFAULT_HARVEST_PORT = 8710
DEFAULT_XERO_PORT = 8720
DEFAULT_QBO_PORT = 8750


@dataclass
class Sandboxes:
    harvest: HarvestSandbox
    xero: XeroSandbox
    harvest_server: SandboxServer
    xero_server: SandboxServer
    qbo: QboSandbox | None = None
    qbo_server: SandboxServer | None = None
    qbo_refresh_tokens: dict[str, str] | None = None  # realm -> a refresh token issued at start

    @property
    def env(self) -> dict[str, str]:
        """The environment the pipeline's resources read (see sync_pipeline.defs.resources)."""
        return {
            "HARVEST_BASE_URL": self.harvest_server.url,
            "HARVEST_ACCESS_TOKEN": self.harvest.token,
            "XERO_BASE_URL": self.xero_server.url,
            "XERO_CLIENT_ID": self.xero.client_id,
            "XERO_CLIENT_SECRET": self.xero.client_secret,
            **self.qbo_env,
        }

    @property
    def qbo_env(self) -> dict[str, str]:
        """QuickBooks Online: base URL (API under ``/v3/company/{realm}``; OAuth discovery at
        ``/.well-known/openid_configuration``), client credentials, and a refresh token per demo realm."""
        if self.qbo is None or self.qbo_server is None:
            return {}
        env = {"QBO_BASE_URL": self.qbo_server.url, "QBO_CLIENT_ID": self.qbo.client_id,
               "QBO_CLIENT_SECRET": self.qbo.client_secret}
        for realm, token in (self.qbo_refresh_tokens or {}).items():
            env[f"QBO_REFRESH_TOKEN_{realm}"] = token
        return env

    def stop(self) -> None:
        self.harvest_server.stop()
        self.xero_server.stop()
        if self.qbo_server is not None:
            self.qbo_server.stop()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandboxes(state_dir: str | Path, *, harvest_port: int = 0, xero_port: int = 0,
                    seed: bool = True, qbo_port: int = 0, **xero_limits: int) -> Sandboxes:
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    harvest = HarvestSandbox(str(state / "harvest.sqlite3"))
    xero = XeroSandbox(str(state / "xero.sqlite3"), **xero_limits)
    qbo = QboSandbox(str(state / "qbo.sqlite3"))
    if seed:
        demo_data.seed_harvest(harvest)
        demo_data.seed_xero(xero)
        demo_data.seed_qbo(qbo)
    hs = SandboxServer(harvest, port=harvest_port).start()
    harvest.base_url = hs.url
    xs = SandboxServer(xero, port=xero_port).start()
    xero.base_url = xs.url
    qs = SandboxServer(qbo, port=qbo_port).start()
    qbo.base_url = qs.url
    tokens = {c.realm: qbo.issue_tokens(c.realm)["refresh_token"] for c in qbo.realms()}
    return Sandboxes(harvest, xero, hs, xs, qbo, qs, tokens)


def export_env(sb: Sandboxes) -> None:
    os.environ.update(sb.env)
