"""The executor steps run on, chosen per deployment by ``SYNC_PIPELINE_EXECUTOR``.

- ``multiprocess`` (default): each step in its own process on the run's machine; concurrency pools
  (``pool=`` on assets, limits in the instance) hold steps back across runs.
- ``in_process``: all steps in the run worker (fastest start; tests and small machines).
- ``celery``: steps as Celery tasks on workers of other machines (``dagster-celery``), broker from
  ``SYNC_PIPELINE_CELERY_BROKER`` (e.g. ``pyamqp://guest@rabbitmq//`` or ``redis://redis:6379/0``),
  queue ``SYNC_PIPELINE_CELERY_QUEUE`` (default ``dagster``). Workers: ``dagster-celery worker start``.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTORS = ("multiprocess", "in_process", "celery")


def executor_from_env() -> ExecutorDefinition:
    kind = os.environ.get("SYNC_PIPELINE_EXECUTOR", "multiprocess")
    if kind == "multiprocess":
        max_concurrent = int(os.environ.get("SYNC_PIPELINE_MAX_CONCURRENT_STEPS", "0"))  # 0 = one per CPU
        return multiprocess_executor.configured({"max_concurrent": max_concurrent}, name="multiprocess")
    if kind == "in_process":
        return in_process_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        broker = os.environ.get("SYNC_PIPELINE_CELERY_BROKER")
        if not broker:
            raise ValueError("SYNC_PIPELINE_EXECUTOR=celery needs SYNC_PIPELINE_CELERY_BROKER, the broker URL the "
                             "Celery workers also use (e.g. pyamqp://guest:guest@127.0.0.1:5672//)")
        config = {"broker": broker, "backend": os.environ.get("SYNC_PIPELINE_CELERY_BACKEND", "rpc://")}
        queue = os.environ.get("SYNC_PIPELINE_CELERY_QUEUE")
        if queue:  # steps go to this queue; start workers with `-q <queue>`
            config["config_source"] = {"task_default_queue": queue}
        return celery_executor.configured(config, name="celery")
    raise ValueError(f"SYNC_PIPELINE_EXECUTOR={kind!r} is not one of {', '.join(EXECUTORS)}")
