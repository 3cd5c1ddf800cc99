"""Jobs the automation requests besides ``sync_job``."""

from dagster import AssetSelection, define_asset_job

xero_refresh_job = define_asset_job(
    "xero_refresh_job",
    # reconciliation_results summarises the cash side too (upstream: cash_settlement): it belongs to
    # cash_reconciliation_job, which reads this job's sync_reconciliation; selecting it here would make each job
    # need the other's assets
    selection=AssetSelection.groups("accounting", "reconciliation") - AssetSelection.assets("reconciliation_results"),
    description="Re-read the accounting system's side of one entity × period (after a Xero webhook event): "
                "invoice statuses, payments and credit notes pulled back, then the sync reconciled; posts nothing.",
)
