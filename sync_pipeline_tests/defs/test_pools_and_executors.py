"""Every asset that calls an external system sits in that system's concurrency pool; the production
instance config and the pool limits are valid; the executor follows SYNC_PIPELINE_EXECUTOR."""

import pytest
import yaml

from sync_pipeline.defs import settings
from sync_pipeline.defs.definitions import defs
from sync_pipeline.defs.executors import executor_from_env

SYSTEM_RESOURCES = {"xero": "xero", "harvest": "harvest"}  # resource key → pool


def test_assets_calling_an_external_system_declare_its_pool():
    missing = []
    for a in defs.assets:
        needed = {SYSTEM_RESOURCES[k] for k in a.required_resource_keys if k in SYSTEM_RESOURCES}
        if needed and not needed <= set(a.node_def.pools):
            missing.append(f"{a.node_def.name}: uses {sorted(needed)}, pool={sorted(a.node_def.pools)}")
    assert not missing, "add pool=... to these assets:\n" + "\n".join(missing)


def test_pool_limits_cover_every_pool_and_respect_the_apis():
    limits = yaml.safe_load((settings.PROJECT_ROOT / "deploy" / "pools.yaml").read_text())["pools"]
    used = {p for a in defs.assets for p in a.node_def.pools}
    assert used <= set(limits), f"pools without a limit in deploy/pools.yaml: {sorted(used - set(limits))}"
    assert limits["xero"] <= 5  # Xero: 5 concurrent calls per tenant


def test_production_instance_config_is_valid(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((settings.PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    for k, v in {"DAGSTER_PG_HOST": "db", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
                 "DAGSTER_PG_PASSWORD": "x", "DAGSTER_PG_DB": "dagster"}.items():
        monkeypatch.setenv(k, v)
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"]
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 5


@pytest.mark.parametrize("kind,name", [("multiprocess", "multiprocess"), ("in_process", "in_process")])
def test_executor_from_env(monkeypatch, kind, name):
    monkeypatch.setenv("SYNC_PIPELINE_EXECUTOR", kind)
    assert executor_from_env().name == name


def test_partition_runs_execute_in_process_by_default(monkeypatch):
    """A partition's chain runs in its run worker (no process per step), from a job, the UI or a backfill."""
    monkeypatch.delenv("SYNC_PIPELINE_EXECUTOR", raising=False)
    assert executor_from_env().name == "in_process"
    # sync_job, the UI's asset job and backfills all take the code location's executor
    names = {defs.resolve_job_def(j).executor_def.name for j in ("sync_job", "xero_refresh_job")}
    assert names == {defs.resolve_implicit_global_asset_job_def().executor_def.name}


def test_celery_executor_needs_a_broker(monkeypatch):
    monkeypatch.setenv("SYNC_PIPELINE_EXECUTOR", "celery")
    monkeypatch.delenv("SYNC_PIPELINE_CELERY_BROKER", raising=False)
    with pytest.raises(ValueError, match="SYNC_PIPELINE_CELERY_BROKER"):
        executor_from_env()
    monkeypatch.setenv("SYNC_PIPELINE_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
    assert executor_from_env().name == "celery"
    monkeypatch.setenv("SYNC_PIPELINE_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="not one of"):
        executor_from_env()


def test_in_process_the_chain_to_the_draft_runs_before_steps_nothing_bills_from(monkeypatch):
    """The in-process executor runs one ready step at a time, higher dagster/priority first: entity merge
    proposals (read by people, not by billing) wait until the run's posting and reconciliation are done."""
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.execution.plan.active import ActiveExecution
    from dagster._core.execution.plan.outputs import StepOutputHandle
    from dagster._core.execution.retries import RetryMode

    for var in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID"):  # resources' settings resolve with the plan
        monkeypatch.setenv(var, "not-used")
    plan = create_execution_plan(defs.resolve_job_def("sync_job"))
    order: list[str] = []
    with ActiveExecution(plan, RetryMode.DISABLED) as active:
        while not active.is_complete:
            step = active.get_next_step()
            assert step is not None
            for out in step.step_outputs:
                active.mark_step_produced_output(StepOutputHandle(step.key, out.name))
            active.mark_success(step.key)
            order.append(step.key)
    assert order.index("posted_invoices") < order.index("entity_merge_proposals")
    assert order[-1] == "entity_merge_proposals"
    assert order.index("clean_time_entries_clean_time_entries_contract") < order.index("billables")  # blocking
