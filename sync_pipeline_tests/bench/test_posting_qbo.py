"""`sync-pipeline bench posting --target qbo` at a small scale: everything posted, 30 invoices per write call."""

import argparse

from sync_pipeline.bench import posting


def test_bench_posting_to_quickbooks_small(tmp_path):
    args = argparse.Namespace(target="qbo", invoices=65, lines=2, minute_limit=None, batch_minute_limit=1000,
                              concurrent_limit=None, state_dir=str(tmp_path))
    out = posting.run(args)
    assert out["created"] == out["posted_in_sandbox"] == 65 and out["failed"] == []
    assert (out["write_calls"], out["invoices_per_write_call"]) == (3, 21.67)
