"""Backfill one period for every entity through a real dagster-daemon on the PostgreSQL-backed production
instance (deploy/dagster.yaml): one run per partition, runs in parallel, the Xero concurrency pool never
exceeded across the parallel runs — and four eyes held: the entity with an admin-approved auto-approval
policy posts, the other stops at "awaiting approval" having posted nothing."""

from __future__ import annotations

import time

import pytest
from dagster import AssetSelection, DagsterEventType, DagsterRunStatus, RunsFilter
from dagster._core.storage.event_log.base import AssetRecordsFilter

from sync_pipeline.cli.backfill import apply_pool_limits, launch_period_backfill
from sync_pipeline.defs.definitions import defs
from sync_pipeline.store.approvals import PlanApprovals
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.deploy.conftest import ROOT
from sync_pipeline_tests.identity import standing_policy

pytestmark = pytest.mark.postgres

PERIOD = "2026-10"
TIMEOUT = 240


def _wait_runs(instance, backfill_id, expected, dep):
    deadline = time.time() + TIMEOUT
    runs = []
    while time.time() < deadline:
        runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
        if len(runs) >= expected and all(r.is_finished for r in runs):
            return runs
        if dep.processes[0].poll() is not None:
            pytest.fail(f"dagster-daemon exited early:\n{dep.log('daemon.log')}")
        time.sleep(1)
    pytest.fail(f"backfill did not finish within {TIMEOUT}s: {[(r.run_id[:8], r.status) for r in runs]}\n"
                f"{dep.log('daemon.log')}")


def _step_windows(instance, run_id):
    """step key → (start, end) timestamps from the run's event log."""
    starts, ends = {}, {}
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type == DagsterEventType.STEP_START:
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[ev.step_key] = rec.timestamp
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def test_period_backfill_for_all_entities_under_the_daemon(deployment):
    xero_assets = sorted(a.node_def.name for a in defs.assets if "xero" in a.node_def.pools)
    assert xero_assets, "no asset declares pool='xero'"
    store = OperationalStore(deployment.env["SYNC_PIPELINE_STORE_URL"])
    approved, unapproved = deployment.entities  # four eyes: only the first entity has an auto-approval policy
    standing_policy(store, approved)
    with deployment.instance() as instance:
        assert apply_pool_limits(instance, ROOT / "deploy" / "pools.yaml")["xero"] == 5
        # one Xero slot for this test makes any overlap of Xero steps across the parallel runs visible
        instance.event_log_storage.set_concurrency_slots("xero", 1)
        backfill_id = launch_period_backfill(instance, PERIOD)
        deployment.start_daemon()
        runs = _wait_runs(instance, backfill_id, len(deployment.entities), deployment)

        # one run per entity × period partition: the approved entity's succeeded; the other's stopped at
        # posted_invoices, awaiting approval, having posted nothing — a backfill is no way around four eyes
        by_partition = {r.tags.get("dagster/partition"): r for r in runs}
        assert sorted(by_partition) == sorted(f"{e}|{PERIOD}-01" for e in deployment.entities)
        ok_pk, waiting_pk = f"{approved}|{PERIOD}-01", f"{unapproved}|{PERIOD}-01"
        assert by_partition[ok_pk].status == DagsterRunStatus.SUCCESS, deployment.log("daemon.log")
        assert by_partition[waiting_pk].status == DagsterRunStatus.FAILURE, deployment.log("daemon.log")
        failures = [rec.dagster_event for rec in instance.all_logs(by_partition[waiting_pk].run_id)
                    if rec.dagster_event is not None and rec.dagster_event.event_type == DagsterEventType.STEP_FAILURE]
        assert [f.step_key for f in failures] == ["posted_invoices"]
        message = failures[0].event_specific_data.error.message
        assert "awaiting approval" in message and "nothing was posted" in message
        assert "An approver other than dagster-ui" in message  # who launched a backfill: Dagster does not say
        [waiting] = PlanApprovals(store).plans(unapproved, PERIOD, ["awaiting_approval"])
        assert waiting.documents == 2
        assert [r for r in store.ledger_for(unapproved, PERIOD) if r["status"] == "posted"] == []
        assert {r["plan_approved_by"] for r in store.ledger_for(approved, PERIOD)} == {
            f"policy {approved} v1 (approved by pytest-admin-2)"}

        # every asset of the backfill materialized for the approved partition; the other stopped at posting
        backfill = instance.get_backfill(backfill_id)
        after_posting = AssetSelection.assets("posted_invoices").downstream().resolve(defs.resolve_asset_graph())
        for key in backfill.asset_selection:
            for partition in by_partition:
                recs = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
                if partition == waiting_pk and key in after_posting:
                    assert not recs, f"{key.to_user_string()} materialized for {partition} without approval"
                else:
                    assert recs, f"{key.to_user_string()} not materialized for {partition}"

        # the runs ran in parallel ...
        records = [instance.get_run_record_by_id(r.run_id) for r in runs]
        windows = {rec.dagster_run.run_id[:8]: (rec.start_time, rec.end_time) for rec in records}
        (s1, e1), (s2, e2) = windows.values()
        assert s1 < e2 and s2 < e1, f"runs did not overlap: {windows}"
        # ... yet no two Xero-pool steps ever did (pool limit 1)
        in_backfill = sorted(set(xero_assets) & {k.to_user_string() for k in backfill.asset_selection})
        assert "posted_invoices" in in_backfill
        xero_steps = []
        for r in runs:
            for step, (s, e) in _step_windows(instance, r.run_id).items():
                if step in in_backfill:
                    xero_steps.append((s, e, r.tags["dagster/partition"], step))
        xero_steps.sort()
        ran = {(p, k) for *_, p, k in xero_steps}
        assert {(ok_pk, k) for k in in_backfill} <= ran and (waiting_pk, "posted_invoices") in ran
        for (s_a, e_a, p_a, k_a), (s_b, e_b, p_b, k_b) in zip(xero_steps, xero_steps[1:], strict=False):
            assert s_b >= e_a - 0.05, f"{k_a}@{p_a} [{s_a},{e_a}] overlaps {k_b}@{p_b} [{s_b},{e_b}]"
