"""What the SLOs measure, read from the Dagster instance and the operational store (``services.slo`` judges).

Shared by the ``slo_status`` asset (its checks record the results per entity) and the ``slo_alerts`` sensor
(routes them), so both see the same numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from sync_pipeline.contracts.slo import SloConfig
from sync_pipeline.services import monitoring, slo
from sync_pipeline.store.alert_incidents import Incidents
from sync_pipeline.store.operational import OperationalStore

SYNC_JOB = "sync_job"
CHANGE_FEED_SENSOR = "harvest_changefeed"
RECONCILIATION_GROUPS = ("reconciliation",)  # as the reconciliation_mismatch_alert sensor
HEARTBEAT_FIRST_SENT = "heartbeat_first_sent"
HEARTBEAT_LAST_ARRIVED = "heartbeat_last_arrived"


def run_outcomes(instance: DagsterInstance, since: datetime) -> list[slo.RunOutcome]:
    records = instance.get_run_records(RunsFilter(job_name=SYNC_JOB, created_after=since,
                                                  statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]),
                                       limit=20_000)
    out: list[slo.RunOutcome] = []
    for rec in records:
        run = rec.dagster_run
        entity = run.tags.get("dagster/partition/entity")
        if not entity:
            continue
        seconds = rec.end_time - rec.create_timestamp.timestamp() if rec.end_time else None
        out.append(slo.RunOutcome(entity, run.status == DagsterRunStatus.SUCCESS, seconds,
                                  run.tags.get("dagster/sensor_name") == CHANGE_FEED_SENSOR))
    return out


def asset_graph_of(context):
    """The code location's asset graph, or None where the run has none (a bare ``materialize`` in a test)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # noqa: BLE001 - Dagster raises a CheckError when no repository is set
        return None


def latest_reconciliation(instance: DagsterInstance, asset_graph) -> dict[tuple[str, str], bool] | None:
    """(check, partition) → whether the latest evaluation of each reconciliation check passed; None without
    an asset graph to find the checks in."""
    if asset_graph is None:
        return None
    out: dict[tuple[str, str], tuple[int, bool]] = {}
    for key in asset_graph.asset_check_keys:
        if asset_graph.get(key.asset_key).group_name not in RECONCILIATION_GROUPS:
            continue
        name = key.to_user_string()
        for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=1000):
            if r.partition is None or r.status not in (AssetCheckExecutionRecordStatus.SUCCEEDED,
                                                       AssetCheckExecutionRecordStatus.FAILED):
                continue
            k = (name, r.partition)
            if k not in out or r.id > out[k][0]:
                out[k] = (r.id, r.status == AssetCheckExecutionRecordStatus.SUCCEEDED)
    return {k: passed for k, (_, passed) in out.items()}


def observations(instance: DagsterInstance, asset_graph, store: OperationalStore, config: SloConfig,
                 entities: list[str], *, heartbeat_entity: str | None, now: datetime) -> list[slo.Observation]:
    runs = run_outcomes(instance, now - timedelta(hours=config.window_hours))
    source = monitoring.dead_letter_source(store)
    letters = source.open_letters() if source is not None else []
    recon = latest_reconciliation(instance, asset_graph)
    facts = Incidents(store)
    out: list[slo.Observation] = []
    for e in entities:
        out += [slo.success_rate(e, runs), slo.change_to_draft_latency(e, runs), slo.dead_letter_backlog(e, letters),
                slo.reconciliation_mismatches(e, recon),
                slo.heartbeat_age(e, heartbeat_entity=heartbeat_entity,
                                  last_arrived_at=facts.noted(HEARTBEAT_LAST_ARRIVED, e),
                                  first_sent_at=facts.noted(HEARTBEAT_FIRST_SENT, e), now=now)]
    return out
