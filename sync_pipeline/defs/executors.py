"""The executor steps run on, chosen per deployment by ``SYNC_PIPELINE_EXECUTOR``.

- ``in_process`` (default): a partition's chain of steps runs in its run worker, one after the other. A
  partition run is a chain of small steps (about 23, seconds each), so a process per step cost more than the work
  (62 s against 8.6 s for one partition, docs/benchmarks.md). Parallelism comes from runs instead: the run queue
  starts one process per partition run, several partitions at once, one run per partition at a time
  (``tag_concurrency_limits`` on ``dagster/partition``, deploy/dagster.yaml and ``defs/instance.py``).
  Concurrency pools (``pool=`` on assets, limits in the instance), retries and blocking asset checks hold
  exactly as under the multiprocess executor.
- ``multiprocess``: each step in its own process on the run's machine (``SYNC_PIPELINE_MAX_CONCURRENT_STEPS``,
  0 = one per CPU), for partitions whose steps are long enough to pay for it.
- ``celery``: steps as Celery tasks on workers of other machines (``dagster-celery``), broker from
  ``SYNC_PIPELINE_CELERY_BROKER`` (e.g. ``pyamqp://guest@rabbitmq//`` or ``redis://redis:6379/0``),
  queue ``SYNC_PIPELINE_CELERY_QUEUE`` (default ``dagster``). Workers: ``dagster-celery worker start``.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTORS = ("in_process", "multiprocess", "celery")

#: Dagster's step priority tag: among the steps ready to run, higher first (in process: one at a time)
PRIORITY_TAG = "dagster/priority"
#: for steps nothing on the way to the draft invoice reads (merge proposals): they run once the rest is done, so
#: a change reaches the accounting system without waiting for them
AFTER_THE_DRAFT = -1


def executor_from_env() -> ExecutorDefinition:
    kind = os.environ.get("SYNC_PIPELINE_EXECUTOR", "in_process")
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
