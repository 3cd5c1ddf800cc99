"""A production-shaped Dagster deployment for tests: deploy/dagster.yaml on a fresh PostgreSQL database,
the operational store on PostgreSQL too, the sandbox systems seeded with two entities, and a real
``dagster-daemon`` process. Everything is created per test module and torn down afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sync_pipeline.defs import settings
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.run import Sandboxes, start_sandboxes
from sync_pipeline_tests.pg_util import PG_HOST, PG_PORT, PG_USER, pg_database, pg_url

SECOND_ENTITY, SECOND_ACCOUNT, SECOND_TENANT = "acme-ie", "100002", "9d2e4b1c-0a7f-4c3e-8b6d-5f1a2c3d4e5f"
ROOT = settings.PROJECT_ROOT


def seed_second_entity(sb: Sandboxes) -> None:
    """The demo dataset again, under another Harvest account and Xero tenant."""
    h = sb.harvest
    h.add_account(SECOND_ACCOUNT, "Acme Ireland Ltd")
    h.upsert_many("clients", SECOND_ACCOUNT, [dict(c) for c in demo_data.CLIENTS])
    h.upsert_many("projects", SECOND_ACCOUNT, [
        {**{k: v for k, v in p.items() if k != "client"},
         "client": {"id": p["client"], "name": demo_data._ref(demo_data.CLIENTS, p["client"])["name"],
                    "currency": demo_data._ref(demo_data.CLIENTS, p["client"])["currency"]}}
        for p in demo_data.PROJECTS])
    h.upsert_many("tasks", SECOND_ACCOUNT, [dict(t) for t in demo_data.TASKS])
    h.upsert_many("users", SECOND_ACCOUNT, [dict(u) for u in demo_data.USERS])
    h.upsert_many("time_entries", SECOND_ACCOUNT, [demo_data.time_entry_doc(r) for r in demo_data.TIME_ENTRIES])
    sb.xero.add_tenant(SECOND_TENANT, "Acme Ireland Ltd", "GBP")
    demo_data.seed_xero_catalog(sb.xero, SECOND_TENANT)  # the items and tracking options its mapping names


def two_entity_mapping(dest: Path) -> Path:
    doc = yaml.safe_load(Path(settings.mapping_path()).read_text())
    first = next(e for e in doc["entities"] if e["key"] == demo_data.DEMO_ENTITY)
    doc["entities"] = [first, {**first, "key": SECOND_ENTITY, "name": "Acme Ireland Ltd",
                               "harvest_account_id": SECOND_ACCOUNT, "xero_tenant_id": SECOND_TENANT}]
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    sandboxes: Sandboxes
    entities: list[str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def instance(self):
        from dagster import DagsterInstance

        return DagsterInstance.from_config(str(self.home))

    def start(self, *argv: str, log: str) -> subprocess.Popen:
        out = open(self.home / log, "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(list(argv), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.processes.append(p)
        return p

    def start_daemon(self) -> subprocess.Popen:
        exe = Path(sys.executable).with_name("dagster-daemon")
        return self.start(str(exe), "run", "-w", str(ROOT / "workspace.yaml"), log="daemon.log")

    def stop_all(self) -> None:
        for p in reversed(self.processes):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.time() + 20
        for p in self.processes:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            try:  # children of the group that outlived their parent (the daemon's code server)
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.processes.clear()

    def log(self, name: str) -> str:
        p = self.home / name
        return p.read_text(errors="replace")[-6000:] if p.exists() else ""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("deploy")
    with pg_database("sp_dagster") as dagster_db, pg_database("sp_opstore") as op_db:
        home = base / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        sb = start_sandboxes(base / "sandbox")
        seed_second_entity(sb)
        env = {
            **os.environ,
            **sb.env,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": str(PG_PORT), "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": dagster_db,
            "SYNC_PIPELINE_DATA_DIR": str(base / "data"),
            "SYNC_PIPELINE_WAREHOUSE": str(base / "warehouse"),
            "SYNC_PIPELINE_STORE_URL": pg_url(op_db),
            "SYNC_PIPELINE_MAPPING": str(two_entity_mapping(base / "mapping.yaml")),
            "SYNC_PIPELINE_EXECUTOR": "in_process",
            "PYTHONUNBUFFERED": "1",
            # the venv's console scripts (dagster-daemon, celery) find each other
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the test process reads the same instance and stores
        dep = Deployment(home, env, sb, [demo_data.DEMO_ENTITY, SECOND_ENTITY])
        try:
            with dep.instance() as inst:
                inst.add_dynamic_partitions("entity", dep.entities)
            yield dep
        finally:
            dep.stop_all()
            sb.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
