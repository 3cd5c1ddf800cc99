"""Alerting sensors. Every alert is routed by ``services.alert_routing`` through the SLO file's teams and routes
(webhook, Slack-compatible hook, SMTP email by severity), one alert per incident, with escalation.

- ``run_failure_alert``: any failed run of this code location, with the failed steps' errors.
- ``reconciliation_mismatch_alert``: a failed asset check on a reconciliation asset (mismatched,
  missing or extra documents), with the partition and the check's failure metadata.
- ``dead_letter_growth_alert``: new open dead letters in the operational store since the last tick.
- ``audit_trail_alert``: the audit trail's events added since the last tick chain onto the last one checked,
  which is unchanged (``store.audit.verify_since``); a break is a critical alert.
- ``slo_alerts``: measures the service-level objectives of every mapped entity (``docs/slo.example.yaml``) and
  routes failing ones by severity, one alert per incident, with escalation (``services.alert_routing``).
- ``heartbeat``: pushes a synthetic time-entry edit through the real path (change feed → sync run →
  posting) and alerts when it has not reached the draft invoice by the deadline.

The event sensors key their incidents ``kind/entity`` (``run_failure/acme-uk``, ``dead_letters/acme-uk``,
``reconciliation_mismatch/acme-uk``, ``heartbeat_missing/acme-uk``, ``audit_trail_tampered/all``): a storm of
events while one is open is one alert; it clears when the cause is gone or after a quiet period.

A failed delivery fails the tick (visible in the UI) and leaves the cursor where it was, so the
alert is sent again on the next tick rather than lost.
"""

import json
import logging
from datetime import UTC, datetime

from dagster import (
    AssetCheckKey,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from sync_pipeline.contracts.slo import SloConfig, SloConfigError
from sync_pipeline.defs.monitoring import slo_inputs
from sync_pipeline.defs.resources import (
    HarvestResource,
    HeartbeatResource,
    MappingResource,
    OperationalStoreResource,
    RedmineResource,
    SloResource,
    XeroResource,
)
from sync_pipeline.defs.sources import project_source
from sync_pipeline.services import heartbeat as hb
from sync_pipeline.services import monitoring
from sync_pipeline.services import slo as slo_service
from sync_pipeline.services.alert_routing import AlertRouter, Delivery, EventSignal
from sync_pipeline.services.alerts import Alert
from sync_pipeline.store.alert_incidents import Incidents

MONITORED_GROUPS = ("reconciliation",)


def route_events(slo: SloResource, opstore: OperationalStoreResource, signals: list[EventSignal]) -> list[Delivery]:
    """Route what an event sensor saw, then escalate or clear the open event incidents whose time came. A broken
    SLO file does not silence alerts: they take the default routes (the webhook) and the log says what to fix."""
    try:
        config = slo.load()
    except SloConfigError as e:
        logging.getLogger("sync_pipeline.alerts").error(f"{e}; alerts take the default routes until it is fixed")
        config = SloConfig()
    router = AlertRouter(config, slo.channels(), Incidents(opstore.get()))
    sent = router.events(signals)
    return sent + router.follow_up()


def _sent(deliveries: list[Delivery]) -> str:
    return ", ".join(f"{d.incident_key} {d.what} to {d.team}" for d in deliveries) or "nothing new"


def partition_entity(partition: str | None) -> str:
    """The entity of an ``entity|period`` partition key; ``all`` for none."""
    return partition.split("|", 1)[0] if partition else "all"


def _root_cause(error) -> str | None:
    """The innermost error message (Dagster wraps user errors in a step-execution error)."""
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    return error.message.strip()[:500]


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the entity's team (its routes by severity) when a run of this code location fails, naming "
                "the failed steps; failures of one entity while its incident is open are one alert.",
)
def run_failure_alert(context: RunFailureSensorContext, slo: SloResource, opstore: OperationalStoreResource) -> None:
    run = context.dagster_run
    steps = [{"step": ev.step_key, "error": _root_cause(ev.step_failure_data.error if ev.step_failure_data else None)}
             for ev in context.get_step_failure_events()]
    sent = route_events(slo, opstore, [EventSignal("run_failure", partition_entity(run.tags.get("dagster/partition")),
                                                   run_failure_event(run, steps, context.failure_event.message))])
    context.log.info(f"run {run.run_id[:8]} failed; sent: {_sent(sent)}")


def run_failure_event(run, steps: list[dict], message: str | None) -> Alert:
    return Alert(
        kind="run_failure",
        summary=f"run {run.run_id[:8]} of {run.job_name} failed"
                + (f" for partition {run.tags['dagster/partition']}" if "dagster/partition" in run.tags else ""),
        details={"run_id": run.run_id, "job": run.job_name, "tags": _safe_tags(run.tags), "failed_steps": steps,
                 "message": message},
        action="open the run in the Dagster UI, fix the cause, then re-execute from failure",
    )


def _safe_tags(tags) -> dict[str, str]:
    """The run's tags without its run ticket (a credential for the run's lifetime)."""
    from sync_pipeline.store.identity import TICKET_TAG

    return {k: v for k, v in dict(tags).items() if k != TICKET_TAG}


def check_failure_alert(key: AssetCheckKey, record) -> Alert:
    evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
    metadata = {k: getattr(v, "value", v) for k, v in (getattr(evaluation, "metadata", None) or {}).items()}
    where = f" for partition {record.partition}" if record.partition else ""
    return Alert(
        kind="reconciliation_mismatch",
        summary=f"check {key.name} on {key.asset_key.to_user_string()} failed{where}",
        details={"check": key.to_user_string(), "partition": record.partition, "run_id": record.run_id,
                 "metadata": {k: str(v)[:1000] for k, v in metadata.items()}},
        action="open the asset's Checks tab in the Dagster UI for the failure cases; fix in the accounting "
               "system or re-sync the partition",
    )


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Alerts when an asset check on a reconciliation asset fails (documents missing, extra or "
                "mismatched), with the partition and the check's failure cases.",
)
def reconciliation_mismatch_alert(context: SensorEvaluationContext, slo: SloResource,
                                  opstore: OperationalStoreResource) -> SkipReason | None:
    graph = context.repository_def.asset_graph
    check_keys = sorted(
        (k for k in graph.asset_check_keys if graph.get(k.asset_key).group_name in MONITORED_GROUPS),
        key=lambda k: k.to_user_string())
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    storage = context.instance.event_log_storage
    alerts: list[EventSignal] = []
    new_cursor = dict(seen)
    for key in check_keys:
        name = key.to_user_string()
        records = storage.get_asset_check_execution_history(key, limit=200,
                                                            status={AssetCheckExecutionRecordStatus.FAILED})
        if not records:
            continue
        newest = max(r.id for r in records)
        if name not in seen:  # first look at this check: start from now, do not replay history
            new_cursor[name] = newest
            continue
        for r in sorted((r for r in records if r.id > seen[name]), key=lambda r: r.id):
            alerts.append(EventSignal("reconciliation_mismatch", partition_entity(r.partition),
                                      check_failure_alert(key, r)))
        new_cursor[name] = max(newest, seen[name])
    sent = route_events(slo, opstore, alerts)
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    if alerts:
        return SkipReason(f"{len(alerts)} new failed check(s); sent: {_sent(sent)}")
    return SkipReason(f"no new failed checks on {len(check_keys)} reconciliation check(s); sent: {_sent(sent)}")


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Alerts when new dead letters (documents that could not be posted) appear, per entity.",
)
def dead_letter_growth_alert(context: SensorEvaluationContext, opstore: OperationalStoreResource,
                             slo: SloResource) -> SensorResult | SkipReason:
    source = monitoring.dead_letter_source(opstore.get())
    if source is None:
        return SkipReason("this build has no dead-letter store (sync_pipeline.store.dead_letters) to watch")
    last_id = int(context.cursor) if context.cursor else None
    letters = source.open_letters()
    top = max((int(d["id"]) for d in letters), default=last_id or 0)
    by_entity: dict[str, list[dict]] = {}
    for d in letters:
        by_entity.setdefault(str(d.get("entity")), []).append(d)
    signals: list[EventSignal] = []
    for entity, mine in sorted(by_entity.items()):
        if last_id is None:  # first tick: the open backlog is reported once
            signals.append(EventSignal("dead_letters", entity, monitoring.dead_letter_alert(mine, backlog=True)))
            continue
        new = [d for d in mine if int(d["id"]) > last_id]
        if new:
            signals.append(EventSignal("dead_letters", entity,
                                       monitoring.dead_letter_alert(new, backlog=False, open_total=len(mine))))
    # an entity whose letters were all replayed or discarded: its incident clears
    signals += [EventSignal("dead_letters", inc.entity) for inc in Incidents(opstore.get()).list(state="open")
                if inc.objective == "dead_letters" and inc.entity not in by_entity]
    sent = route_events(slo, opstore, signals)
    if sent:
        context.log.info(f"dead letters: sent {_sent(sent)}")
    return SensorResult(cursor=str(top if last_id is None else max(top, last_id)))



@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Checks the audit trail's new events every 5 minutes (they chain onto the last one checked, which "
                "is unchanged) and alerts when it was tampered with; `sync-pipeline audit verify` checks all of it.",
)
def audit_trail_alert(context: SensorEvaluationContext, opstore: OperationalStoreResource,
                      slo: SloResource) -> SensorResult | SkipReason:
    from sync_pipeline.store import audit

    checked = json.loads(context.cursor) if context.cursor else {}
    problems, now = audit.verify_since(opstore.get(), checked)
    if problems:  # the cursor stays: the incident stays open (and escalates) until someone looks
        route_events(slo, opstore, [EventSignal("audit_trail_tampered", "all", Alert(
            kind="audit_trail_tampered", severity="critical",
            summary=f"the audit trail was tampered with: {len(problems)} problem(s), first: {problems[0]}",
            details={"problems": [str(p) for p in problems[:20]]},
            action="run `sync-pipeline audit verify`, compare with the last signed export "
                   "(`audit verify --export FILE --against-store`), and find who has owner access to the store"))])
        return SensorResult(cursor=context.cursor)
    route_events(slo, opstore, [EventSignal("audit_trail_tampered", "all")])  # intact: an open incident clears
    new = {k: v for k, v in now.items() if checked.get(k) != v}
    if not new:
        return SkipReason("no new audit events since the last check")
    context.log.info("audit trail intact up to " + ", ".join(f"{k} seq {v[0]}" for k, v in sorted(now.items())))
    return SensorResult(cursor=json.dumps(now, sort_keys=True))


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Pushes a synthetic time-entry edit through the sandbox (or a dedicated production entity) and "
                "alerts when the change-feed sensor, the sync run and posting have not brought it to the draft "
                "invoice within the deadline.",
)
def heartbeat(context: SensorEvaluationContext, heartbeat_probe: HeartbeatResource, harvest: HarvestResource,
              redmine: RedmineResource, xero: XeroResource, mapping: MappingResource,
              slo: SloResource, opstore: OperationalStoreResource) -> SkipReason | None:
    if not heartbeat_probe.configured:
        return SkipReason("heartbeat not configured: set SYNC_PIPELINE_HEARTBEAT_ENTITY, _ENTRY and _CLIENT "
                          "(a time entry whose client bills nothing else this period)")
    cfg = heartbeat_probe
    entity = mapping.load().entity(cfg.entity)
    source = project_source(entity, harvest, redmine)
    if not source.supports("heartbeat_probe"):
        return SkipReason(f"heartbeat entity {cfg.entity} reads from {source.system}, which has no entry the probe "
                          "may edit; choose an entity whose source supports the heartbeat probe (harvest)")
    state = hb.HeartbeatState.from_json(context.cursor)
    if state.probe is not None:
        target = xero.target(entity)
        try:
            done = hb.arrived(target, state.probe)
        finally:
            target.close()
        age = hb.age_seconds(state.probe)
        if done:
            state.last_latency_s = round(age, 1)  # upper bound: arrival is seen at the next tick
            state.arrived_count += 1
            context.log.info(f"heartbeat probe {state.probe.sent_at} arrived (≤ {age:.0f} s)")
            state.last_hours, state.probe, state.alerted = state.probe.hours, None, False
            Incidents(opstore.get()).note(slo_inputs.HEARTBEAT_LAST_ARRIVED, cfg.entity, datetime.now(UTC))
            route_events(slo, opstore, [EventSignal("heartbeat_missing", cfg.entity)])  # arrived: it clears
        elif age > cfg.deadline_seconds and not state.alerted:
            route_events(slo, opstore, [EventSignal("heartbeat_missing", cfg.entity, Alert(
                kind="heartbeat_missing", severity="critical",
                summary=f"heartbeat probe for {cfg.entity} sent {state.probe.sent_at} has not reached the draft "
                        f"invoice after {age:.0f} s (deadline {cfg.deadline_seconds} s)",
                details=hb.missing_alert_details(state.probe, cfg.deadline_seconds, state),
                action="check that dagster-daemon runs, the harvest_changefeed sensor is on and ticking, and the "
                       "latest sync_job runs of this entity succeeded",
            ))])
            state.alerted = True
        elif age > 3 * cfg.deadline_seconds:
            context.log.warning("heartbeat probe long overdue; sending a fresh one")
            state.last_hours, state.probe = state.probe.hours, None
    if state.probe is None:
        try:
            state.probe = hb.send_probe(source.entry_writer(), entity=entity.key, timezone=entity.timezone,
                                        entry_id=cfg.entry_id, client_id=cfg.client_id,
                                        previous_hours=state.last_hours)
        finally:
            source.close()
        state.alerted = False
        Incidents(opstore.get()).note(slo_inputs.HEARTBEAT_FIRST_SENT, cfg.entity, datetime.now(UTC),
                                      keep_first=True)
    context.update_cursor(state.to_json())
    return None


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Measures each mapped entity's service-level objectives (SYNC_PIPELINE_SLO) every minute and routes "
                "warnings and breaches to the owning team's webhook / Slack / email, one alert per incident, "
                "escalating a breach nobody acknowledged.",
)
def slo_alerts(context: SensorEvaluationContext, opstore: OperationalStoreResource, mapping: MappingResource,
               slo: SloResource) -> SkipReason:
    config = slo.load()
    store = opstore.get()
    entities = [e.key for e in mapping.load().entities]
    obs = slo_inputs.observations(context.instance, slo_inputs.asset_graph_of(context), store, config, entities,
                                  heartbeat_entity=slo.heartbeat_entity, now=datetime.now(UTC))
    results = slo_service.evaluate(config, obs)
    router = AlertRouter(config, slo.channels(), Incidents(store))
    sent = router.process(results)
    sent += router.follow_up()  # the event incidents: escalate or clear even when no new event came
    failing = [r.incident_key for r in results if r.failing]
    return SkipReason(f"{len(results)} objective(s) of {len(entities)} entit(ies) measured; failing: "
                      f"{', '.join(failing) or 'none'}; sent: "
                      + (", ".join(f"{d.incident_key} {d.what} to {d.team}" for d in sent) or "nothing new"))
