"""Bill N generated time entries: clean → billables → invoice drafts, all inside DuckDB over Parquet.

1. Generates ``--entries`` raw time entries (the ``raw_time_entries`` contract plus ``started_at``) as Parquet
   files with DuckDB itself (hash-derived values, deterministic): ~4 entries per person-day over a month,
   200 clients in 4 currencies, 1,000 projects, 10 tasks, a mapping with client, project, user-on-project
   and task rate cards (effective-dated), rounding rules per client, and a few per cent of held,
   non-billable and bad entries (negative hours, unknown project, missing rate, over 24 h in a day).
2. The floor: a bare DuckDB scan-join-aggregate over the same files (raw ⋈ projects, Σ hours x rate per
   client, project, task, currency).
3. The pipeline as the assets run it for a big partition (``services.billing.bill_parquet``): every SQL model
   writes Parquet and the next reads it; the aggregated lines (one row per invoice line) are finalized in
   Python (Xero arithmetic, FX, tax); then the contracts are checked in SQL over the Parquet outputs
   (``store.contract_sql``, one scan per file) and conservation is checked in SQL
   (``services.billing.check_conservation_sql``, what the blocking asset check runs): every entry in one
   disposition, every billable entry on exactly one line by its id, value per currency carried whole.

Prints entries/s end to end, peak RSS, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sync_pipeline.bench import peak_rss_mb, stopwatch
from sync_pipeline.contracts.mapping import Mapping
from sync_pipeline.contracts.warehouse import Billable, CleanTimeEntry, InvoiceDraftLine
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import billing
from sync_pipeline.store.contract_sql import check_parquet

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


def generate(dest: Path, n: int, files: int) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    paths = []
    per = -(-n // files)
    for k in range(files):
        start, stop = k * per, min(n, (k + 1) * per)
        if start >= stop:
            break
        p = dest / f"part-{k:03d}.parquet"
        con.execute(GENERATE.format(path=str(p).replace("'", "''")), {"start": start, "stop": stop})
        paths.append(p)
    con.close()
    return paths


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
        "harvest_account_id": "1", "xero_tenant_id": "t", "require_approval": True,
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entries", type=int, default=5_000_000, help="time entries to generate and bill (default 5M)")
    p.add_argument("--files", type=int, default=10, help="Parquet files the raw entries are split into")
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine has 2 cores)")
    p.add_argument("--memory-limit", default="1500MB", help="DuckDB memory limit (it spills to disk beyond)")
    p.add_argument("--workdir", default=None, help="where the Parquet files go (a temp dir, removed after)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-billables-"))
    try:
        ent = Mapping.model_validate(mapping_doc()).entities[0]
        with stopwatch() as gen:
            generate(work / "raw", args.entries, args.files)
        raw_glob = str(work / "raw" / "*.parquet")

        con = billing.connect(ent, threads=args.threads, memory_limit=args.memory_limit)
        c0 = _cpu()
        with stopwatch() as floor:
            floor_rows = len(con.execute(FLOOR, {"g": raw_glob}).fetchall())
        floor_cpu = _cpu() - c0
        con.close()

        c0 = _cpu()
        with stopwatch() as pipe:
            out = billing.bill_parquet(raw_glob, work / "out", ent, PERIOD, TODAY, rates=rates_frame(),
                                       threads=args.threads, memory_limit=args.memory_limit)
            drafts = InvoiceDraftLine.validate(out["drafts"], lazy=True)  # small: pandera as is
        with stopwatch() as checks:
            con = out["con"]
            problems = []
            clean_problems = check_parquet(con, CleanTimeEntry, str(out["paths"]["clean_time_entries"]))
            problems += clean_problems
            problems += check_parquet(con, Billable, str(out["paths"]["billables"]))
            conservation = billing.check_conservation_sql(con, "read_parquet('" + raw_glob.replace("'", "''") + "')",
                                                          "clean_time_entries", "billables", drafts,
                                                          clean_ids_unique=not clean_problems)
            problems += [f"conservation: {p}" for p in conservation.problems]
            dispositions = dict(sorted(conservation.counts.items()))
            con.close()
        end_to_end = pipe["seconds"] + checks["seconds"]
        pipe_cpu = _cpu() - c0
        return {
            "entries": args.entries,
            "generate_seconds": round(gen["seconds"], 2),
            "floor_seconds": round(floor["seconds"], 2),
            "floor_groups": floor_rows,
            "pipeline_seconds": round(pipe["seconds"], 2),
            "contract_and_conservation_seconds": round(checks["seconds"], 2),
            "end_to_end_seconds": round(end_to_end, 2),
            "entries_per_second": int(args.entries / end_to_end),
            "ratio_to_floor": round(end_to_end / floor["seconds"], 2),
            "cpu_seconds_end_to_end": round(pipe_cpu, 2),
            "cpu_seconds_floor": round(floor_cpu, 2),
            "entries_per_cpu_second": int(args.entries / pipe_cpu) if pipe_cpu else None,
            "ratio_to_floor_cpu": round(pipe_cpu / floor_cpu, 2) if floor_cpu else None,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "dispositions": dispositions,
            "conservation": "holds" if conservation.passed else "BROKEN",
            "per_currency": {c: {k: v for k, v in d.items() if k in ("source_total", "held", "drafted_time",
                                                                     "rounding_remainder")}
                             for c, d in conservation.per_currency.items()},
            "invoices": int(drafts["invoice_key"].nunique()),
            "draft_lines": len(drafts),
            "contract_problems": problems[:10],
            "threads": args.threads,
            "memory_limit": args.memory_limit,
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
