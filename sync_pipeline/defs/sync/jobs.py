"""Jobs."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

sync_job = define_asset_job(
    "sync_job",
    # reconciliation_results summarises the cash side too (upstream: cash_settlement): it belongs to
    # cash_reconciliation_job, so "Materialize all" here never waits on an asset of another job
    selection=AssetSelection.groups("extract", "billing", "posting", "reconciliation")
    - AssetSelection.assets("reconciliation_results"),
    description="Extract, clean, map, post and reconcile one entity × billing period.",
)
