"""Generate synthetic time entries (deterministic by seed) into raw_time_entries Parquet; rows/s and peak RSS.

    sync-pipeline bench generate --entries 5000000 [--seed 1] [--out data/bench/raw_time_entries.parquet]
    sync-pipeline bench generate --entries 1000000 --harvest data/bench/harvest.sqlite3   # also load a sandbox

Memory stays at one chunk (``--chunk`` rows) whatever ``--entries`` is; the figures show it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from sync_pipeline.bench import peak_rss_mb, stopwatch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entries", type=int, default=5_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--chunk", type=int, default=200_000, help="rows per chunk (and Parquet row group)")
    p.add_argument("--out", help="Parquet file to write (default: a temporary file, removed afterwards)")
    p.add_argument("--harvest", help="also load the entries into a Harvest sandbox SQLite file at this path")


def run(args: argparse.Namespace) -> dict:
    from sync_pipeline.sandbox.generator.projects import World, load_harvest, write_raw_time_entries

    figures: dict = {"entries": args.entries, "seed": args.seed, "chunk": args.chunk}
    rss_before = peak_rss_mb()
    with stopwatch() as t:
        world = World(args.seed, args.entries)
    figures.update(clients=len(world.clients), projects=len(world.projects), users=len(world.users),
                   world_seconds=round(t["seconds"], 2))
    tmpdir = None
    out = Path(args.out) if args.out else None
    if out is None:
        tmpdir = tempfile.mkdtemp(prefix="bench-generate-")
        out = Path(tmpdir) / "raw_time_entries.parquet"
    try:
        with stopwatch() as t:
            rows = write_raw_time_entries(world, out, chunk=args.chunk)
        figures.update(parquet_rows=rows, parquet_seconds=round(t["seconds"], 1),
                       parquet_rows_per_s=round(rows / t["seconds"]),
                       parquet_mb=round(out.stat().st_size / 2**20, 1))
        if args.harvest:
            from sync_pipeline.sandbox.harvest import HarvestSandbox

            sb = HarvestSandbox(args.harvest, rate_limit=0)
            with stopwatch() as t:
                counts = load_harvest(sb, world, "900001", chunk=min(args.chunk, 50_000))
            figures.update(harvest_time_entries=counts["time_entries"], harvest_seconds=round(t["seconds"], 1),
                           harvest_rows_per_s=round(counts["time_entries"] / t["seconds"]))
            figures.update(_read_pages(sb, "900001"))
    finally:
        if tmpdir:
            for f in Path(tmpdir).iterdir():
                f.unlink()
            os.rmdir(tmpdir)
    figures.update(peak_rss_mb_before=round(rss_before, 1), peak_rss_mb=round(peak_rss_mb(), 1))
    return figures


def _read_pages(sb, account: str) -> dict:
    """Read every page of 2000 time entries over HTTP following links.next (cursor); time each request."""
    import time

    import httpx

    from sync_pipeline.sandbox.server import SandboxServer

    times: list[float] = []
    rows = 0
    with SandboxServer(sb) as server, httpx.Client(timeout=120, headers={
            "Authorization": f"Bearer {sb.token}", "Harvest-Account-Id": account}) as http:
        sb.base_url = server.url
        url: str | None = f"{server.url}/v2/time_entries?per_page=2000"
        while url:
            t0 = time.perf_counter()
            r = http.get(url)
            times.append(time.perf_counter() - t0)
            body = r.json()
            rows += len(body["time_entries"])
            url = body["links"]["next"]
        t0 = time.perf_counter()
        last = http.get(f"{server.url}/v2/time_entries?per_page=2000&page={max(1, len(times))}")
        deep = time.perf_counter() - t0
        assert last.status_code == 200
    ordered = sorted(times)
    return {"pages_read": len(times), "rows_read": rows,
            "page_ms_median": round(ordered[len(ordered) // 2] * 1000, 1),
            "page_ms_p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 1),
            "page_ms_max": round(ordered[-1] * 1000, 1),
            "page_ms_first": round(times[0] * 1000, 1), "page_ms_last": round(times[-1] * 1000, 1),
            "page_ms_deep_page_number": round(deep * 1000, 1)}
