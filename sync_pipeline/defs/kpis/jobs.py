"""The billing-health KPIs of one entity × closed period (after sync_job and the pull-back)."""

from dagster import AssetSelection, define_asset_job

billing_health_job = define_asset_job(
    "billing_health_job",
    selection=AssetSelection.groups("kpis"),
    description="Measure the period's billing health: touchless billing, corrections, close to invoice, days "
                "sales outstanding, sync exceptions per team (docs/kpis.md).",
)
