"""Sensors that turn changes in the external systems into partition runs.

- ``harvest_changefeed``: polls the project system's ``updated_since`` feeds of time entries and of
  expenses per entity with cadence ``realtime``, every ``automation.realtime_interval_seconds`` of the mapping
  (JSON cursor, one part per feed), requests ``sync_job`` for exactly the entity ×
  period partitions that changed (run keys name the changes, so a change never runs twice) and registers
  new entities of the mapping as partitions.
- ``xero_webhook_events``: reads the webhook events the receiver stored (``sync-pipeline webhooks
  serve``) and refreshes the partitions whose documents changed in the accounting system.
"""

import os
from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from sync_pipeline.connectors.http import HttpError
from sync_pipeline.contracts.mapping import Automation, load_mapping
from sync_pipeline.defs import settings
from sync_pipeline.defs.automation.jobs import xero_refresh_job
from sync_pipeline.defs.partitions import entity_partitions, partition_key, period_partitions
from sync_pipeline.defs.resources import (
    HarvestResource,
    MappingResource,
    OperationalStoreResource,
    RedmineResource,
    WarehouseResource,
)
from sync_pipeline.defs.sources import project_source
from sync_pipeline.defs.sync.jobs import sync_job
from sync_pipeline.domain.periods import Period
from sync_pipeline.domain.tracing import LINKED_TRACES_TAG, TRACE_TAG, is_trace_id, new_trace_id
from sync_pipeline.services import changefeed, webhook_events
from sync_pipeline.store.events import EventStore


def automation_settings() -> Automation:
    """The mapping's ``automation`` section (cadence crons, the realtime interval), read when the code location
    loads; ``SYNC_PIPELINE_SENSOR_INTERVAL`` overrides the realtime interval (benches, tests)."""
    automation = load_mapping(settings.mapping_path()).automation
    override = os.environ.get("SYNC_PIPELINE_SENSOR_INTERVAL")
    if override:
        try:
            automation = automation.model_copy(update={"realtime_interval_seconds": int(override)})
        except ValueError:
            raise ValueError(f"SYNC_PIPELINE_SENSOR_INTERVAL={override!r} is not a whole number of seconds; unset it "
                             "to use the mapping's automation.realtime_interval_seconds") from None
    return automation


SENSOR_INTERVAL_SECONDS = automation_settings().realtime_interval_seconds
TRIGGER_TAG = "sync_pipeline/trigger"
ENTITY_TAG = "sync_pipeline/entity"


def feed_start(now: datetime) -> datetime:
    """Where a feed without a cursor begins: ``SYNC_PIPELINE_CHANGEFEED_START`` or the previous period's start."""
    configured = os.environ.get("SYNC_PIPELINE_CHANGEFEED_START")
    if configured:
        return changefeed.parse_instant(configured)
    prev = Period.of(now.date()).previous()
    return datetime(prev.year, prev.month, 1, tzinfo=UTC)


def open_periods() -> set[str]:
    """Billing periods that exist as partitions now (``YYYY-MM``)."""
    return {k[:7] for k in period_partitions.get_partition_keys()}


@sensor(
    job=sync_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.STOPPED,
    description="Polls the project system's updated_since feeds of the entities with cadence realtime and syncs "
                "exactly the entity × period partitions whose time entries or expenses changed; registers new "
                "entities of the mapping.",
)
def harvest_changefeed(context: SensorEvaluationContext, harvest: HarvestResource, redmine: RedmineResource,
                       mapping: MappingResource, warehouse: WarehouseResource) -> SensorResult | SkipReason:
    cursor = changefeed.FeedCursor.from_json(context.cursor)
    entities = mapping.load().entities
    registered = set(context.instance.get_dynamic_partitions(entity_partitions.name))
    new_entities = sorted(e.key for e in entities if e.key not in registered)
    now = datetime.now(UTC)
    start = feed_start(now)
    valid_periods = open_periods()
    wh = warehouse.get()
    runs: list[RunRequest] = []
    failures: list[str] = []
    sources = [(e, project_source(e, harvest, redmine)) for e in entities]
    fed = [(e, s) for e, s in sources if e.sync_cadence == "realtime" and s.supports("change_feed")]
    for entity, source in fed:  # the others are synced on their cadence's schedule
        try:
            client = source.change_feed()
            res = changefeed.poll_entity(client, entity.key, cursor.entities.get(entity.key), start=start,
                                         previous_periods=changefeed.warehouse_periods(wh, entity.key))
            exp = changefeed.poll_expenses(client, entity.key, cursor.expenses.get(entity.key), start=start,
                                           previous_periods=changefeed.warehouse_expense_periods(wh, entity.key))
        except HttpError as e:  # neither feed's cursor moves: both are read again next tick
            failures.append(f"{entity.key}: {e}")
            context.log.warning(f"change feed of entity {entity.key} not read this tick, cursor kept: {e}")
            continue
        finally:
            source.close()
        cursor.entities[entity.key] = res.cursor
        cursor.expenses[entity.key] = exp.cursor
        for reason in res.skipped + exp.skipped:
            context.log.warning(f"{entity.key}: {reason}")
        for (ent, period), changes in changefeed.group_by_partition(res.changes + exp.changes).items():
            if period not in valid_periods:
                context.log.info(f"{ent}: {len(changes)} change(s) in period {period}, outside the partitioned "
                                 "range; not synced")
                continue
            tags = {TRIGGER_TAG: "harvest_changefeed", ENTITY_TAG: ent, TRACE_TAG: new_trace_id()}
            for kind, tag in (("entry", "sync_pipeline/changed_entries"), ("expense", "sync_pipeline/changed_expenses")):
                ids = sorted({c.entry_id for c in changes if c.kind == kind})
                if ids:
                    tags[tag] = ",".join(ids)[:200]
            runs.append(RunRequest(
                run_key=changefeed.run_key("changefeed", ent, period, (c.version for c in changes)),
                partition_key=partition_key(ent, period),
                tags=tags,
            ))
        context.log.info(f"{entity.key}: read {res.entries_read} entries and {exp.entries_read} expense records "
                         f"since the cursor, {len(res.changes)} + {len(exp.changes)} new change(s)")
    if failures and len(failures) == len(fed):
        raise RuntimeError("the project system's change feed could not be read for any entity: "
                           + "; ".join(failures))
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[entity_partitions.build_add_request(new_entities)] if new_entities else [],
        cursor=cursor.to_json(),
    )


def webhook_trace_tags(trace_ids: tuple[str, ...]) -> dict[str, str]:
    """The run's trace: the one the receiver gave the first event (minted here for events stored without one); the
    other deliveries' traces coalesced into the run, as ``sync_pipeline/linked_traces``."""
    valid = [t for t in trace_ids if is_trace_id(t)]
    tags = {TRACE_TAG: valid[0] if valid else new_trace_id()}
    if len(valid) > 1:
        tags[LINKED_TRACES_TAG] = ",".join(valid[1:])[:1000]
    return tags


@sensor(
    job=xero_refresh_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.STOPPED,
    description="Turns Xero webhook events stored by the receiver into refresh runs of the partitions whose "
                "documents changed. Duplicate and out-of-order deliveries coalesce into one run.",
)
def xero_webhook_events(context: SensorEvaluationContext, opstore: OperationalStoreResource,
                        mapping: MappingResource) -> SensorResult | SkipReason:
    cursor = webhook_events.EventCursor.from_json(context.cursor)
    batch = webhook_events.plan_refreshes(EventStore(opstore.get()), mapping.load(), cursor, now=datetime.now(UTC))
    for note in batch.notes:
        context.log.info(note)
    valid_periods = open_periods()
    runs = [
        RunRequest(run_key=r.run_key, partition_key=partition_key(r.entity, r.period),
                   tags={TRIGGER_TAG: "xero_webhook", ENTITY_TAG: r.entity, **webhook_trace_tags(r.trace_ids)})
        for r in batch.refreshes if r.period in valid_periods
    ]
    return SensorResult(run_requests=runs, cursor=batch.cursor.to_json())
