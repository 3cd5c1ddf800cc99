"""Change-to-invoice latency through the sensor path: time-entry edit in the sandbox project system →
change-feed sensor tick (dagster-daemon) → sync run → updated DRAFT invoice in the sandbox accounting system.

Everything real and local: the sandbox systems on free ports, a Dagster instance of its own (the production
``deploy/dagster.yaml`` on a fresh PostgreSQL database with ``--postgres``, else SQLite), ``dagster-daemon``
as a subprocess with the ``harvest_changefeed`` sensor running at ``--sensor-interval`` seconds. Each
iteration edits one time entry of the current period over Harvest's HTTP API and waits until the draft
invoice's quantities show it; edits are spread at random over the sensor's cycle.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ENTITY_CLIENT = "1"  # Acme Corp (GBP) in the demo data
BENCH_ENTRIES = (  # (id, user, project, task, rate): each on its own invoice line
    (5001, 1, 11, 1, "120"),
    (5002, 2, 11, 2, "100"),
    (5003, 3, 12, 3, "90"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--iterations", type=int, default=20, help="edits to time (default 20)")
    p.add_argument("--sensor-interval", type=int, default=30, help="change-feed sensor interval, s (default 30)")
    p.add_argument("--executor", default="in_process", choices=["in_process", "multiprocess"],
                   help="executor of the sync runs (default in_process)")
    p.add_argument("--postgres", action="store_true",
                   help="use deploy/dagster.yaml on a fresh database on 127.0.0.1:5432 (dropped afterwards)")
    p.add_argument("--timeout", type=float, default=300.0, help="give up on one edit after this many seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _seed_current_period(sb, period) -> dict[int, Decimal]:
    from sync_pipeline.sandbox import demo_data

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    day = min(period.end, datetime.now(UTC).date())
    hours: dict[int, Decimal] = {}
    docs = []
    for i, (eid, user, project, task, rate) in enumerate(BENCH_ENTRIES):
        h = Decimal("1.00") + Decimal(i) / 4
        doc = demo_data.time_entry_doc((eid, user, project, task, day.isoformat(), str(h), True, rate, True,
                                        f"latency bench entry {eid}"))
        doc["updated_at"] = doc["created_at"] = now
        docs.append(doc)
        hours[eid] = h
    sb.harvest.upsert_many("time_entries", demo_data.HARVEST_ACCOUNT_ID, docs)
    return hours


def _draft_hours(sb, prefix: str) -> Decimal | None:
    """Total quantity of the live draft invoice of the bench's client and period (any revision), read from the
    sandbox's own store (no API call: the bench must not spend the pipeline's Xero rate limit)."""
    from sync_pipeline.sandbox import demo_data

    for inv in sb.xero.all("Invoices", demo_data.XERO_TENANT_ID):
        if str(inv.get("Reference", "")).startswith(prefix) and inv.get("Status") == "DRAFT":
            return sum((Decimal(str(li.get("Quantity") or 0)) for li in inv.get("LineItems", [])), Decimal(0))
    return None


def _wait_for(sb, reference: str, expected: Decimal, timeout: float, daemon: subprocess.Popen) -> float | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _draft_hours(sb, reference) == expected:
            return time.time()
        if daemon.poll() is not None:
            raise RuntimeError("dagster-daemon exited during the bench")
        time.sleep(0.2)
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sync_pipeline.defs import settings
    from sync_pipeline.domain import ids
    from sync_pipeline.domain.periods import Period, today_in
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.sandbox.run import start_sandboxes

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="sp-latency-"))
    root = settings.PROJECT_ROOT
    bin_dir = Path(sys.executable).parent
    sb = start_sandboxes(tmp / "sandbox")
    period = Period.of(today_in("Europe/London"))
    hours = _seed_current_period(sb, period)
    reference = ids.invoice_reference(demo_data.DEMO_ENTITY, ENTITY_CLIENT, period.key).rsplit("-R", 1)[0] + "-R"
    home = tmp / "dagster_home"
    home.mkdir()
    env = {**os.environ, **sb.env, "DAGSTER_HOME": str(home), "SYNC_PIPELINE_DATA_DIR": str(tmp / "data"),
           "SYNC_PIPELINE_SENSOR_INTERVAL": str(args.sensor_interval), "SYNC_PIPELINE_EXECUTOR": args.executor,
           "SYNC_PIPELINE_CHANGEFEED_START": (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "PYTHONUNBUFFERED": "1"}
    for k in ("SYNC_PIPELINE_WAREHOUSE", "SYNC_PIPELINE_STORE_URL", "SYNC_PIPELINE_MAPPING"):
        env.pop(k, None)
    pg_db = None
    if args.postgres:
        import sqlalchemy as sa

        pg_db = f"sp_latency_{os.getpid()}"
        admin = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{pg_db}"'))
        shutil.copy(root / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env.update({"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
                    "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg_db})
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    procs: list[subprocess.Popen] = []
    latencies: list[float] = []
    missed = 0
    try:
        subprocess.run([str(bin_dir / "dagster"), "sensor", "start", "harvest_changefeed", "-w",
                        str(root / "workspace.yaml")], cwd=root, env=env, check=True, capture_output=True)
        log = open(tmp / "daemon.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(root / "workspace.yaml")],
                                      cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
        t_warm = time.time()
        warm = _wait_for(sb, reference, sum(hours.values()), args.timeout + 120, procs[0])
        if warm is None:
            raise RuntimeError(f"the first sync never produced draft {reference}; see {tmp / 'daemon.log'}")
        warmup = warm - t_warm
        headers = {"Authorization": f"Bearer {sb.harvest.token}", "Harvest-Account-Id": demo_data.HARVEST_ACCOUNT_ID}
        with httpx.Client(base_url=sb.harvest_server.url, headers=headers, timeout=30) as client:
            for i in range(args.iterations):
                time.sleep(rng.uniform(0, args.sensor_interval))
                eid = BENCH_ENTRIES[i % len(BENCH_ENTRIES)][0]
                hours[eid] += Decimal("0.25")
                t0 = time.time()
                client.patch(f"/v2/time_entries/{eid}", json={"hours": str(hours[eid])}).raise_for_status()
                t1 = _wait_for(sb, reference, sum(hours.values()), args.timeout, procs[0])
                if t1 is None:
                    missed += 1
                    print(f"  edit {i + 1}: not on the draft after {args.timeout:.0f} s", flush=True)
                    hours[eid] -= Decimal("0.25")  # whatever happened, the next edit is measured on its own
                    continue
                latencies.append(t1 - t0)
                print(f"  edit {i + 1}/{args.iterations}: {t1 - t0:.1f} s", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            try:  # the daemon's code server and run workers, if they outlived it
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sb.stop()
        if pg_db:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    p95 = _percentile(latencies, 0.95)
    return {
        "instance": "postgres (deploy/dagster.yaml)" if args.postgres else "sqlite",
        "executor": args.executor,
        "sensor_interval_s": args.sensor_interval,
        "edits": args.iterations,
        "arrived": len(latencies),
        "missed": missed,
        "first_sync_s": round(warmup, 1),
        "p50_s": round(_percentile(latencies, 0.5), 1),
        "p95_s": round(p95, 1),
        "max_s": round(max(latencies), 1) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 1) if latencies else None,
        "target": "p95 <= 60 s",
        "ok": bool(latencies) and missed == 0 and p95 <= 60,
    }
