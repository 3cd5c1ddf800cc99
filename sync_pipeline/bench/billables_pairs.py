"""``bench billables --encrypt``: the plain and the protected run alternated, each in its own process.

The machine is shared, so one plain run followed by one protected run compares two different moments. Here the
two runs alternate ``--pairs`` times (plain first in odd pairs, protected first in even ones, so a load that
rises or falls through the bench is shared out), and each run is a fresh process (``spawn``): its CPU seconds
(all threads, DuckDB's included), wall clock and peak RSS are its own, like an asset run's. The ratio is taken
pair by pair and its median printed beside the target (≤ 1.3x the time, peak RSS ≤ 2 GB).

A protected run starts from a fresh operational store and keyring, so every one pays the first-time cost: each
of the 40,000 people pseudonymized, given a key wrapped by the master key, and their identity encrypted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.3
TARGET_PEAK_MB = 2048
SAME = ("dispositions", "billable_rows", "per_currency", "invoices", "draft_lines", "conservation")


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(kind: str, work: str, index: int, opts: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process: ``plain`` bills the generated partition; ``protected`` first protects it
    (``services.pseudonymize.protect_parquet``) into a warehouse of its own, then bills that."""
    from sync_pipeline.bench import peak_rss_mb
    from sync_pipeline.bench.billables import PERIOD, _pipeline, mapping_doc, rates_frame
    from sync_pipeline.contracts.mapping import Mapping
    from sync_pipeline.contracts.warehouse import FxRateRow
    from sync_pipeline.store.warehouse import Warehouse

    ent = Mapping.model_validate(mapping_doc()).entities[0]
    root = Path(work)
    args = _Args(**opts)
    settings = {"threads": args.threads, "memory_limit": args.memory_limit, "spill_dir": root / f".spill-{kind}-{index}"}
    refs = (opts["floor_wall"], opts["floor_cpu"], (opts["rewrite_wall"], opts["rewrite_cpu"]))
    load = os.getloadavg()[0]
    c0, w0 = _cpu(), time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "plain":
        figures = _pipeline(args, Warehouse(root / "warehouse"), ent, settings, *refs)
    else:
        from sync_pipeline.services.pseudonymize import protect_parquet
        from sync_pipeline.store.operational import OperationalStore

        mine = root / f"protected-{index}"
        shutil.rmtree(mine, ignore_errors=True)
        wh = Warehouse(mine / "warehouse")
        wh.write("fx_rates", ent.key, PERIOD.key, rates_frame(), FxRateRow)
        os.environ["SYNC_PIPELINE_KEYS"] = f"file:{mine / 'keys' / 'keyring.json'}"  # the run's own master key
        store = OperationalStore(f"sqlite:///{mine / 'operational.sqlite3'}")
        dest = Path(wh.path("raw_time_entries", ent.key, PERIOD.key))
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = Warehouse(root / "warehouse").path("raw_time_entries", ent.key, PERIOD.key)
        c1, w1 = _cpu(), time.perf_counter()
        out.update(protect_parquet(store, src, dest, threads=args.threads, memory_limit=args.memory_limit))
        out["protect_seconds"], out["protect_cpu_seconds"] = time.perf_counter() - w1, _cpu() - c1
        figures = _pipeline(args, wh, ent, settings, *refs)
        store.dispose()
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    if kind != "plain":
        shutil.rmtree(root / f"protected-{index}", ignore_errors=True)
    return {**out, "kind": kind, "seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
            "load_before": load, "load_after": os.getloadavg()[0], **{k: figures[k] for k in SAME}}


class _Args:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def _in_fresh_process(kind: str, work: Path, index: int, opts: dict[str, Any]) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        return ex.submit(run_one, kind, str(work), index, opts).result()


def _run_text(r: dict[str, Any]) -> str:
    text = f"{r['seconds']:.2f} s, {r['cpu_seconds']:.1f} CPU-s, {r['peak_rss_mb']:,.0f} MB"
    if r["kind"] == "protected":
        text += f" (protection pass {r['protect_seconds']:.2f} s, {r['protect_cpu_seconds']:.1f} CPU-s)"
    return f"{text}, load {r['load_before']:.1f}→{r['load_after']:.1f}"


def compare(args: Any, work: Path, floor: tuple[float, float], rewrite: tuple[float, float]) -> dict[str, Any]:
    """``args.pairs`` pairs of (plain, protected) runs over the generated partition, alternated; the figures."""
    opts = {"entries": args.entries, "threads": args.threads, "memory_limit": args.memory_limit,
            "floor_wall": floor[0], "floor_cpu": floor[1], "rewrite_wall": rewrite[0], "rewrite_cpu": rewrite[1]}
    out: dict[str, Any] = {}
    pairs: list[dict[str, dict[str, Any]]] = []
    for i in range(1, args.pairs + 1):
        order = ("plain", "protected") if i % 2 else ("protected", "plain")
        pair = {kind: _in_fresh_process(kind, work, i, opts) for kind in order}
        pairs.append(pair)
        plain, prot = pair["plain"], pair["protected"]
        out[f"pair_{i}_{order[0]}_first"] = (
            f"plain {_run_text(plain)} | protected {_run_text(prot)} | ratio "
            f"{prot['seconds'] / plain['seconds']:.2f}x wall, {prot['cpu_seconds'] / plain['cpu_seconds']:.2f}x CPU")
        print(f"pair {i}/{args.pairs}: {out[f'pair_{i}_{order[0]}_first']}", file=sys.stderr, flush=True)  # progress
    wall = [p["protected"]["seconds"] / p["plain"]["seconds"] for p in pairs]
    cpu = [p["protected"]["cpu_seconds"] / p["plain"]["cpu_seconds"] for p in pairs]
    # the billing pipeline alone over pseudonyms (what every later run pays; the pass is paid once per extract)
    bare = [(p["protected"]["cpu_seconds"] - p["protected"]["protect_cpu_seconds"]) / p["plain"]["cpu_seconds"]
            for p in pairs]
    peak = {k: max(p[k]["peak_rss_mb"] for p in pairs) for k in ("plain", "protected")}
    first = pairs[0]["protected"]
    return {
        "encrypted_people": first["people"], "encrypted_approvers": first["approvers"], "encrypted_notes": first["notes"],
        "encrypted_same_invoices_and_conservation": all(p["plain"][k] == p["protected"][k] for p in pairs for k in SAME),
        **out,
        "plain_seconds_median": round(statistics.median(p["plain"]["seconds"] for p in pairs), 2),
        "plain_cpu_seconds_median": round(statistics.median(p["plain"]["cpu_seconds"] for p in pairs), 2),
        "protected_seconds_median": round(statistics.median(p["protected"]["seconds"] for p in pairs), 2),
        "protected_cpu_seconds_median": round(statistics.median(p["protected"]["cpu_seconds"] for p in pairs), 2),
        "protection_pass_seconds_median": round(statistics.median(p["protected"]["protect_seconds"] for p in pairs), 2),
        "protection_pass_cpu_seconds_median": round(
            statistics.median(p["protected"]["protect_cpu_seconds"] for p in pairs), 2),
        "ratio_wall_median": round(statistics.median(wall), 3),
        "ratio_cpu_median": round(statistics.median(cpu), 3),
        "ratio_wall_range": f"{min(wall):.2f}–{max(wall):.2f}",
        "ratio_cpu_range": f"{min(cpu):.2f}–{max(cpu):.2f}",
        "ratio_cpu_median_pipeline_alone": round(statistics.median(bare), 3),
        "peak_rss_mb_plain": round(peak["plain"], 1),
        "peak_rss_mb_protected": round(peak["protected"], 1),
        "target": f"protected ≤ {TARGET_RATIO}x the plain time, peak RSS ≤ {TARGET_PEAK_MB} MB",
        "target_met": {"time_wall": statistics.median(wall) <= TARGET_RATIO,
                       "time_cpu": statistics.median(cpu) <= TARGET_RATIO,
                       "peak_rss": peak["protected"] <= TARGET_PEAK_MB},
        "load_average_1m_5m_15m_at_end": [round(x, 2) for x in os.getloadavg()],
        **_row_protection(work),
    }


def _row_protection(work: Path, n: int = 100_000) -> dict[str, Any]:
    """Per-row protection as the streamed extract applies it to each row group (with a note per row), timed on a
    sample of the generated entries."""
    import duckdb

    from sync_pipeline.bench.billables import PERIOD
    from sync_pipeline.services.pseudonymize import protect_rows
    from sync_pipeline.store.operational import OperationalStore
    from sync_pipeline.store.protection import protector
    from sync_pipeline.store.warehouse import Warehouse

    src = Warehouse(work / "warehouse").path("raw_time_entries", "bench", PERIOD.key)
    sample = duckdb.sql(f"SELECT source, user_id, user_name, approved_by, 'a note of ' || entry_id AS notes "
                        f"FROM read_parquet('{src}') LIMIT {n}").df().to_dict("records")
    keys = os.environ.get("SYNC_PIPELINE_KEYS")
    os.environ["SYNC_PIPELINE_KEYS"] = f"file:{work / 'sample-keys' / 'keyring.json'}"
    try:
        store = OperationalStore(f"sqlite:///{work / 'sample.sqlite3'}")
        w0 = time.perf_counter()
        protect_rows(protector(store), sample, "raw_time_entries.notes")
        seconds = time.perf_counter() - w0
        store.dispose()
    finally:
        os.environ.pop("SYNC_PIPELINE_KEYS") if keys is None else os.environ.__setitem__("SYNC_PIPELINE_KEYS", keys)
    return {"extract_row_protection_us_per_row_with_notes": round(seconds / len(sample) * 1e6, 1)}
