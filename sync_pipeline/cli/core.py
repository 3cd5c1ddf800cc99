"""``sync-pipeline demo`` and ``sync-pipeline sync``: run the sync job on the configured systems."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _dagster_instance():
    from dagster import DagsterInstance

    from sync_pipeline.defs import settings
    from sync_pipeline.defs.instance import ensure_local_instance

    home = settings.dagster_home()
    ensure_local_instance(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_sync(entity: str, period: str, *, triggered_by: str, log_level: str = "INFO") -> Any:
    """Run ``sync_job`` for one partition on the DAGSTER_HOME instance as ``triggered_by`` (an identity of the
    operational store: its run ticket tells the run's assets who launched it); return the result."""
    from sync_pipeline.cli._identity import identities
    from sync_pipeline.defs.definitions import defs
    from sync_pipeline.defs.partitions import partition_key
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.identity import TICKET_TAG

    p = Period.parse(period)
    instance = _dagster_instance()
    if not instance.has_dynamic_partition("entity", entity):
        instance.add_dynamic_partitions("entity", [entity])
    job = defs.resolve_job_def("sync_job")
    tags = {"triggered_by": triggered_by, TICKET_TAG: identities().run_ticket(triggered_by)}
    return traced(instance, job.execute_in_process(
        instance=instance, partition_key=partition_key(entity, p), tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}}, raise_on_error=False))


def traced(instance: Any, result: Any) -> Any:
    """The result of a run executed in this process, its spans exported first (no daemon sensor sees such a run:
    defs/telemetry/sensors.py)."""
    from sync_pipeline.defs.telemetry.sensors import export_finished_run

    export_finished_run(instance, result.run_id)
    return result


def awaiting_approval(result: Any) -> str | None:
    """The "awaiting approval" message when posted_invoices stopped for want of an approved plan."""
    for ev in result.all_events:
        if ev.is_step_failure and ev.step_key == "posted_invoices":
            msg = ev.event_specific_data.error.message if ev.event_specific_data.error else ""
            if "awaiting approval" in msg:
                return msg.strip()
    return None


DEMO_TRIGGER, DEMO_APPROVER = "demo", "demo-approver"


def demo_identities() -> Any:
    """The demo's two identities: the ``demo`` automation that triggers the sync, and ``demo-approver``, a separate
    person with the approver role who approves its plan (four eyes, even in the demo)."""
    from sync_pipeline.cli._identity import identities

    ids = identities()
    ids.ensure_automation(DEMO_TRIGGER, ("automation",), by="sync-pipeline demo")
    if ids.get(DEMO_APPROVER) is None:
        ids.add(DEMO_APPROVER, ["approver"], by="sync-pipeline demo")
    return ids


def demo_sync(entity: str, period: str) -> tuple[Any, list[str]]:
    """Sync as the demo automation; when the plan awaits approval, the demo approver approves it and the sync
    runs again. The result and what was approved, in words."""
    from sync_pipeline.store.approvals import PlanApprovals
    from sync_pipeline.store.mapping_versions import MappingVersions

    ids = demo_identities()
    approved: list[str] = []
    for _ in range(3):  # a changed mapping is accepted first, then the plan billed under it
        result = run_sync(entity, period, triggered_by=DEMO_TRIGGER, log_level="CRITICAL")
        if not awaiting_approval(result):
            return result, approved
        versions = MappingVersions(ids.store)
        for v in versions.all(entity):
            if v.status == "proposed":
                a = versions.accept(entity, v.mapping_hash, by=DEMO_APPROVER, comment="sync-pipeline demo")
                approved.append(f"{a.accepted_by} accepted mapping version {a.mapping_hash[:12]} at {a.accepted_at}")
        approvals = PlanApprovals(ids.store)
        for p in approvals.plans(entity, period, ["awaiting_approval"]):
            d = approvals.decide(entity, period, p.plan_hash, by=DEMO_APPROVER, approve=True,
                                 comment="sync-pipeline demo: reviewed the sandbox plan")
            approved.append(f"{d.decided_by} approved plan {d.plan_hash[:12]} ({d.documents} documents, "
                            f"triggered by {d.created_by}) at {d.decided_at}")
    return run_sync(entity, period, triggered_by=DEMO_TRIGGER, log_level="WARNING"), approved


def summarize(entity: str, period: str) -> dict[str, Any]:
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.metadata import counts, totals_minor
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.warehouse import Warehouse

    p = Period.parse(period).key
    wh = Warehouse(settings.warehouse_root())
    raw = wh.read_columns("raw_time_entries", entity, p, ["entry_id"])  # only what the summary shows
    clean = wh.read_columns("clean_time_entries", entity, p, ["disposition"]).to_pandas()
    posted = wh.read("posted_invoices", entity, p)
    rec = wh.read("sync_reconciliation", entity, p)
    docs = rec[rec["level"] == "document"]
    return {
        "entries_read": raw.num_rows,
        "dispositions": counts(clean, "disposition"),
        "invoices": counts(posted, "outcome"),
        "invoice_numbers": sorted(x for x in posted["invoice_number"].dropna()),
        "totals_per_currency": totals_minor(posted, "total_minor"),
        "net_per_currency": totals_minor(posted, "subtotal_minor"),
        "tax_per_currency": totals_minor(posted, "total_tax_minor"),
        "reconciliation": counts(docs, "status"),
        "reconciled": bool(len(rec)) and bool((rec["status"] == "match").all()),
        "approvers": _approvers(entity, p),
    }


def _approvers(entity: str, period: str) -> list[str]:
    """Who approved the posted documents of the partition, when, under which plan (the sync ledger)."""
    from sync_pipeline.cli._identity import identities

    rows = identities().store.ledger_for(entity, period)
    by_plan: dict[tuple, list[str]] = {}
    for r in rows:
        if r.get("plan_approved_by") and r.get("target_number"):
            key = (r["plan_approved_by"], r["plan_approved_at"], str(r["plan_hash"])[:12])
            by_plan.setdefault(key, []).append(r["target_number"])
    return [f"{', '.join(sorted(nums))} by {who} at {at} (plan {h})" for (who, at, h), nums in sorted(by_plan.items())]


def _print_summary(entity: str, period: str, s: dict[str, Any], ok: bool, approved: list[str] | None = None) -> None:
    created = s["invoices"].get("created", 0)
    existing = sum(v for k, v in s["invoices"].items() if k in ("already_posted", "found_in_target"))
    print()
    print(f"sync_pipeline demo — entity {entity}, billing period {period}: {'OK' if ok else 'FAILED'}")
    print(f"  entries read        : {s['entries_read']}  ({', '.join(f'{k} {v}' for k, v in sorted(s['dispositions'].items()))})")
    print(f"  invoices posted     : {created} new, {existing} already posted ({', '.join(s['invoice_numbers'])})")
    for ccy, total in sorted(s["totals_per_currency"].items()):
        print(f"  total {ccy}           : {total} gross (net {s['net_per_currency'].get(ccy, '?')} + tax "
              f"{s['tax_per_currency'].get(ccy, '?')})")
    for line in approved or ([] if created else ["nothing new to approve"]):
        print(f"  four eyes           : {line}")
    for who in s.get("approvers") or []:
        print(f"  approved            : {who}")
    print(f"  reconciliation      : {'all documents match' if s['reconciled'] else s['reconciliation']}")
    print("  look at it          : make dev, then open http://127.0.0.1:3000 (Assets → sync_reconciliation)")
    print()


def cmd_demo(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.sandbox.run import DEFAULT_HARVEST_PORT, DEFAULT_XERO_PORT, start_sandboxes

    group = not (args.entity or args.period)
    if group:
        from sync_pipeline.cli import demo_group

        demo_group.configure(settings.data_dir())
    state = settings.data_dir() / "sandbox"
    ports = {"harvest_port": DEFAULT_HARVEST_PORT, "xero_port": DEFAULT_XERO_PORT}
    if args.free_ports:
        ports = {"harvest_port": 0, "xero_port": 0}
    try:
        sb = start_sandboxes(state, **ports)
    except OSError:
        print("sandbox ports 8710/8720 are busy (is `make dev` running?); using free ports for the demo")
        sb = start_sandboxes(state)
    os.environ.update(sb.env)
    os.environ.setdefault("SYNC_PIPELINE_MODE", "demo")  # an explicit sandbox mode, never production's default
    print(f"sandbox project system    : {sb.harvest_server.url}")
    print(f"sandbox accounting system : {sb.xero_server.url}")
    if sb.qbo_server is not None:
        print(f"sandbox QuickBooks Online : {sb.qbo_server.url}")
    if group:
        try:
            return _group_demo(sb)
        finally:
            sb.stop()
    entity, period = args.entity or demo_data.DEMO_ENTITY, args.period or demo_data.DEMO_PERIOD
    try:
        result, approved = demo_sync(entity, period)
        ok = result.success
        try:
            s = summarize(entity, period)
        except LookupError as e:
            print(f"demo run did not produce its outputs: {e}", file=sys.stderr)
            return 1
        _print_summary(entity, period, s, ok and s["reconciled"], approved)
        return 0 if ok and s["reconciled"] else 1
    finally:
        sb.stop()


def _group_demo(sb: Any) -> int:
    from sync_pipeline.cli import demo_group

    ok, lines = demo_group.run(sb)
    print()
    print(f"sync_pipeline demo — entities acme-uk, acme-de, acme-us; periods 2026-08 to 2026-10: "
          f"{'OK' if ok else 'FAILED'}")
    for line in lines:
        print(f"  {line}")
    print("  look at it          : make dev → http://127.0.0.1:3000 (Assets, Jobs → sync_job → Backfill);")
    print("                        make workbench → http://127.0.0.1:8740 (README: Try the demo)")
    print()
    return 0 if ok else 1


def cmd_sync(args: argparse.Namespace) -> int:
    from sync_pipeline.cli._identity import actor

    result = run_sync(args.entity, args.period, triggered_by=actor(args).name)
    for ev in result.all_events:
        if ev.is_failure:
            print(ev.message, file=sys.stderr)
    waiting = awaiting_approval(result)
    if waiting:
        print(waiting, file=sys.stderr)
    if result.success:
        s = summarize(args.entity, args.period)
        print(f"sync {args.entity} {args.period}: invoices {s['invoices']}, totals {s['totals_per_currency']}, "
              f"reconciliation {s['reconciliation']}")
    return 0 if result.success else 1


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="the whole product on the demo group (three entities, 2026-08 to 2026-10, bank "
                                    "statements, cash matching, sync exceptions); --entity/--period: one partition")
    d.add_argument("--entity", help="sync only this entity (with --period: one partition, the quick demo)")
    d.add_argument("--period", help="billing period YYYY-MM (only this partition)")
    d.add_argument("--free-ports", action="store_true",
                   help="run the sandbox on free ports instead of 8710/8720 (the UI cannot re-run against it)")
    d.set_defaults(func=cmd_demo)
    s = sub.add_parser("sync", help="run the sync job for one entity × billing period")
    s.add_argument("--entity", required=True)
    s.add_argument("--period", required=True, help="billing period YYYY-MM")
    s.set_defaults(func=cmd_sync)
