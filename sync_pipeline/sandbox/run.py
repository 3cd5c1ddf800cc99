"""Start the sandbox project system and accounting system, seeded, on localhost."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.harvest import HarvestSandbox
from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline.sandbox.xero import XeroSandbox

DEFAULT_HARVEST_PORT = 8710
DEFAULT_XERO_PORT = 8720


@dataclass
class Sandboxes:
    harvest: HarvestSandbox
    xero: XeroSandbox
    harvest_server: SandboxServer
    xero_server: SandboxServer

    @property
    def env(self) -> dict[str, str]:
        """The environment the pipeline's resources read (see sync_pipeline.defs.resources)."""
        return {
            "HARVEST_BASE_URL": self.harvest_server.url,
            "HARVEST_ACCESS_TOKEN": self.harvest.token,
            "XERO_BASE_URL": self.xero_server.url,
            "XERO_CLIENT_ID": self.xero.client_id,
            "XERO_CLIENT_SECRET": self.xero.client_secret,
        }

    def stop(self) -> None:
        self.harvest_server.stop()
        self.xero_server.stop()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandboxes(state_dir: str | Path, *, harvest_port: int = 0, xero_port: int = 0,
                    seed: bool = True, **xero_limits: int) -> Sandboxes:
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    harvest = HarvestSandbox(str(state / "harvest.sqlite3"))
    xero = XeroSandbox(str(state / "xero.sqlite3"), **xero_limits)
    if seed:
        demo_data.seed_harvest(harvest)
        demo_data.seed_xero(xero)
    hs = SandboxServer(harvest, port=harvest_port).start()
    harvest.base_url = hs.url
    xs = SandboxServer(xero, port=xero_port).start()
    xero.base_url = xs.url
    return Sandboxes(harvest, xero, hs, xs)


def export_env(sb: Sandboxes) -> None:
    os.environ.update(sb.env)
