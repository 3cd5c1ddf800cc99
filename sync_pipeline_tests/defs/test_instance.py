"""The local instance (demo, dev) queues runs like production: one run per entity × period partition at a time."""

from __future__ import annotations

import yaml
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.utils import make_new_run_id
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from sync_pipeline.defs import settings
from sync_pipeline.defs.instance import LOCAL_INSTANCE_YAML, MARKER, ensure_local_instance

ORIGIN = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("sync_pipeline"), "__repository__"),
                         "sync_job")
PARTITION_RULE = {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


def _run(instance: DagsterInstance, partition: str, status: DagsterRunStatus) -> DagsterRun:
    run = DagsterRun(job_name="sync_job", run_id=make_new_run_id(), status=status, remote_job_origin=ORIGIN,
                     tags={"dagster/partition": partition, "dagster/partition/entity": partition.split("|")[0]})
    return instance.add_run(run)


def test_a_second_launch_of_a_running_partition_waits_in_the_queue(tmp_path):
    ensure_local_instance(tmp_path)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        running = _run(instance, "acme-uk|2026-10-01", DagsterRunStatus.STARTED)
        again = _run(instance, "acme-uk|2026-10-01", DagsterRunStatus.QUEUED)
        other = _run(instance, "acme-de|2026-10-01", DagsterRunStatus.QUEUED)
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        dequeued = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)  # noqa: SLF001
        assert [r.run_id for r in dequeued] == [other.run_id]  # the other partition starts; this one waits
        instance.delete_run(running.run_id)  # the running one ended
        dequeued = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)  # noqa: SLF001
        assert {r.run_id for r in dequeued} == {again.run_id, other.run_id}


def test_production_and_local_instances_share_the_partition_rule():
    prod = yaml.safe_load((settings.PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    local = yaml.safe_load(LOCAL_INSTANCE_YAML)
    for cfg in (prod, local):
        assert PARTITION_RULE in cfg["concurrency"]["runs"]["tag_concurrency_limits"]
        assert cfg["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_the_local_config_is_written_once_and_an_operators_file_is_kept(tmp_path):
    cfg = ensure_local_instance(tmp_path)
    assert cfg.read_text().startswith(MARKER)
    cfg.write_text("telemetry:\n  enabled: false\n")  # what earlier releases wrote: replaced
    assert ensure_local_instance(tmp_path).read_text() == LOCAL_INSTANCE_YAML
    cfg.write_text("# mine\ntelemetry:\n  enabled: true\n")
    assert ensure_local_instance(tmp_path).read_text().startswith("# mine")
