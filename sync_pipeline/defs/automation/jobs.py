"""Jobs the automation requests besides ``sync_job``."""

from dagster import AssetSelection, define_asset_job

xero_refresh_job = define_asset_job(
    "xero_refresh_job",
    selection=AssetSelection.groups("accounting", "reconciliation"),
    description="Re-read the accounting system's side of one entity × period (after a Xero webhook event): "
                "invoice statuses, payments and credit notes pulled back, then reconciled; posts nothing.",
)
