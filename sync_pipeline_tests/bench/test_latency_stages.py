"""The latency bench's stage breakdown, read from a real Dagster instance's run records and event log."""

from __future__ import annotations

import time

from dagster import DagsterInstance, job, op

from sync_pipeline.bench.latency_stages import CHANGED_TAG, POST_STEP, Edit, edit_stages, run_stages, summarize


@op(name="extract_step")
def _extract() -> int:
    return 1


@op(name=POST_STEP)
def _post(n: int) -> int:
    return n


@job(name="sync_job")
def _sync_job():
    _post(_extract())


def test_edit_stages_split_an_edit_at_the_runs_milestones_in_order(tmp_path):
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        t_edit = time.time()
        other = _sync_job.execute_in_process(instance=instance, tags={CHANGED_TAG: "77"})
        result = _sync_job.execute_in_process(instance=instance, tags={CHANGED_TAG: "5001,5002"})
        t_draft = time.time()
        stages = edit_stages(instance, [Edit(5002, t_edit, t_draft), Edit(9999, t_edit, t_draft)])
        marks = run_stages(instance, result.run_id)
        assert other.success and result.success
    assert len(stages) == 1  # the edit of an entry no run carried has no stages
    (s,) = stages
    # in process: no queue, no run worker; the post step's milestones and what came before it
    assert set(s) == {"steps_before_post", "accounting_write", "seen", "after_draft"}
    assert all(v >= 0 for k, v in s.items() if k != "seen")
    assert s["steps_before_post"] + s["accounting_write"] + s["seen"] <= t_draft - t_edit
    assert set(marks) == {"steps"} and marks["steps"] >= 0
    summary = summarize(stages)
    assert list(summary) == ["steps_before_post", "accounting_write", "seen", "after_draft"]
    p50, p95 = (float(x) for x in summary["accounting_write"].split(" / "))
    assert p50 == p95 == round(s["accounting_write"], 1)


def test_the_benchs_approval_policy_is_sealed_with_the_run_workers_keyring(tmp_path, monkeypatch):
    """The bench writes the policy from its own process; the run workers (SYNC_PIPELINE_DATA_DIR = the bench's
    data folder) must be able to open what it sealed, and the checkout's own keyring must stay untouched."""
    from sync_pipeline.bench.latency import _auto_approval
    from sync_pipeline.store.operational import OperationalStore
    from sync_pipeline.store.protection import protector

    monkeypatch.delenv("SYNC_PIPELINE_KEYS", raising=False)
    monkeypatch.setenv("SYNC_PIPELINE_DATA_DIR", str(tmp_path / "checkout-data"))
    data = tmp_path / "bench" / "data"
    _auto_approval(data, {})
    assert not (tmp_path / "checkout-data.keys").exists()
    monkeypatch.setenv("SYNC_PIPELINE_DATA_DIR", str(data))  # as the daemon and its run workers see it
    worker_store = OperationalStore(f"sqlite:///{data / 'operational.sqlite3'}")
    p = protector(worker_store)
    assert p.decrypt_field(p.encrypt_field("1.25 h", "test"), "test") == "1.25 h"


def test_tick_periods_are_the_gaps_between_the_change_feed_sensors_ticks(tmp_path):
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        SensorInstigatorData,
        TickData,
        TickStatus,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from sync_pipeline.bench.latency_stages import SENSOR, tick_periods

    repo = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="x")), "repo")
    origin = RemoteInstigatorOrigin(repo, SENSOR)
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        state = InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING, SensorInstigatorData())
        instance.add_instigator_state(state)
        for ts in (100.0, 110.0, 125.0):
            instance.create_tick(TickData(instigator_origin_id=state.instigator_origin_id, instigator_name=SENSOR,
                                          instigator_type=InstigatorType.SENSOR, status=TickStatus.SKIPPED,
                                          timestamp=ts, selector_id=state.selector_id))
        assert tick_periods(instance) == [10.0, 15.0]


def test_sigterm_ends_the_bench_through_its_cleanup(tmp_path):
    """`timeout` sends SIGTERM: the bench's finally (which stops the daemon it started) must still run."""
    import subprocess
    import sys

    marker = tmp_path / "cleaned"
    code = (
        "import os, signal, time\n"
        "from sync_pipeline.bench.latency import stop_on_sigterm\n"
        "stop_on_sigterm()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "finally:\n"
        f"    open({str(marker)!r}, 'w').write('daemon stopped')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 128 + 15
    assert marker.read_text() == "daemon stopped"
