"""Bill N generated time entries: clean → billables → invoice drafts, exactly as the Dagster assets do.

1. Generates ``--entries`` raw time entries (the ``raw_time_entries`` contract plus ``started_at`` and
   approvals) with DuckDB itself (hash-derived values, deterministic) into one warehouse partition
   (``raw_time_entries/entity=bench/period=2026-10.parquet``): ~4 entries per person-day over a month,
   200 clients in 4 currencies, 1,000 projects, 10 tasks, a mapping with client, project, user-on-project
   and task rate cards (effective-dated), rounding rules per client, and a few per cent of held,
   non-billable and bad entries (negative hours, unknown project, missing rate, over 24 h in a day).
2. Two reference figures over the same file: the floor, a bare DuckDB scan-join-aggregate (raw ⋈ projects,
   Σ hours x rate per client, project, task, currency; best of three), and the cost of rewriting the raw
   file once as Parquet (what persisting any per-entry asset costs at the least).
3. The pipeline: the functions the assets call (``billing.clean_time_entries_partition``,
   ``billables_partition``, ``invoice_drafts_partition`` + the contract-checked write of the drafts), file to
   file in DuckDB, each per-entry output checked against its pandera contract in SQL before it is published;
   then the blocking conservation check the ``conservation`` asset check runs
   (``billing.conservation_of_partition``).

Prints entries/s end to end, CPU seconds, peak RSS, and the ratios to the floor and to the rewrite.
With ``--encrypt`` the plain and the protected run are alternated ``--pairs`` times, each in its own process
(``bench.billables_pairs``), and the ratio of the protected to the plain run is printed per pair and as a median.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sync_pipeline.bench import peak_rss_mb, stopwatch
from sync_pipeline.contracts.mapping import Mapping
from sync_pipeline.contracts.warehouse import FxRateRow, InvoiceDraftLine
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import billing
from sync_pipeline.store.warehouse import Warehouse

PERIOD = Period(2026, 10)
TODAY = date(2026, 11, 15)
CURRENCIES = ["GBP", "EUR", "USD", "JPY"]

GENERATE = """
COPY (
    WITH g AS (
        SELECT i, hash(i) AS h, hash(i * 7 + 3) AS h2 FROM range($start, $stop) AS t(i)
    ),
    v AS (
        SELECT i, h, h2,
            CAST(1 + h % 200 AS INTEGER) AS client,
            CAST(h2 % 40000 AS INTEGER) AS usr,
            CAST(1 + (h // 1000) % 31 AS INTEGER) AS dom,
            CAST(1 + (h // 100000) % 10 AS INTEGER) AS task,
            CAST((h // 10000000) % 100 AS INTEGER) AS fate
        FROM g
    )
    SELECT
        'harvest' AS source,
        CAST(i AS VARCHAR) AS entry_id,
        strftime(DATE '2026-10-01' + (dom - 1), '%Y-%m-%d') AS spent_date,
        CAST(usr AS VARCHAR) AS user_id,
        'User ' || usr AS user_name,
        CAST(client AS VARCHAR) AS client_id,
        'Client ' || client AS client_name,
        ['GBP', 'EUR', 'USD', 'JPY'][1 + client % 4] AS client_currency,
        CASE WHEN fate = 0 THEN '99999' ELSE CAST(client * 5 + (h2 // 7) % 5 AS VARCHAR) END AS project_id,
        'Project ' || (client * 5 + (h2 // 7) % 5) AS project_name,
        NULL::VARCHAR AS project_code,
        CAST(task AS VARCHAR) AS task_id,
        'Task ' || task AS task_name,
        CASE WHEN fate = 1 THEN CAST(-1 AS DECIMAL(12, 6))
             WHEN fate = 2 THEN CAST(23 AS DECIMAL(12, 6))
             WHEN fate = 8 THEN CAST(0.333333 AS DECIMAL(12, 6))
             ELSE CAST(CAST(5 + (h2 // 1000) % 56 AS DECIMAL(12, 6)) * CAST(0.05 AS DECIMAL(12, 6)) AS DECIMAL(12, 6))
        END AS hours,
        fate NOT IN (3, 4) AS billable,
        CASE WHEN fate = 5 THEN NULL ELSE CAST(80 + (client * 5 + (h2 // 7) % 5) % 9 * 10 AS DECIMAL(18, 6)) END
            AS billable_rate,
        fate NOT IN (6, 7) AS is_closed,
        NULL::VARCHAR AS notes,
        '2026-11-01T00:00:00Z' AS updated_at,
        '2026-11-01T00:00:00Z' AS extracted_at,
        strftime(TIMESTAMP '2026-10-01 08:00:00' + to_days(dom - 1) + to_minutes(CAST((h2 // 13) % 600 AS INTEGER)),
                 '%Y-%m-%dT%H:%M:%SZ') AS started_at,
        CASE WHEN fate < 50 THEN 'Manager ' || (client % 20) END AS approved_by,
        CASE WHEN fate < 50 THEN '2026-11-02T09:00:00Z' END AS approved_at
    FROM v
) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
"""


def generate(dest: Path, n: int) -> Path:
    """``n`` raw entries into one Parquet file (a warehouse partition)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(GENERATE.format(path=str(dest).replace("'", "''")), {"start": 0, "stop": n})
    con.close()
    return dest


def mapping_doc() -> dict[str, Any]:
    clients = [{"source_id": str(c), "name": f"Client {c}", "jurisdiction": "GB",
                "rounding": {"increment_minutes": [None, 6, 15][c % 3], "mode": "up", "scope": ["entry", "day", "line"][c % 3]}}
               for c in range(1, 201)]
    projects = [{"source_id": str(c * 5 + k), "client": str(c)} for c in range(1, 201) for k in range(5)]
    cards = [{"client": str(c), "rate": str(90 + c % 7 * 5)} for c in range(1, 201, 2)]
    cards += [{"project": str(c * 5), "rate": "100", "valid_to": "2026-10-15"} for c in range(1, 201, 3)]
    cards += [{"project": str(c * 5), "rate": "110", "valid_from": "2026-10-16"} for c in range(1, 201, 3)]
    cards += [{"project": str(c * 5 + 1), "user": str(u), "rate": "130"} for c in range(1, 201, 4) for u in range(0, 400, 9)]
    cards += [{"task": "7", "rate": "60", "billable_percent": "50"}, {"rate": "75"}]
    return {"version": 2, "entities": [{
        "key": "bench", "name": "Bench Ltd", "timezone": "Europe/London", "base_currency": "GBP",
        "harvest_account_id": "1", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41", "require_approval": True,
        "tax": {"default_jurisdiction": "GB", "codes": {"GB": {"tax_type": "OUTPUT2", "rate_percent": "20"}}},
        "clients": clients, "projects": projects, "rate_cards": cards}]}


def rates_frame() -> pd.DataFrame:
    from sync_pipeline.services import fx

    rows = [("GBP", "0.8338"), ("USD", "1.1172"), ("JPY", "175.68")]
    return pd.DataFrame([{"base_currency": "EUR", "quote_currency": q, "rate_date": "2026-10-30", "rate": Decimal(r),
                          "source": "ecb-reference", "retrieved_at": "2026-11-02T09:00:00+00:00", "kind": "reference",
                          "client_id": None} for q, r in rows], columns=fx.FX_COLUMNS)


FLOOR = """
SELECT r.client_id, r.project_id, r.task_id, r.client_currency,
       sum(CAST(r.hours AS DECIMAL(38, 6)) * r.billable_rate) AS value, count(*) AS n
FROM read_parquet($g) AS r JOIN map_projects AS p ON p.project_id = r.project_id
GROUP BY ALL
"""

def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


REWRITE = "COPY (SELECT * FROM read_parquet($g)) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"
# single pieces of work the issue requires, each alone over the same file (how far 3x the floor is from reach)
REQUIRED_ALONE = {
    "local_date_across_dst": "SELECT count(DISTINCT CAST(timezone('Europe/London', TRY_CAST(started_at AS TIMESTAMPTZ)) "
                             "AS DATE)) FROM read_parquet($g)",
    "person_day_totals_for_24h_rule": "SELECT count(*) FROM (SELECT user_id, spent_date FROM read_parquet($g) "
                                      "GROUP BY ALL HAVING sum(hours) > 24)",
}


def _timed(fn: Any) -> tuple[float, float]:
    c0, w0 = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - w0, _cpu() - c0


def _against_floor(alone: dict[str, tuple[float, float]], floor_wall: float, floor_cpu: float) -> dict[str, str]:
    return {k: f"{w:.2f} s ({w / floor_wall:.1f}x floor), {c:.2f} CPU-s ({c / floor_cpu:.1f}x)"
            for k, (w, c) in alone.items()}


def _through_dagster(args: argparse.Namespace, work: Path, wh: Warehouse, floor_wall: float, floor_cpu: float,
                     alone: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """clean_time_entries → billables → invoice_drafts with every blocking check on them (contracts in SQL,
    conservation), as one Dagster run of one partition."""
    import yaml
    from dagster import AssetCheckEvaluation, DagsterInstance, materialize

    from sync_pipeline.defs.billing.assets import billables, clean_time_entries, invoice_drafts
    from sync_pipeline.defs.billing.checks import conservation
    from sync_pipeline.defs.partitions import partition_key
    from sync_pipeline.defs.quality.checks import (
        billables_contract,
        clean_time_entries_contract,
        invoice_drafts_contract,
    )
    from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource

    mapping = work / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(mapping_doc()), encoding="utf-8")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("entity", ["bench"])
        c0 = _cpu()
        with stopwatch() as run:
            result = materialize(
                [clean_time_entries, billables, invoice_drafts, clean_time_entries_contract, billables_contract,
                 invoice_drafts_contract, conservation],
                instance=instance, partition_key=partition_key("bench", PERIOD), raise_on_error=False,
                resources={"mapping": MappingResource(path=str(mapping)),
                           "warehouse": WarehouseResource(root=str(wh.root)),
                           "opstore": OperationalStoreResource(url=f"sqlite:///{work / 'operational.sqlite3'}")})
        cpu = _cpu() - c0
        checks = {e.event_specific_data.check_name: e.event_specific_data.passed
                  for e in result.all_events if isinstance(e.event_specific_data, AssetCheckEvaluation)}
        rows: dict[str, Any] = {}
        for node in ("clean_time_entries", "billables", "invoice_drafts"):
            for m in result.asset_materializations_for_node(node):
                rows[node] = m.metadata["dagster/row_count"].value
    return {
        "mode": "dagster materialize (in process, one partition, blocking checks included)",
        "entries": args.entries,
        "run_succeeded": result.success,
        "checks_passed": checks,
        "rows": rows,
        "floor_seconds": round(floor_wall, 3),
        "required_work_alone": _against_floor(alone, floor_wall, floor_cpu),
        "end_to_end_seconds": round(run["seconds"], 2),
        "end_to_end_cpu_seconds": round(cpu, 2),
        "entries_per_second": int(args.entries / run["seconds"]),
        "ratio_to_floor": round(run["seconds"] / floor_wall, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entries", type=int, default=5_000_000, help="time entries to generate and bill (default 5M)")
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine has 2 cores)")
    p.add_argument("--memory-limit", default="1500MB", help="DuckDB memory limit (it spills to disk beyond)")
    p.add_argument("--workdir", default=None, help="where the warehouse goes (a temp dir, removed after)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--encrypt", action="store_true",
                   help="also run with people protected as the extract writes them (names → pseudonyms, person keys; "
                        "docs/data-protection.md) and print both runs side by side: --pairs alternated pairs, each "
                        "run in its own process, the ratio per pair and its median")
    p.add_argument("--pairs", type=int, default=3, help="with --encrypt: how many (plain, protected) pairs (default 3)")
    p.add_argument("--dagster", action="store_true",
                   help="materialize the billing assets and their blocking checks with Dagster (in process, an "
                        "ephemeral instance) instead of calling their functions")


def _pipeline(args: argparse.Namespace, wh: Warehouse, ent: Any, settings: dict[str, Any], floor_wall: float,
              floor_cpu: float, rewrite: tuple[float, float]) -> dict[str, Any]:
    """clean → billables → drafts (+ the drafts' contract write) and the conservation check, timed."""
    e, p = ent.key, PERIOD.key
    c0 = _cpu()
    with stopwatch() as pipe:
        clean = billing.clean_time_entries_partition(wh, ent, PERIOD, TODAY, **settings)
        bills = billing.billables_partition(wh, ent, PERIOD, TODAY, **settings)
        drafts = billing.invoice_drafts_partition(wh, ent, PERIOD, TODAY, **settings)
        wh.write("invoice_drafts", e, p, drafts, InvoiceDraftLine)
    pipe_cpu = _cpu() - c0
    with stopwatch() as checks:
        conservation = billing.conservation_of_partition(wh, e, p)
    end_to_end = pipe["seconds"] + checks["seconds"]
    cpu = _cpu() - c0
    return {
        "pipeline_seconds": round(pipe["seconds"], 2),
        "pipeline_cpu_seconds": round(pipe_cpu, 2),
        "conservation_check_seconds": round(checks["seconds"], 2),
        "end_to_end_seconds": round(end_to_end, 2),
        "end_to_end_cpu_seconds": round(cpu, 2),
        "entries_per_second": int(args.entries / end_to_end),
        "entries_per_cpu_second": int(args.entries / cpu) if cpu else None,
        "ratio_to_floor": round(end_to_end / floor_wall, 1),
        "ratio_to_floor_cpu": round(cpu / floor_cpu, 1) if floor_cpu else None,
        "ratio_to_rewrite": round(end_to_end / rewrite[0], 2),
        "ratio_to_rewrite_cpu": round(cpu / rewrite[1], 2) if rewrite[1] else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "dispositions": dict(sorted(clean["dispositions"].items())),
        "billable_rows": bills["rows"],
        "conservation": "holds" if conservation.passed else "BROKEN",
        "conservation_problems": conservation.problems[:10],
        "per_currency": {c: {k: v for k, v in d.items() if k in ("source_total", "held", "drafted_time",
                                                                 "rounding_remainder")}
                         for c, d in conservation.per_currency.items()},
        "invoices": int(drafts["invoice_key"].nunique()),
        "draft_lines": len(drafts),
        "threads": args.threads,
        "memory_limit": args.memory_limit,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-billables-"))
    try:
        ent = Mapping.model_validate(mapping_doc()).entities[0]
        wh = Warehouse(work / "warehouse")
        e, p = ent.key, PERIOD.key
        raw = Path(wh.path("raw_time_entries", e, p))
        with stopwatch() as gen:
            generate(raw, args.entries)
        wh.write("fx_rates", e, p, rates_frame(), FxRateRow)
        settings = {"threads": args.threads, "memory_limit": args.memory_limit, "spill_dir": work / ".spill"}

        con = billing.connect(ent, **settings)
        floors = [_timed(lambda: con.execute(FLOOR, {"g": str(raw)}).fetchall()) for _ in range(3)]
        floor_rows = len(con.execute(FLOOR, {"g": str(raw)}).fetchall())
        rewrite = _timed(lambda: con.execute(REWRITE.format(path=str(work / "rewrite.parquet").replace("'", "''")),
                                             {"g": str(raw)}))
        alone = {k: _timed(lambda q=q: con.execute(q, {"g": str(raw)}).fetchall()) for k, q in REQUIRED_ALONE.items()}
        con.close()
        floor_wall, floor_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
        alone["rewrite_raw_once_as_parquet"] = rewrite

        if args.dagster:
            return _through_dagster(args, work, wh, floor_wall, floor_cpu, alone)
        out = {"entries": args.entries, "generate_seconds": round(gen["seconds"], 2),
               "floor_seconds": round(floor_wall, 3), "floor_cpu_seconds": round(floor_cpu, 3),
               "floor_groups": floor_rows, "required_work_alone": _against_floor(alone, floor_wall, floor_cpu)}
        if args.encrypt:  # plain and protected alternated, each in its own process
            from sync_pipeline.bench.billables_pairs import compare

            return {**out, **compare(args, work, (floor_wall, floor_cpu), rewrite)}
        return {**out, **_pipeline(args, wh, ent, settings, floor_wall, floor_cpu, rewrite)}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
