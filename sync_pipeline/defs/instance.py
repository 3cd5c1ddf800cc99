"""The local Dagster instance (``make demo``, ``make dev``, ``sync-pipeline sync``): SQLite under DAGSTER_HOME,
with the production run queue's rules (``deploy/dagster.yaml``): runs are queued, at most
``MAX_CONCURRENT_RUNS`` at once, and one run per entity × period partition at a time — a sensor-triggered sync, a
schedule, a backfill or a launch from the UI of a partition that is already running waits in the queue.

    python -m sync_pipeline.defs.instance DAGSTER_HOME   # write DAGSTER_HOME/dagster.yaml (make dev does)
"""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "# embedded default"  # a dagster.yaml we wrote (and may rewrite); any other file is the operator's
MAX_CONCURRENT_RUNS = 4
LOCAL_INSTANCE_YAML = f"""{MARKER}: SQLite storage under this folder (sync_pipeline.defs.instance writes it)
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  runs:
    max_concurrent_runs: {MAX_CONCURRENT_RUNS}
    tag_concurrency_limits:
      # one run at a time per entity x period partition (as in deploy/dagster.yaml)
      - key: dagster/partition
        value: {{applyLimitPerUniqueValue: true}}
        limit: 1
telemetry:
  enabled: false
"""


def ensure_local_instance(home: Path) -> Path:
    """``home/dagster.yaml`` as above, unless the operator wrote their own there; the path."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists() or cfg.read_text(encoding="utf-8").startswith(MARKER) or _older_default(cfg):
        cfg.write_text(LOCAL_INSTANCE_YAML, encoding="utf-8")
    return cfg


def _older_default(cfg: Path) -> bool:
    """The file earlier releases wrote (telemetry only): replaced, so existing demo homes get the run queue."""
    return cfg.read_text(encoding="utf-8").strip() == "telemetry:\n  enabled: false"


if __name__ == "__main__":
    print(ensure_local_instance(Path(sys.argv[1])))
