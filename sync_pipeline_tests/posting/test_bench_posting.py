"""`sync-pipeline bench posting` at a small scale: it runs, posts everything, and batches by 50."""

import argparse

from sync_pipeline.bench import posting


def test_bench_posting_small(tmp_path):
    args = argparse.Namespace(invoices=120, lines=2, minute_limit=100_000, day_limit=100_000, concurrent_limit=5,
                              concurrency=2, state_dir=str(tmp_path))
    out = posting.run(args)
    assert out["posted_in_sandbox"] == 120 and out["outcomes"] == {"created": 120}
    assert (out["write_calls"], out["read_calls"], out["invoices_per_write_call"]) == (3, 2, 40.0)
