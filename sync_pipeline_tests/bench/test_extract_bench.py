"""``sync-pipeline bench extract`` end to end at small scale (the 1M run is marked ``full``)."""

from __future__ import annotations

import argparse

import pyarrow.parquet as pq
import pytest

from sync_pipeline.bench import extract


def _args(tmp_path, entries: int, **kw) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    extract.add_arguments(p)
    ns = p.parse_args(["--entries", str(entries), "--workdir", str(tmp_path), *kw.get("extra", [])])
    return ns


def test_bench_extract_streams_every_entry_into_parquet(tmp_path):
    figures = extract.run(_args(tmp_path, 4500, extra=["--per-page", "1000"]))
    assert figures["ok"] and figures["rows_written"] == 4500 and figures["pages"] == 5
    assert figures["requests_per_1000_entries"] == pytest.approx(5 / 4.5, abs=0.01)
    table = pq.read_table(figures["partition"])
    assert table.num_rows == 4500 and str(table.schema.field("hours").type) == "decimal128(12, 6)"
    assert len(set(table.column("entry_id").to_pylist())) == 4500


@pytest.mark.full
def test_bench_extract_1m_under_500_mb(tmp_path):
    figures = extract.run(_args(tmp_path, 1_000_000))
    assert figures["ok"] and figures["peak_rss_mb"] < 500
