"""SLO checks through Dagster: injected breaches fail their check on the entity's partition, values at the
threshold pass; the ``slo_alerts`` sensor sends each incident to a real receiver once, reading dead letters
and reconciliation check results where they are recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    asset,
    asset_check,
    build_sensor_context,
    job,
    materialize,
    op,
)
from dagster._core.test_utils import create_run_for_test

from sync_pipeline.defs.monitoring import slo_inputs
from sync_pipeline.defs.monitoring.assets import slo_status
from sync_pipeline.defs.monitoring.sensors import slo_alerts
from sync_pipeline.defs.partitions import entity_period_partitions, partition_key
from sync_pipeline.defs.resources import MappingResource, OperationalStoreResource, SloResource
from sync_pipeline.defs.settings import mapping_path
from sync_pipeline.services import slo
from sync_pipeline.store.alert_incidents import Incidents
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline_tests.alert_capture import AlertCapture

ENTITY = "acme-uk"
SLO = {
    "objectives": {"sync_success_rate": {"warn": 0.75, "breach": 0.5},
                   "dead_letter_backlog": {"warn": 2, "breach": 4},
                   "heartbeat_age": {"warn": 600, "breach": 1800}},
    "teams": {"finance": {"routes": {"warn": ["webhook"], "breach": ["webhook"]}}},
    "default_team": "finance",
}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[DagsterInstance, dict[str, object]]]:
    (tmp_path / "slo.yaml").write_text(yaml.safe_dump(SLO))
    res = {"opstore": OperationalStoreResource(url=f"sqlite:///{tmp_path / 'op.sqlite3'}"),
           "slo": SloResource(path=str(tmp_path / "slo.yaml"), heartbeat_entity=ENTITY),
           "mapping": MappingResource(path=mapping_path())}
    with DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions("entity", [ENTITY])
        yield inst, res


def inject(instance: DagsterInstance, res: dict, *, letters: int, ok_runs: int, failed_runs: int,
           heartbeat_s: int) -> None:
    store = res["opstore"].get()
    dl = DeadLetters(store)
    for _ in range(letters):
        dl.park(entity=ENTITY, period="2026-10", doc_key=f"inv_{uuid.uuid4().hex[:8]}", kind="invoice",
                operation="create", error="ValidationException: Account code '999' is not a valid code")
    for n, status in ((ok_runs, DagsterRunStatus.SUCCESS), (failed_runs, DagsterRunStatus.FAILURE)):
        for _ in range(n):
            create_run_for_test(instance, job_name="sync_job", status=status,
                                tags={"dagster/partition/entity": ENTITY})
    Incidents(store).note(slo_inputs.HEARTBEAT_LAST_ARRIVED, ENTITY, datetime.now(UTC) - timedelta(seconds=heartbeat_s))


def evaluations(instance: DagsterInstance, res: dict) -> dict[str, tuple[bool, str, str | None]]:
    result = materialize([slo_status], partition_key=ENTITY, instance=instance, resources=res)
    out = {}
    for ev in result.get_asset_check_evaluations():
        rec = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(slo_status.key, ev.check_name), limit=1)[0]
        out[ev.check_name] = (ev.passed, ev.severity.value, rec.partition)
    return out


def test_injected_breaches_fail_their_checks_on_the_entity_partition(env) -> None:
    instance, res = env
    inject(instance, res, letters=5, ok_runs=1, failed_runs=2, heartbeat_s=3600)
    got = evaluations(instance, res)
    assert got["dead_letter_backlog"] == (False, "ERROR", ENTITY)
    assert got["sync_success_rate"] == (False, "ERROR", ENTITY)
    assert got["heartbeat_age"] == (False, "ERROR", ENTITY)
    assert got["change_to_draft_latency"][0] is True  # no change-feed runs: no data, passes
    assert got["reconciliation_mismatches"][0] is True


def test_values_at_the_warn_threshold_pass_and_between_warn_and_breach_warn(env) -> None:
    instance, res = env
    inject(instance, res, letters=2, ok_runs=3, failed_runs=1, heartbeat_s=0)
    got = evaluations(instance, res)
    assert all(passed for passed, _, _ in got.values()), got
    inject(instance, res, letters=1, ok_runs=0, failed_runs=0, heartbeat_s=0)  # 3 letters: past warn only
    got = evaluations(instance, res)
    assert got["dead_letter_backlog"] == (False, "WARN", ENTITY)


def test_the_sensor_sends_each_incident_once_and_again_after_it_cleared(env) -> None:
    instance, res = env
    inject(instance, res, letters=5, ok_runs=1, failed_runs=0, heartbeat_s=0)
    with AlertCapture() as hook:
        res = {**res, "slo": SloResource(path=res["slo"].path, heartbeat_entity=ENTITY, webhook_url=hook.url)}

        defs = Definitions(assets=[slo_status], resources=res)

        def tick() -> str:
            with build_sensor_context(instance=instance, resources=res, definitions=defs) as ctx:
                return slo_alerts(ctx).skip_message

        first = tick()
        tick()
        assert [a["details"]["incident_key"] for a in hook.received] == [f"dead_letter_backlog/{ENTITY}"]
        assert "dead_letter_backlog/acme-uk opened to finance" in first
        store = res["opstore"].get()
        for d in DeadLetters(store).list(status="open"):
            DeadLetters(store).discard(int(d["id"]), "posted by hand", "ana")
        tick()  # cleared
        inject(instance, res, letters=5, ok_runs=0, failed_runs=0, heartbeat_s=0)  # five more
        tick()
        assert len(hook.received) == 2
        assert Incidents(store).get(f"dead_letter_backlog/{ENTITY}").occurrences == 2


@asset(partitions_def=entity_period_partitions, group_name="reconciliation")
def toy_reconciliation() -> int:
    return 1


RECON = {"pass": False}


@asset_check(asset=toy_reconciliation, partitions_def=entity_period_partitions)
def toy_documents_match() -> AssetCheckResult:
    return AssetCheckResult(passed=RECON["pass"])


def test_a_failed_reconciliation_check_is_a_mismatch_until_it_passes_again(env) -> None:
    instance, res = env
    with AlertCapture() as hook:
        res = {**res, "slo": SloResource(path=res["slo"].path, webhook_url=hook.url)}
        defs = Definitions(assets=[slo_status, toy_reconciliation], asset_checks=[toy_documents_match], resources=res)

        def check(passed: bool) -> None:
            RECON["pass"] = passed
            materialize([toy_reconciliation, toy_documents_match], instance=instance, raise_on_error=False,
                        partition_key=partition_key(ENTITY, "2026-10"))

        def tick() -> None:
            with build_sensor_context(instance=instance, resources=res, definitions=defs) as ctx:
                slo_alerts(ctx)

        check(False)
        tick()
        tick()
        assert [(a["kind"], a["details"]["incident_key"], a["details"]["value"]) for a in hook.received] == [
            ("slo_warn", f"reconciliation_mismatches/{ENTITY}", 1.0)]
        check(True)
        tick()
        assert Incidents(res["opstore"].get()).get(f"reconciliation_mismatches/{ENTITY}").state == "cleared"


@op
def toy_step() -> None:
    return None


@job(name="sync_job")
def toy_sync_job() -> None:
    toy_step()


def test_run_outcomes_read_entity_success_and_latency_of_change_feed_runs(env) -> None:
    instance, _ = env
    tags = {"dagster/partition/entity": ENTITY, "dagster/sensor_name": "harvest_changefeed"}
    assert toy_sync_job.execute_in_process(instance=instance, tags=tags).success
    assert toy_sync_job.execute_in_process(instance=instance, tags={"dagster/partition/entity": "acme-us"}).success
    runs = sorted(slo_inputs.run_outcomes(instance, datetime.now(UTC) - timedelta(hours=1)), key=lambda r: r.entity)
    assert [(r.entity, r.succeeded, r.from_change_feed) for r in runs] == [("acme-uk", True, True),
                                                                           ("acme-us", True, False)]
    assert all(r.seconds is not None and 0 < r.seconds < 120 for r in runs)
    latency = slo.change_to_draft_latency(ENTITY, runs)
    assert latency.value == runs[0].seconds and latency.detail["runs"] == 1
