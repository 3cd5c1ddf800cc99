"""`sync-pipeline demo --entity acme-uk --period 2026-10` (the quick demo: one partition) as a new user runs it: a
fresh data folder and Dagster instance, twice. The whole group demo (`sync-pipeline demo`: three entities, three
months, statements, the workbench) is tested under the full marker: sync_pipeline_tests/reconciliation/
test_workbench_demo.py."""

import os
import subprocess
import sys
from pathlib import Path

from sync_pipeline_tests.people_in_clear import demo_people, people_in_clear


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNC_PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    for k in ("HARVEST_BASE_URL", "XERO_BASE_URL"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "demo", "--free-ports", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_prints_summary_and_second_run_posts_nothing(tmp_path):
    first = _demo(tmp_path, "--entity", "acme-uk", "--period", "2026-10")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "billing period 2026-10: OK" in first.stdout
    assert "entries read        : 9" in first.stdout
    assert "invoices posted     : 2 new, 0 already posted" in first.stdout
    assert "total GBP           : 981.00 gross (net 817.50 + tax 163.50)" in first.stdout
    assert "total EUR           : 699.90 gross (net 583.25 + tax 116.65)" in first.stdout
    assert "all documents match" in first.stdout
    # four eyes: the demo automation triggered the plan, a separate approver identity approved it
    assert "four eyes           : demo-approver approved plan " in first.stdout
    assert "(2 documents, triggered by demo)" in first.stdout
    assert "approved            : INV-00001, INV-00002 by demo-approver at " in first.stdout
    # the runs are in the project-local Dagster instance the UI reads
    assert (tmp_path / "dagster_home" / "history").exists()
    # and, run in process by the CLI with no daemon, each became OpenTelemetry spans in the data folder
    from sync_pipeline.services.telemetry import read_spans

    roots = [sp for sp in read_spans(tmp_path / "data" / "traces" / "spans.jsonl") if sp["parent_span_id"] is None]
    assert roots and {r["name"] for r in roots} == {"sync_job"}
    assert len({r["attributes"]["dagster.run_id"] for r in roots}) == len(roots)  # each run once
    # no demo person's name or email in clear in any Parquet file or store table (docs/data-protection.md)
    data = tmp_path / "data"
    assert people_in_clear(data, f"sqlite:///{data / 'operational.sqlite3'}", demo_people(), scanned=(
        "raw_time_entries", "clean_time_entries", "posted_invoices", "audit_events.detail", "audit_events.subject",
        "sync_ledger.payload")) == []

    second = _demo(tmp_path, "--entity", "acme-uk", "--period", "2026-10")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "invoices posted     : 0 new, 2 already posted" in second.stdout
    assert "four eyes           : nothing new to approve" in second.stdout
