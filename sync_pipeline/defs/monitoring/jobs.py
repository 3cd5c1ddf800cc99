"""The SLO job: ``slo_status`` of one entity (its checks are the objectives)."""

from dagster import AssetSelection, define_asset_job

from sync_pipeline.defs.partitions import entity_partitions

slo_job = define_asset_job(
    "slo_job",
    selection=AssetSelection.assets("slo_status"),
    partitions_def=entity_partitions,
    description="Measure the entity's service-level objectives and record each as an asset check.",
)
