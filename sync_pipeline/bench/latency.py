"""Change-to-invoice latency on the path users take: time-entry edit in the sandbox project system →
change-feed sensor tick (dagster-daemon) → run queued (QueuedRunCoordinator) → run worker launched → updated DRAFT
invoice in the sandbox accounting system. Then one partition launched as the UI launches it, against the demo's
way of running it.

Everything real and local: the sandbox systems on free ports, a Dagster instance of its own (the production
``deploy/dagster.yaml`` on a fresh PostgreSQL database with ``--postgres``, else the local instance ``make demo``
and ``make dev`` use, ``defs/instance.py``: SQLite with the same run queue), ``dagster-daemon`` as a subprocess
with the ``harvest_changefeed`` sensor running at ``--sensor-interval`` seconds, the code location's executor
(in process unless ``--executor``). Each iteration edits one time entry of the current period over Harvest's HTTP
API and waits until the draft invoice's quantities show it; edits are spread at random over the sensor's cycle.

Last, the same partition twice: ``dagster job launch`` (what the UI's Launchpad does: the run is submitted to the
queue, the daemon launches a run worker; timed from the run's creation to its end) and ``dagster job execute``
(the demo's way: in the calling process, imports included; timed wall clock).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from sync_pipeline.bench.latency_stages import Edit, edit_stages, percentile, run_stages, summarize, tick_periods

ENTITY_CLIENT = "1"  # Acme Corp (GBP) in the demo data
BENCH_ENTRIES = (  # (id, user, project, task, rate): each on its own invoice line
    (5001, 1, 11, 1, "120"),
    (5002, 2, 11, 2, "100"),
    (5003, 3, 12, 3, "90"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--iterations", type=int, default=20, help="edits to time (default 20)")
    p.add_argument("--sensor-interval", type=int, default=10, help="change-feed sensor interval, s (default 10)")
    p.add_argument("--executor", default=None, choices=["in_process", "multiprocess"],
                   help="executor of the sync runs (default: the code location's, in_process)")
    p.add_argument("--postgres", action="store_true",
                   help="use deploy/dagster.yaml on a fresh database on 127.0.0.1:5432 (dropped afterwards)")
    p.add_argument("--timeout", type=float, default=300.0, help="give up on one edit after this many seconds")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")


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


def _auto_approval(data_dir: Path, env: dict[str, str]) -> None:
    """An auto-approval policy for the bench's entity (two admins, docs/controls.md), as a team syncing in real time
    has: the plans post without waiting for a person, so the bench measures the machinery."""
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.store.approvals import PlanApprovals
    from sync_pipeline.store.operational import OperationalStore

    data_dir.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("SYNC_PIPELINE_DATA_DIR")
    os.environ["SYNC_PIPELINE_DATA_DIR"] = str(data_dir)  # the run workers' keyring (beside it), not the checkout's
    try:
        approvals = PlanApprovals(OperationalStore(env.get("SYNC_PIPELINE_STORE_URL")
                                                   or f"sqlite:///{data_dir / 'operational.sqlite3'}"))
        p = approvals.propose_policy(demo_data.DEMO_ENTITY, max_documents=50,
                                     max_total_minor={"GBP": 10**12, "EUR": 10**12}, by="bench-admin",
                                     comment="latency bench: plans post without an approver")
        approvals.approve_policy(demo_data.DEMO_ENTITY, p.version, by="bench-admin-2")
    finally:
        if saved is None:
            os.environ.pop("SYNC_PIPELINE_DATA_DIR")
        else:
            os.environ["SYNC_PIPELINE_DATA_DIR"] = saved


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


def stop_on_sigterm() -> None:
    """SIGTERM (``timeout``, a CI runner) ends the bench like Ctrl-C: through its ``finally``, which stops the
    dagster-daemon it started (own session) with its code server and run workers. Killed outright, they ran on."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.instance import ensure_local_instance
    from sync_pipeline.domain import ids
    from sync_pipeline.domain.periods import Period, today_in
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.sandbox.run import start_sandboxes

    stop_on_sigterm()
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
           "SYNC_PIPELINE_SENSOR_INTERVAL": str(args.sensor_interval),
           **({"SYNC_PIPELINE_EXECUTOR": args.executor} if args.executor else {}),
           "SYNC_PIPELINE_CHANGEFEED_START": (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "PYTHONUNBUFFERED": "1"}
    for k in ("SYNC_PIPELINE_WAREHOUSE", "SYNC_PIPELINE_STORE_URL", "SYNC_PIPELINE_MAPPING",
              *(() if args.executor else ("SYNC_PIPELINE_EXECUTOR",))):
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
        ensure_local_instance(home)
    _auto_approval(tmp / "data", env)
    load_before = os.getloadavg()
    procs: list[subprocess.Popen] = []
    latencies: list[float] = []
    edits: list[Edit] = []
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
                edits.append(Edit(eid, t0, t1))
                print(f"  edit {i + 1}/{args.iterations}: {t1 - t0:.1f} s", flush=True)
        launches = _launch_and_execute(home, env, bin_dir, root, procs[0], args.timeout, edits)
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
    p95 = percentile(latencies, 0.95)
    ratio = launches["ui_launch_s"] / launches["demo_execute_s"]
    return {
        "instance": "postgres (deploy/dagster.yaml)" if args.postgres else "sqlite (defs/instance.py)",
        "executor": args.executor or "in_process (code location default)",
        "load_avg_1m_before_after": f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}",
        "sensor_interval_s": args.sensor_interval,
        "edits": args.iterations,
        "arrived": len(latencies),
        "missed": missed,
        "first_sync_s": round(warmup, 1),
        "p50_s": round(percentile(latencies, 0.5), 1),
        "p95_s": round(p95, 1),
        "max_s": round(max(latencies), 1) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 1) if latencies else None,
        "sensor_runs_queued_to_done_p50_s": launches["sensor_runs_p50_s"],
        "sensor_tick_period_p50_max_s": launches["tick_period"],
        **{f"stage {k} p50/p95 s": v for k, v in launches["stages"].items()},
        "ui_launch_one_partition_s": round(launches["ui_launch_s"], 1),
        "ui_launch_stages_s": launches["ui_stages"],
        "demo_execute_one_partition_s": round(launches["demo_execute_s"], 1),
        "statuses_ui_demo": f"{launches['ui_status']} / {launches['demo_status']}",
        "ui_over_demo": round(ratio, 2),
        "target": "p95 <= 20 s; UI launch <= 1.5 x demo",
        "ok": bool(latencies) and missed == 0 and p95 <= 20 and ratio <= 1.5,
    }


def _launch_and_execute(home: Path, env: dict[str, str], bin_dir: Path, root: Path, daemon: subprocess.Popen,
                        timeout: float, edits: list[Edit]) -> dict[str, Any]:
    """One partition launched as the UI launches it (queued, daemon, run worker) and executed as the demo does."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})  # the instance's settings
    done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    with DagsterInstance.from_config(str(home)) as instance:
        deadline = time.time() + timeout
        while instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING,
                                                           DagsterRunStatus.STARTED])) and time.time() < deadline:
            time.sleep(0.5)  # the sensor's last runs finish first: the launch must not wait in the queue for them
        sensor = [r for r in instance.get_run_records(RunsFilter(job_name="sync_job", statuses=list(done)))
                  if r.end_time]
        durations = [r.end_time - r.create_timestamp.timestamp() for r in sensor]
        stages = summarize(edit_stages(instance, edits))
        periods = tick_periods(instance)
        tags = {k: v for k, v in sensor[0].dagster_run.tags.items() if k.startswith("dagster/partition")}
        ws, run_id = str(root / "workspace.yaml"), str(uuid.uuid4())
        subprocess.run([str(bin_dir / "dagster"), "job", "launch", "-w", ws, "-j", "sync_job", "--run-id", run_id,
                        "--tags", json.dumps(tags)], cwd=root, env=env, capture_output=True, text=True, check=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            rec = instance.get_run_record_by_id(run_id)
            if rec and rec.dagster_run.status in done and rec.end_time:
                break
            if daemon.poll() is not None:
                raise RuntimeError("dagster-daemon exited during the bench")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the launched run {run_id} did not finish in {timeout:.0f} s")
        ui_s = rec.end_time - rec.create_timestamp.timestamp()
        ui_stages = run_stages(instance, run_id)
        ui_status = rec.dagster_run.status.value
    t0 = time.time()
    demo = subprocess.run([str(bin_dir / "dagster"), "job", "execute", "-m", "sync_pipeline.defs.definitions", "-j",
                           "sync_job", "--tags", json.dumps(tags)], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    demo_s = time.time() - t0
    if "RUN_START" not in demo.stdout + demo.stderr:
        raise RuntimeError(f"dagster job execute did not start the run: {(demo.stdout + demo.stderr)[-2000:]}")
    return {"ui_launch_s": ui_s, "ui_status": ui_status, "demo_execute_s": demo_s,
            "demo_status": "SUCCESS" if demo.returncode == 0 else "FAILURE",
            "sensor_runs_p50_s": round(percentile(durations, 0.5), 1), "stages": stages, "ui_stages": ui_stages,
            "tick_period": f"{percentile(periods, 0.5):.1f} / {max(periods, default=float('nan')):.1f}"}
