"""``slo_status``: the service-level objectives of one entity, each an asset check on the entity's partition.

A check passes when its objective is at or better than the warn threshold (or has nothing to measure), fails
with severity WARN past warn and ERROR past breach. Alerts are the ``slo_alerts`` sensor's; this asset records
the history the UI shows (Checks tab, per entity).
"""

from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sync_pipeline.contracts.slo import OBJECTIVES
from sync_pipeline.defs.monitoring import slo_inputs
from sync_pipeline.defs.partitions import entity_partitions
from sync_pipeline.defs.resources import OperationalStoreResource, SloResource
from sync_pipeline.services import slo as slo_service

DESCRIPTIONS = {
    "sync_success_rate": "succeeded / finished sync_job runs of the entity in the window",
    "change_to_draft_latency": "p95 seconds from a change-feed run's creation to its end (draft updated)",
    "dead_letter_backlog": "open dead letters of the entity",
    "reconciliation_mismatches": "partitions whose latest reconciliation check failed",
    "heartbeat_age": "seconds since the heartbeat probe last reached the draft invoice",
}


def check_result(r: slo_service.SloResult | None, objective: str) -> AssetCheckResult:
    if r is None:
        return AssetCheckResult(check_name=objective, passed=True, metadata={"status": "disabled"})
    meta = {"status": r.status, "value": r.value if r.value is not None else "no data", "warn": r.warn,
            "breach": r.breach, "unit": r.unit, "team": r.team, "summary": r.describe(),
            **{f"measurement_{k}": str(v) for k, v in r.detail.items()}}
    severity = AssetCheckSeverity.ERROR if r.status == "breach" else AssetCheckSeverity.WARN
    return AssetCheckResult(check_name=objective, passed=not r.failing, severity=severity, metadata=meta)


def _table(results: list[slo_service.SloResult]) -> str:
    rows = ["| objective | value | status | warn | breach | team |", "|---|---|---|---|---|---|"]
    rows += [f"| {r.objective} | {'no data' if r.value is None else f'{r.value:g}'} | {r.status} | {r.warn:g} | "
             f"{r.breach:g} | {r.team} |" for r in results]
    return "\n".join(rows)


@asset(
    partitions_def=entity_partitions,
    group_name="monitoring",
    description="The entity's service-level objectives (docs/operations.md, SLOs and alert routing), each a check.",
    check_specs=[AssetCheckSpec(o, asset="slo_status", description=DESCRIPTIONS[o], partitions_def=entity_partitions)
                 for o in OBJECTIVES],
)
def slo_status(context: AssetExecutionContext, opstore: OperationalStoreResource, slo: SloResource) -> MaterializeResult:
    entity = context.partition_key
    config = slo.load()
    obs = slo_inputs.observations(context.instance, slo_inputs.asset_graph_of(context), opstore.get(), config,
                                  [entity], heartbeat_entity=slo.heartbeat_entity, now=datetime.now(UTC))
    results = slo_service.evaluate(config, obs)
    by_name = {r.objective: r for r in results}
    return MaterializeResult(
        metadata={"objectives": MetadataValue.md(_table(results)),
                  "failing": sum(r.failing for r in results), "team": config.team_of(entity)},
        check_results=[check_result(by_name.get(o), o) for o in OBJECTIVES],
    )
