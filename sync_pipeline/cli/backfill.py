"""``sync-pipeline backfill``: backfill one billing period for every entity, as the UI's partition dialog does.

One run per entity × period partition (multi-partitioned assets backfill reliably that way), queued on
the DAGSTER_HOME instance; the daemon (``dagster-daemon run``) launches them within the run queue's and
the concurrency pools' limits. ``sync-pipeline pools apply`` writes the pool limits into the instance.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any


def launch_period_backfill(instance: Any, period: str, *, entities: list[str] | None = None,
                           groups: tuple[str, ...] = ("extract", "billing", "posting", "reconciliation"),
                           title: str | None = None) -> str:
    """Queue an asset backfill of ``period`` for the given (default: all registered) entities; return its id."""
    from dagster import AssetSelection
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from sync_pipeline.cli import UserError
    from sync_pipeline.defs.definitions import defs
    from sync_pipeline.defs.partitions import entity_partitions, partition_key
    from sync_pipeline.domain.periods import Period

    p = Period.parse(period)
    registered = instance.get_dynamic_partitions(entity_partitions.name)
    chosen = sorted(entities or registered)
    unknown = sorted(set(chosen) - set(registered))
    if unknown:
        raise UserError(f"entities {unknown} are not registered partitions (registered: {sorted(registered)}); "
                        "turn on the harvest_changefeed sensor or `dagster instance` to add them")
    if not chosen:
        raise UserError("no entity is registered yet: turn on the harvest_changefeed sensor, which registers the "
                        "mapping's entities")
    graph = defs.resolve_asset_graph()
    keys = sorted(AssetSelection.groups(*groups).resolve(graph), key=lambda k: k.to_user_string())
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=graph,
        partition_names=[str(partition_key(e, p)) for e in chosen],
        asset_selection=keys,
        backfill_timestamp=time.time(),
        tags={"sync_pipeline/trigger": "backfill", "sync_pipeline/period": p.key},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title or f"sync {p.key} for {len(chosen)} entities",
        description=f"entities: {', '.join(chosen)}",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def apply_pool_limits(instance: Any, path: str | Path) -> dict[str, int]:
    """Write the per-pool limits of ``deploy/pools.yaml`` into the instance (idempotent)."""
    import yaml

    limits = {str(k): int(v) for k, v in (yaml.safe_load(Path(path).read_text()) or {}).get("pools", {}).items()}
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits


def _instance():
    from dagster import DagsterInstance

    from sync_pipeline.cli import UserError

    if not os.environ.get("DAGSTER_HOME"):
        raise UserError("DAGSTER_HOME is not set: point it at the folder holding the instance's dagster.yaml "
                        "(production: a copy of deploy/dagster.yaml)")
    return DagsterInstance.get()


def cmd_backfill(args: argparse.Namespace) -> int:
    instance = _instance()
    bid = launch_period_backfill(instance, args.period, entities=args.entity or None)
    print(f"backfill {bid} queued: period {args.period}; the daemon launches one run per entity "
          f"(Dagster UI → Overview → Backfills → {bid})")
    return 0


def cmd_pools_apply(args: argparse.Namespace) -> int:
    limits = apply_pool_limits(_instance(), args.file)
    for pool, limit in sorted(limits.items()):
        print(f"pool {pool}: {limit} concurrent step(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from sync_pipeline.defs import settings

    b = sub.add_parser("backfill", help="queue a backfill of one billing period for all (or some) entities")
    b.add_argument("--period", required=True, help="billing period YYYY-MM")
    b.add_argument("--entity", action="append", help="only this entity (repeatable); default all registered")
    b.set_defaults(func=cmd_backfill)
    p = sub.add_parser("pools", help="concurrency pools per external system")
    psub = p.add_subparsers(dest="pools_command", required=True)
    a = psub.add_parser("apply", help="write the pool limits (deploy/pools.yaml) into the DAGSTER_HOME instance")
    a.add_argument("--file", default=str(settings.PROJECT_ROOT / "deploy" / "pools.yaml"))
    a.set_defaults(func=cmd_pools_apply)
