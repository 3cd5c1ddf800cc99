"""Benchmarks: ``sync-pipeline bench NAME`` runs ``sync_pipeline.bench.NAME``.

A bench module defines ``add_arguments(parser)`` and ``run(args) -> dict``; the dict
is printed as figures (and as JSON with ``--json``). Record results in
``docs/benchmarks.md`` with the command that reproduces them.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - t0
