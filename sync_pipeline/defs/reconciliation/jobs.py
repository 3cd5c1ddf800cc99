"""Cash reconciliation job: statement lines → matches → settlement → results, one entity × period per run."""

from dagster import AssetSelection, define_asset_job

cash_reconciliation_job = define_asset_job(
    "cash_reconciliation_job",
    selection=AssetSelection.groups("cash") | AssetSelection.assets("reconciliation_results"),
    description="Read the period's bank statements, match them to invoices and payments, settle what is certain.",
)
