"""Extract N Harvest time entries from the sandbox into Parquet, streaming; report peak RSS and throughput.

Loads ``--entries`` synthetic time entries into a fresh Harvest sandbox (bulk, in chunks), then pulls them
through the real connector (``HarvestClient`` over the shared HTTP layer, 2,000 per page following
``links.next``, a cursor URL in the sandbox as in Harvest, the client-side rate limiter at Harvest's
documented 100 requests / 15 s) with the function the ``raw_time_entries`` asset runs
(``services.extract.extract_time_entries_partition``): pages written as they arrive with
``pyarrow.parquet.ParquetWriter``, then the newest version of each entry kept in DuckDB, the contract checked
in SQL and the window compared with the stored extract, into a warehouse partition (January 2026).
The sandbox runs in this process, so the peak RSS reported is an upper bound for the extractor alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync_pipeline.bench import peak_rss_mb, stopwatch

ACCOUNT = "900001"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entries", type=int, default=1_000_000, help="time entries to load and extract (default 1M)")
    p.add_argument("--per-page", type=int, default=2000, help="page size asked of the API (Harvest max 2000)")
    p.add_argument("--no-rate-limit", action="store_true",
                   help="switch off the sandbox's and the client's 100 req / 15 s limit (raw pipeline throughput)")
    p.add_argument("--workdir", default=None, help="where the sandbox database and the Parquet file go (temp dir)")


def _entry(i: int) -> dict[str, Any]:
    client = 1 + i % 50
    spent = date(2026, 1, 1) + timedelta(days=i % 31)  # one billing period: the asset extracts January
    return {
        "id": i + 1, "spent_date": spent.isoformat(), "hours": Decimal(25 + i % 700) / 100,
        "rounded_hours": Decimal(25 + i % 700) / 100, "notes": f"Work item {i % 9973}", "is_locked": True,
        "is_closed": i % 10 != 0, "is_billed": False, "is_running": False, "billable": i % 7 != 0, "budgeted": False,
        "billable_rate": Decimal(80 + i % 5 * 10), "cost_rate": Decimal("50"),
        "created_at": f"{spent.isoformat()}T17:00:00Z", "updated_at": f"{spent.isoformat()}T18:00:00Z",
        "user": {"id": 1 + i % 40, "name": f"User {1 + i % 40}"},
        "client": {"id": client, "name": f"Client {client}", "currency": "GBP" if client % 3 else "EUR"},
        "project": {"id": 100 + i % 200, "name": f"Project {100 + i % 200}", "code": f"P{100 + i % 200}"},
        "task": {"id": 1 + i % 6, "name": f"Task {1 + i % 6}"}, "invoice": None, "external_reference": None,
    }


def load(sandbox, n: int, chunk: int = 20_000) -> None:
    """Bulk load through the sandbox's own loader (no HTTP); a generator keeps memory flat."""
    sandbox.add_account(ACCOUNT, "Bench Ltd")
    sandbox.bulk_load("time_entries", ACCOUNT, (_entry(i) for i in range(n)), chunk=chunk)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sync_pipeline.connectors.harvest import HarvestClient
    from sync_pipeline.connectors.limits import UNLIMITED, RateLimiter
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.sandbox.harvest import HarvestSandbox
    from sync_pipeline.sandbox.server import SandboxServer
    from sync_pipeline.services.extract import extract_time_entries_partition
    from sync_pipeline.store.warehouse import Warehouse

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-extract-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "harvest.sqlite3"
    if db.exists():
        db.unlink()
    limit = 0 if args.no_rate_limit else 100
    sandbox = HarvestSandbox(str(db), rate_limit=limit)
    with stopwatch() as t_load:
        load(sandbox, args.entries)
    rss_after_load = peak_rss_mb()
    server = SandboxServer(sandbox).start()
    sandbox.base_url = server.url
    limiter = RateLimiter(UNLIMITED, name="harvest") if args.no_rate_limit else None
    client = HarvestClient(server.url, sandbox.token, ACCOUNT, limiter=limiter)
    try:
        t0 = time.perf_counter()
        with stopwatch() as t_extract:  # exactly what the raw_time_entries asset runs
            period = Period(2026, 1)
            wh = Warehouse(work / "warehouse")
            result = extract_time_entries_partition(
                client.time_entries(start=period.start, end=period.end, per_page=args.per_page), wh, "bench", period)
            path = wh.path("raw_time_entries", "bench", period.key)
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
        server.stop()
    import pyarrow.parquet as pq

    written = pq.ParquetFile(path).metadata.num_rows
    requests = client.http.request_count
    return {
        "ok": written == args.entries == result["rows"] and not result["changes"].deleted,
        "entries": args.entries,
        "rows_written": written,
        "pages": result["pages"],
        "requests": requests,
        "requests_per_1000_entries": round(requests / args.entries * 1000, 3),
        "entries_per_second": round(result["rows"] / elapsed),
        "extract_seconds": round(t_extract["seconds"], 1),
        "rate_limit_waits": client.http.limiter.stats.waits,
        "rate_limit_waited_seconds": round(client.http.limiter.stats.waited_seconds, 1),
        "retries": client.http.retry_count,
        "load_seconds": round(t_load["seconds"], 1),
        "peak_rss_mb_after_load": round(rss_after_load, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_target_mb": 500,
        "parquet_mb": round(Path(path).stat().st_size / 2**20, 1),
        "partition": str(path),
        "workdir": str(work),
    }
