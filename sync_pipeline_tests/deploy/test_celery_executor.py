"""Scale-out: the same sync_job on Dagster's Celery executor, steps executed by a separate Celery worker
process over the local RabbitMQ broker, on the PostgreSQL-backed production instance."""

from __future__ import annotations

import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from sync_pipeline_tests.deploy.conftest import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.full]

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


def test_sync_job_runs_on_celery_workers(deployment, monkeypatch):
    if not _rabbitmq_up():
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    from dagster import DagsterRunStatus, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from sync_pipeline.defs.partitions import entity_period_partitions, partition_key
    from sync_pipeline.store.operational import OperationalStore
    from sync_pipeline_tests.identity import standing_policy

    standing_policy(OperationalStore(deployment.env["SYNC_PIPELINE_STORE_URL"]), "acme-ie")  # approved posting
    queue = f"sp_test_{uuid.uuid4().hex[:8]}"
    env = {"SYNC_PIPELINE_EXECUTOR": "celery", "SYNC_PIPELINE_CELERY_BROKER": BROKER,
           "SYNC_PIPELINE_CELERY_QUEUE": queue}
    deployment.env.update(env)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # the executor is chosen when the definitions are built: rebuild them here, since an earlier test in this
    # process may have imported them with the default executor (and rebuild them again afterwards)
    import importlib

    import sync_pipeline.defs.definitions as definitions_module

    importlib.reload(definitions_module)
    worker_cfg = Path(deployment.home) / "celery.yaml"
    worker_cfg.write_text(yaml.safe_dump({"broker": BROKER, "backend": "rpc://",
                                          "config_source": {"task_default_queue": queue}}))
    exe = str(Path(sys.executable).with_name("dagster-celery"))
    worker = deployment.start(exe, "worker", "start", "-A", "dagster_celery.app", "-y", str(worker_cfg),
                              "-q", queue, "--name", queue, "--", "--concurrency", "2", log="celery.log")
    try:
        time.sleep(2)
        recon = ReconstructableRepository.for_module("sync_pipeline.defs.definitions", "defs",
                                                     working_directory=str(ROOT)).get_reconstructable_job("sync_job")
        with deployment.instance() as instance:
            tags = entity_period_partitions.get_tags_for_partition_key(partition_key("acme-ie", "2026-10"))
            result = execute_job(recon, instance=instance, tags=tags)
            assert result.success, deployment.log("celery.log")
            run = instance.get_run_by_id(result.run_id)
            assert run.status == DagsterRunStatus.SUCCESS
            engine_msgs = [e.message or "" for e in instance.all_logs(result.run_id)]
            assert any(f'to queue "{queue}"' in m for m in engine_msgs), "steps were not submitted to Celery"
        assert worker.poll() is None
        assert "succeeded" in deployment.log("celery.log")  # the worker executed the step tasks
    finally:
        deployment.stop_all()
        for k in env:
            monkeypatch.delenv(k)
        importlib.reload(definitions_module)
