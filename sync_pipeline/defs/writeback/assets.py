"""Two-way sync: settlements of our invoices written back to the project system (mapping ``direction``)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from sync_pipeline.defs.partitions import entity_period, entity_period_partitions
from sync_pipeline.defs.resources import HarvestResource, MappingResource, RedmineResource, WarehouseResource
from sync_pipeline.defs.sources import project_source
from sync_pipeline.services.write_back import write_back_settlements


@asset(
    partitions_def=entity_period_partitions,
    group_name="accounting",
    deps=["accounting_invoices", "raw_payments"],
    kinds={"python"},
    pool="harvest",  # concurrency pool of the external system (limits: deploy/pools.yaml)
    description="For entities with direction: bidirectional, the payments and credits applied to our invoices in "
                "the accounting system, written back to the project system as payments on a mirror of each "
                "invoice (same number). Idempotent; a payment removed in the accounting system is removed there.",
)
def source_settlements_written_back(context: AssetExecutionContext, mapping: MappingResource,
                                    harvest: HarvestResource, redmine: RedmineResource,
                                    warehouse: WarehouseResource) -> MaterializeResult:
    ep = entity_period(context)
    entity = mapping.load().entity(ep.entity)
    if entity.direction != "bidirectional":
        return MaterializeResult(metadata={"direction": entity.direction, "written_back": 0,
                                           "skipped": "direction one_way: nothing is written back"})
    source = project_source(entity, harvest, redmine)
    if not source.supports("payment_write_back"):  # the mapping refuses this; kept for a hand-built entity
        raise RuntimeError(f"entity {ep.entity}: direction bidirectional, but source {source.system} cannot take "
                           "payments back; set direction: one_way in the mapping")
    wh = warehouse.get()
    if not (wh.exists("accounting_invoices", ep.entity, ep.period.key)
            and wh.exists("raw_payments", ep.entity, ep.period.key)):
        return MaterializeResult(metadata={"direction": entity.direction, "written_back": 0,
                                           "skipped": "nothing pulled back from the accounting system yet"})
    docs = wh.read("accounting_invoices", ep.entity, ep.period.key)
    pays = wh.read("raw_payments", ep.entity, ep.period.key)
    try:
        done = write_back_settlements(source.settlement_writer(), docs, pays)
    finally:
        source.close()
    context.log.info(f"{ep.entity} {ep.period.key}: {done.payments_written} settlement(s) written back, "
                     f"{done.payments_removed} removed, {len(done.invoices_created)} invoice(s) created in "
                     f"{source.system}")
    return MaterializeResult(metadata={"direction": entity.direction, **done.as_metadata(),
                                       "api_requests": source.figures()["api_requests"]})
