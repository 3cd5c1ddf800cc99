"""Data-protection jobs: the retention purge (the same plan and apply as ``sync-pipeline privacy purge``) and the
key re-encryption after a rotation (the same as ``sync-pipeline keys reencrypt``)."""

from datetime import UTC, datetime

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op

from sync_pipeline.contracts.retention import load_retention_config
from sync_pipeline.defs import settings
from sync_pipeline.defs.posting.assets import run_identity
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, WarehouseResource
from sync_pipeline.services import retention
from sync_pipeline.services.key_rotation import reencrypt_all, status


class PurgeConfig(Config):
    dry_run: bool = False
    """Only record what would be deleted or anonymized (the audit trail gets the summary)."""
    retention_file: str = ""
    """The retention policy; empty: $SYNC_PIPELINE_RETENTION or docs/retention.example.yaml."""


@op(description="Delete or anonymize warehouse partitions and operational-store rows past retention; never those "
                "under legal hold, within tax retention or referenced by an open (unpaid) document. Every purge is "
                "in the audit trail.")
def retention_purge_op(context: OpExecutionContext, config: PurgeConfig, mapping: MappingResource,
                       warehouse: WarehouseResource, opstore: OperationalStoreResource) -> Output[dict]:
    store, wh = opstore.get(), warehouse.get()
    run = run_identity(context, store, "dagster.purge")
    cfg = load_retention_config(config.retention_file or settings.retention_config_path())
    juris = {e.key: e.tax.default_jurisdiction for e in mapping.load().entities if e.tax.default_jurisdiction}
    today = datetime.now(UTC).date()
    items = retention.plan(wh, store, cfg.policy(juris), dict(cfg.assets), today, store_tables=dict(cfg.store_tables))
    summary = retention.apply(items, wh, store, actor=run.triggered_by, dry_run=config.dry_run, today=today)
    rows = [f"| {i['action']} | {i['asset']} | {i['entity']} | {i['period']} | {i['rows']} | {i['reason']} |"
            for i in summary["touched"][:50]]
    table = "| action | asset | entity | period | rows | why |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    return Output(summary, metadata={
        "dry_run": config.dry_run, "partitions_deleted": summary["deleted"],
        "partitions_anonymized": summary["anonymized"], "partitions_kept": summary["kept"],
        "kept_under_legal_hold": summary["kept_by_hold"], "kept_open_documents": summary["kept_open_documents"],
        "store_rows_deleted": summary["store_rows_deleted"], "store_rows_anonymized": summary["store_rows_anonymized"],
        "touched": MetadataValue.md(table if rows else "nothing past retention")})


@job(description="Apply the retention policy (docs/data-protection.md): anonymize personal data and delete "
                 "records past retention; legal holds, tax retention and open documents always win.")
def retention_purge_job():
    retention_purge_op()


class ReencryptConfig(Config):
    batch: int = 500
    """Store rows per transaction."""


@op(description="Move everything to the current keys after `sync-pipeline keys rotate`: wrapped keys, encrypted "
                "store columns and encrypted warehouse columns. Readers keep working throughout; re-runnable.")
def keys_reencrypt_op(context: OpExecutionContext, config: ReencryptConfig, warehouse: WarehouseResource,
                      opstore: OperationalStoreResource) -> Output[dict]:
    store = opstore.get()
    run = run_identity(context, store, "keys.reencrypt")
    wh = warehouse.get()
    counts = reencrypt_all(store, wh, actor=run.triggered_by, batch=config.batch)
    return Output(counts, metadata={**counts, "pending_after": status(store, wh)["pending"]})


@job(description="Key re-encryption, launched by hand after `sync-pipeline keys rotate` (no schedule: a rotation "
                 "is a decision): every record moves to the new keys while the pipeline keeps running.")
def keys_reencrypt_job():
    keys_reencrypt_op()
