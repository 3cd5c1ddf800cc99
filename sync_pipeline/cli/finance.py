"""``sync-pipeline finance``: run the finance jobs, re-allocate a period, list and reproduce allocation versions.

    sync-pipeline finance run --period 2026-10 [--entity acme-uk ...]
    sync-pipeline finance reallocate --entity acme-uk --period 2026-10 --driver rent=hours \\
        --weights management=11:1,21:1 --usage cloud_gb_hours=11:100,21:300 --note "Q4 review"
    sync-pipeline finance versions --entity acme-uk --period 2026-10
    sync-pipeline finance reproduce --entity acme-uk --period 2026-10 --version alloc-2026-10-…
"""

from __future__ import annotations

import argparse
from typing import Any


def _user_error(e: Exception) -> Exception:
    from sync_pipeline.cli import UserError

    return UserError(str(e))


def _pairs(spec: str, what: str) -> list[tuple[str, str]]:
    """``11:50,12:25`` → [("11", "50"), ("12", "25")]."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if ":" not in part:
            raise _user_error(ValueError(f"{what} {part!r} must read PROJECT:NUMBER, e.g. 11:50"))
        k, v = part.split(":", 1)
        out.append((k.strip(), v.strip()))
    return out


def reallocation_config(drivers: list[str], weights: list[str], usage: list[str], note: str) -> dict[str, Any]:
    """The run config of ``reallocation_job`` from the command's options (validated by the asset's Config)."""
    pools: dict[str, dict[str, Any]] = {}
    for d in drivers:
        if "=" not in d:
            raise _user_error(ValueError(f"--driver {d!r} must read POOL=DRIVER, e.g. rent=hours"))
        pool, driver = d.split("=", 1)
        driver, _, metric = driver.partition(":")  # usage:METRIC names the usage metric
        pools.setdefault(pool, {"key": pool})["driver"] = driver
        if metric:
            pools[pool]["usage_metric"] = metric
    for w in weights:
        if "=" not in w:
            raise _user_error(ValueError(f"--weights {w!r} must read POOL=PROJECT:WEIGHT,..."))
        pool, spec = w.split("=", 1)
        pools.setdefault(pool, {"key": pool})["fixed_key"] = [
            {"project_id": p, "weight": v} for p, v in _pairs(spec, "weight")]
    config: dict[str, Any] = {"pools": list(pools.values()), "note": note}
    if usage:
        rows = []
        for u in usage:
            if "=" not in u:
                raise _user_error(ValueError(f"--usage {u!r} must read METRIC=PROJECT:QUANTITY,..."))
            metric, spec = u.split("=", 1)
            rows += [{"project_id": p, "metric": metric, "quantity": q} for p, q in _pairs(spec, "usage")]
        config["usage"] = rows
    return config


def _run(job_name: str, partition_key, run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None):
    from sync_pipeline.cli.core import _dagster_instance, traced
    from sync_pipeline.defs.definitions import defs

    instance = _dagster_instance()
    return traced(instance, defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=partition_key, run_config=run_config or {}, tags=tags or {},
        raise_on_error=False))


def _root_message(err) -> str:
    while getattr(err, "cause", None) is not None:
        err = err.cause
    return err.message.strip()


def _failed(result) -> list[str]:
    out = [f"step {e.step_key}: {_root_message(e.event_specific_data.error)}"
           for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    out += [f"check {ev.check_name} failed" for ev in result.get_asset_check_evaluations() if not ev.passed]
    return out


def closed_period(text: str):
    """The billing period ``text`` when it has closed for every entity (finance works on closed months only)."""
    from sync_pipeline.cli import UserError
    from sync_pipeline.defs.partitions import closed_period_partitions
    from sync_pipeline.domain.periods import Period

    period = Period.parse(text)
    if not closed_period_partitions.has_partition_key(period.partition_key):
        last = closed_period_partitions.get_last_partition_key()
        raise UserError(f"period {period.key} has not closed in every entity's time zone yet: finance runs on closed "
                        f"periods (the latest is {str(last)[:7]}); its drafts are synced by sync_job meanwhile "
                        "(docs/user-manual.md, 'Billing periods in the Dagster UI')")
    return period


def cmd_run(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.partitions import partition_key
    from sync_pipeline.store.warehouse import Warehouse

    period = closed_period(args.period)
    wh = Warehouse(settings.warehouse_root())
    entities = args.entity
    if not entities:
        from sync_pipeline.contracts.mapping import load_mapping

        entities = [e.key for e in load_mapping(settings.mapping_path()).entities]
    problems: list[str] = []
    r = _run("finance_fx_job", period.partition_key)
    problems += _failed(r)
    instance = None
    for e in entities:
        if not wh.exists("clean_time_entries", e, period.key):
            raise UserError(f"no synced data for {e} {period.key}: run `sync-pipeline sync --entity {e} --period "
                            f"{period.key}` first")
        from sync_pipeline.cli.core import _dagster_instance

        instance = instance or _dagster_instance()
        if not instance.has_dynamic_partition("entity", e):
            instance.add_dynamic_partitions("entity", [e])
        r = _run("finance_job", partition_key(e, period), tags={"triggered_by": args.actor.name})
        problems += [f"{e}: {p}" for p in _failed(r)]
    if not problems:
        r = _run("consolidation_job", period.partition_key, tags={"triggered_by": args.actor.name})
        problems += _failed(r)
    print(f"finance {period.key} for {', '.join(entities)}: {'OK' if not problems else 'FAILED'}")
    for p in problems:
        print(f"  - {p}")
    if not problems:
        _summary(wh, entities, period.key)
    return 0 if not problems else 1


def _summary(wh, entities: list[str], period: str) -> None:
    from sync_pipeline.domain.money import from_minor

    for e in entities:
        alloc = wh.read("cost_allocations", e, period)
        version = alloc["allocation_version"].iloc[0] if len(alloc) else "(nothing to allocate)"
        prof = wh.read("project_profitability", e, period)
        rep = prof["reporting_currency"].iloc[0] if len(prof) else ""
        margin = int(prof["margin_reporting_minor"].sum()) if len(prof) else 0
        print(f"  {e}: allocation {version}, {len(prof)} project row(s), margin "
              f"{from_minor(margin, rep) if rep else 0} {rep}")
    cons = wh.read("consolidated_results", "_group", period)
    if len(cons):
        rep = cons["reporting_currency"].iloc[0]
        for stmt in ("pnl", "balance", "oci"):
            total = int(cons[cons["statement"] == stmt]["consolidated_minor"].sum())
            print(f"  group {stmt:<8}: {from_minor(total, rep)} {rep}")


def cmd_reallocate(args: argparse.Namespace) -> int:
    from sync_pipeline.defs.partitions import partition_key

    period = closed_period(args.period)
    config = reallocation_config(args.driver or [], args.weights or [], args.usage or [], args.note)
    r = _run("reallocation_job", partition_key(args.entity, period),
             run_config={"ops": {"cost_allocations": {"config": config}}},
             tags={"triggered_by": args.actor.name})
    problems = _failed(r)
    if problems:
        print(f"re-allocation of {args.entity} {period.key} failed:")
        for p in problems:
            print(f"  - {p}")
        return 1
    mats = [ev.materialization for ev in r.get_asset_materialization_events()
            if ev.materialization.asset_key.path == ["cost_allocations"]]
    meta = mats[0].metadata if mats else {}
    version = meta["allocation_version"].value if "allocation_version" in meta else "?"
    print(f"re-allocated {args.entity} {period.key}: version {version} "
          f"({meta['versions_stored'].value if 'versions_stored' in meta else '?'} stored); re-run "
          f"`sync-pipeline finance run --period {period.key}` to consolidate with it")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.finance_versions import AllocationVersions

    period = Period.parse(args.period).key
    manifests = AllocationVersions(settings.warehouse_root()).manifests(args.entity, period)
    if not manifests:
        print(f"no allocation versions stored for {args.entity} {period}")
        return 0
    for m in manifests:
        drivers = ", ".join(f"{p['key']}={p['driver']}{'*' if p.get('overridden') else ''}" for p in m["pools"])
        print(f"{m['version']}  {m['created_at']}  by {m.get('created_by') or '?'}")
        print(f"    drivers: {drivers}   note: {m.get('note') or '-'}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.services.finance import reproduce_allocation
    from sync_pipeline.store.finance_versions import AllocationVersions
    from sync_pipeline.store.warehouse import WarehouseError

    period = Period.parse(args.period).key
    try:
        r = reproduce_allocation(AllocationVersions(settings.warehouse_root()), args.entity, period, args.version)
    except WarehouseError as e:
        raise _user_error(e) from None
    print(r.explain())
    return 0 if r.identical else 1


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("finance", help="cost allocation, profitability and consolidation")
    fs = f.add_subparsers(dest="finance_command", required=True)
    r = fs.add_parser("run", help="the group's rates, the finance job of each entity, then consolidation")
    r.add_argument("--period", required=True, help="YYYY-MM")
    r.add_argument("--entity", action="append", help="an entity (repeatable); default: every mapped entity")
    r.set_defaults(func=cmd_run)
    ra = fs.add_parser("reallocate", help="re-run one entity × period's allocation with other drivers or weights")
    ra.add_argument("--entity", required=True)
    ra.add_argument("--period", required=True)
    ra.add_argument("--driver", action="append",
                    help="POOL=DRIVER: hours, headcount, fixed_key, or usage:METRIC")
    ra.add_argument("--weights", action="append", help="POOL=PROJECT:WEIGHT,PROJECT:WEIGHT (fixed key)")
    ra.add_argument("--usage", action="append", help="METRIC=PROJECT:QUANTITY,... (replaces the usage figures)")
    ra.add_argument("--note", default="", help="why: kept with the version")
    ra.set_defaults(func=cmd_reallocate)
    v = fs.add_parser("versions", help="list the stored allocation versions of an entity × period")
    v.add_argument("--entity", required=True)
    v.add_argument("--period", required=True)
    v.set_defaults(func=cmd_versions)
    p = fs.add_parser("reproduce", help="recompute a stored allocation version from its inputs and compare")
    p.add_argument("--entity", required=True)
    p.add_argument("--period", required=True)
    p.add_argument("--version", required=True)
    p.set_defaults(func=cmd_reproduce)
