"""Replaying dead letters after a fix, from the Dagster UI (Launchpad) or a schedule."""


from dagster import AssetMaterialization, AssetSelection, Config, OpExecutionContext, define_asset_job, job, op

from sync_pipeline.defs.partitions import partition_key
from sync_pipeline.defs.posting.assets import run_identity
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource, XeroResource
from sync_pipeline.services.dead_letters import PostingEnv, replay


class ReplayConfig(Config):
    letter_ids: list[int] = []
    """Dead letters to replay (`sync-pipeline dlq list`); empty: every open letter of `entity`."""
    entity: str | None = None
    period: str | None = None


@op(description="Re-plan the partitions of the chosen dead letters and post what they held back; refreshes "
                "posted_invoices and posted_lines for those partitions.",
    pool="xero")  # concurrency pool of the external system (limits: deploy/pools.yaml)
def replay_dead_letters_op(context: OpExecutionContext, config: ReplayConfig, mapping: MappingResource,
                           xero: XeroResource, opstore: OperationalStoreResource,
                           warehouse: WarehouseResource) -> None:
    if not config.letter_ids and not config.entity:
        raise ValueError("name letter_ids or an entity to replay (see `sync-pipeline dlq list`)")
    env = PostingEnv(mapping.load(), warehouse.get(), opstore.get(), xero.target)
    run = run_identity(context, env.store, "dagster.replay")
    outcomes = replay(env, run, letter_ids=config.letter_ids or None, entity=config.entity, period=config.period)
    for e, p in sorted({(o.entity, o.period) for o in outcomes}):
        mine = [o for o in outcomes if (o.entity, o.period) == (e, p)]
        for asset in ("posted_invoices", "posted_lines"):
            context.log_event(AssetMaterialization(
                asset_key=asset, partition=partition_key(e, p),
                metadata={"replayed_letters": [o.letter_id for o in mine],
                          "after": {str(o.letter_id): o.after for o in mine}}))
    still = [o for o in outcomes if o.after == "open"]
    for o in outcomes:
        context.log.info(f"dead letter #{o.letter_id} {o.reference}: {o.before} → {o.after} {o.note}")
    if still:
        raise RuntimeError(f"{len(still)} dead letter(s) still refused: "
                           + "; ".join(f"#{o.letter_id} {o.note}" for o in still))


@job(description="Replay posting dead letters after their cause was fixed (config: letter_ids or entity).")
def replay_dead_letters():
    replay_dead_letters_op()


accounting_pullback_job = define_asset_job(
    "accounting_pullback_job",
    selection=AssetSelection.groups("accounting"),
    description="Pull statuses, payments and credit notes of one entity × period back from the accounting system "
                "(incremental: If-Modified-Since). Run it on a schedule, or after posting.",
)
