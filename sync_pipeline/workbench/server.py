"""Wiring the workbench to the project's configuration: matching log, users, policies, settlement."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import uvicorn

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.contracts.mapping import load_mapping
from sync_pipeline.contracts.reconciliation import load_reconciliation_config
from sync_pipeline.defs import settings
from sync_pipeline.services import cash_reconcile
from sync_pipeline.services.cash_review import Settler
from sync_pipeline.services.dead_letters import PostingEnv
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.health import HealthSource
from sync_pipeline.workbench.security import WorkbenchSecurity, is_loopback


def target_settler(log: MatchingLog, make_target: Callable[[str], AccountingTarget],
                   policy_for) -> Callable[[str], Settler]:
    """Settle accepted decisions at once through the entity's accounting target."""

    def for_entity(entity: str) -> Settler:
        def settle(ids: list[int], actor: str, role: str) -> dict[str, int]:
            target = make_target(entity)
            try:
                return cash_reconcile.settle(target, log, entity=entity, policy=policy_for(entity), actor=actor,
                                             role=role, decision_ids=ids)
            finally:
                target.close()

        return settle

    return for_entity


def security_from_env(*, insecure_cookies: bool = False, host: str = "127.0.0.1") -> WorkbenchSecurity:
    """The workbench's protections as configured: ``SYNC_PIPELINE_WORKBENCH_ORIGIN`` (the public origin(s) behind a
    proxy, comma-separated), ``SYNC_PIPELINE_WORKBENCH_IDLE_MINUTES`` (30), ``SYNC_PIPELINE_WORKBENCH_SESSION_HOURS``
    (12). Cookies without ``Secure`` only for plain-http development on a loopback address."""
    if insecure_cookies and not is_loopback(host):
        raise ValueError(f"--insecure-cookies is for plain-http development on this machine only; {host} is not a "
                         "loopback address: serve the workbench over https (or behind a TLS proxy) instead")

    def number(name: str, default: float) -> float:
        raw = os.environ.get(name, "")
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1.0
        if not 0 < value < 10_000:
            raise ValueError(f"{name}={raw!r}: give a positive number (default {default:g})")
        return value

    origins = tuple(o.strip() for o in os.environ.get("SYNC_PIPELINE_WORKBENCH_ORIGIN", "").split(",") if o.strip())
    return WorkbenchSecurity(secure_cookies=not insecure_cookies, origins=origins,
                             idle_timeout=timedelta(minutes=number("SYNC_PIPELINE_WORKBENCH_IDLE_MINUTES", 30)),
                             absolute_timeout=timedelta(hours=number("SYNC_PIPELINE_WORKBENCH_SESSION_HOURS", 12)))


def build(store_url: str | None = None, *, settle: bool = True, security: WorkbenchSecurity | None = None):
    """The workbench over the operational store: its matching log, and its users (``sync-pipeline users``)."""
    store = OperationalStore(store_url or settings.operational_store_url())
    log = MatchingLog(store)
    users = UserStore(store)
    recon = load_reconciliation_config(settings.reconciliation_config_path())
    settler = posting = None
    warehouse = Warehouse(settings.warehouse_root())
    from sync_pipeline.defs.resources import accounting_from_environment

    accounting = accounting_from_environment()  # each entity's own target; only it must be configured
    if accounting is not None:
        mapping = load_mapping(settings.mapping_path())
        if settle:
            settler = target_settler(log, lambda entity: accounting.target(mapping.entity(entity)), recon.policy)
        posting = PostingEnv(mapping, warehouse, store, accounting.target)  # re-posts of sync exceptions
    health = HealthSource(warehouse, _entities)
    return create_app(log, users, policy_for=recon.policy, settler=settler, security=security or security_from_env(),
                      warehouse=warehouse, health=health, posting=posting)


def _entities() -> list[str]:
    """The mapping's entities, read when the page is asked for (a changed mapping shows at once)."""
    return [e.key for e in load_mapping(settings.mapping_path()).entities]


class BackgroundServer:
    """Uvicorn in a thread on a free port (tests, the demo)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> BackgroundServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the workbench server did not start")
            threading.Event().wait(0.02)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def ensure_parent(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
