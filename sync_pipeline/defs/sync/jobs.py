"""Jobs."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

sync_job = define_asset_job(
    "sync_job",
    selection=AssetSelection.groups("extract", "billing", "posting", "reconciliation"),
    description="Extract, clean, map, post and reconcile one entity × billing period.",
)
