"""``sync-pipeline posting``: the kill switch, the guard's limits, and posting one partition by hand.

    sync-pipeline posting status [--entity E]
    sync-pipeline posting pause  --entity E --reason "month-end freeze"   stop automated posting (extraction goes on)
    sync-pipeline posting resume --entity E
    sync-pipeline posting limits --entity E [--max-invoices N] [--max-total GBP=50000.00 ...] [--clear]
    sync-pipeline posting plan   --entity E --period YYYY-MM             the dry run, printed
    sync-pipeline posting run    --entity E --period YYYY-MM [--approved-by NAME] [--override-guard]

``plan`` and ``run`` read the partition's invoice drafts from the warehouse (materialize the sync job
first) and talk to the accounting system configured by XERO_BASE_URL, XERO_CLIENT_ID, XERO_CLIENT_SECRET.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from typing import Any

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import actor


def who(args: argparse.Namespace) -> str:
    """The signed-in user's name (SYNC_PIPELINE_TOKEN): the actor recorded for the command."""
    return actor(args).name


def store():
    from sync_pipeline.defs import settings
    from sync_pipeline.store.operational import OperationalStore

    return OperationalStore(settings.operational_store_url())


def posting_env():
    """Mapping, warehouse, operational store and Xero credentials from the environment (like the code location)."""
    from sync_pipeline.connectors.xero import XeroClient
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.services.dead_letters import PostingEnv
    from sync_pipeline.store.warehouse import Warehouse

    base = os.environ.get("XERO_BASE_URL", settings.XERO_DEFAULT_URL)
    cid, secret = os.environ.get("XERO_CLIENT_ID"), os.environ.get("XERO_CLIENT_SECRET")
    if not cid or not secret:
        raise UserError("XERO_CLIENT_ID and XERO_CLIENT_SECRET must be set (the sandbox's are printed by "
                        "`sync-pipeline sandbox up`)")
    return PostingEnv(load_mapping(settings.mapping_path()), Warehouse(settings.warehouse_root()), store(),
                      lambda e: XeroClient(base, cid, secret, e.xero_tenant_id))


def _controls_row(c: Any) -> dict[str, Any]:
    return {"entity": c.entity, "posting": "enabled" if c.posting_enabled else "PAUSED", "reason": c.reason,
            "max_invoices": c.max_invoices, "max_total_minor": c.max_total_minor, "changed_by": c.changed_by,
            "changed_at": c.changed_at}


def cmd_status(args: argparse.Namespace) -> int:
    from sync_pipeline.store.controls import PostingControls

    ctl = PostingControls(store())
    rows = [ctl.get(args.entity)] if args.entity else ctl.all()
    if not rows:
        print("no controls set: posting is enabled for every entity, without limits")
    for c in rows:
        print(json.dumps(_controls_row(c)))
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    from sync_pipeline.store.controls import PostingControls

    try:
        c = PostingControls(store()).pause(args.entity, reason=args.reason, actor=who(args))
    except ValueError as e:
        raise UserError(str(e)) from None
    print(f"posting PAUSED for {c.entity} by {c.changed_by}: {c.reason}. Extraction, billing and the invoice plan "
          f"keep running; resume with `sync-pipeline posting resume --entity {c.entity}`.")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from sync_pipeline.store.controls import PostingControls

    c = PostingControls(store()).resume(args.entity, actor=who(args), reason=args.reason)
    print(f"posting enabled for {c.entity} by {c.changed_by}; the next run posts what the plan holds")
    return 0


def _parse_totals(values: list[str]) -> dict[str, int]:
    from decimal import Decimal, InvalidOperation

    from sync_pipeline.domain.money import MoneyError, to_minor

    out = {}
    for v in values:
        ccy, _, amount = v.partition("=")
        try:
            out[ccy.strip().upper()] = to_minor(Decimal(amount), ccy.strip().upper())
        except (InvalidOperation, MoneyError) as e:
            raise UserError(f"--max-total {v!r}: expected CURRENCY=AMOUNT such as GBP=50000.00 ({e})") from None
    return out


def cmd_limits(args: argparse.Namespace) -> int:
    from sync_pipeline.store.controls import PostingControls

    c = PostingControls(store()).set_limits(args.entity, actor=who(args), max_invoices=args.max_invoices,
                                            max_total_minor=_parse_totals(args.max_total or []), clear=args.clear)
    print(json.dumps(_controls_row(c)))
    return 0


def _print_plan(result: Any) -> None:
    from sync_pipeline.services.posting import plan_frame

    plan = result.plan
    df = plan_frame(plan)
    print(f"plan for {plan.entity.key} {plan.period.key}: {plan.counts()}; documents to write "
          f"{plan.documents_written}; totals {plan.totals()}")
    for r in df[df["op"].notna()].itertuples():
        held = f"  [held: {r.held}]" if isinstance(r.held, str) else ""
        print(f"  {r.action:<12} {r.op:<18} {r.reference:<40} {r.currency} {r.amount_minor:>12} "
              f"(net {r.delta_minor:+d}){held}")
    for problem in plan.breaches:
        print(f"  GUARD: {problem}")


def cmd_plan(args: argparse.Namespace) -> int:
    from sync_pipeline.services.dead_letters import post_partition
    from sync_pipeline.services.posting import PostingRun

    _print_plan(post_partition(posting_env(), args.entity, args.period, PostingRun(who(args)), dry_run=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sync_pipeline.services.dead_letters import post_partition
    from sync_pipeline.services.posting import PostingBlocked, PostingRun

    run = PostingRun(who(args), f"cli-{uuid.uuid4().hex[:12]}", args.approved_by, args.override_guard)
    try:
        result = post_partition(posting_env(), args.entity, args.period, run)
    except PostingBlocked as e:
        raise UserError(str(e)) from None
    f = result.frame
    print(f"posted {args.entity} {args.period} (run {run.run_id}): "
          f"{f['outcome'].value_counts().to_dict()}; {result.api_calls} API calls")
    for r in f[f["outcome"].isin(["failed", "pending", "held"])].itertuples():
        print(f"  {r.outcome:<8} {r.reference}: {r.error}")
    return 1 if len(result.pending) else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("posting", help="kill switch, limits, and posting one partition by hand",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="posting_command", required=True)
    s = ps.add_parser("status", help="kill switch and limits per entity")
    s.add_argument("--entity")
    s.set_defaults(func=cmd_status)
    s = ps.add_parser("pause", help="kill switch on: stop automated posting for an entity")
    s.add_argument("--entity", required=True)
    s.add_argument("--reason", required=True)
    s.set_defaults(func=cmd_pause)
    s = ps.add_parser("resume", help="kill switch off")
    s.add_argument("--entity", required=True)
    s.add_argument("--reason")
    s.set_defaults(func=cmd_resume)
    s = ps.add_parser("limits", help="the plan guard: most documents / amount per currency one plan may write")
    s.add_argument("--entity", required=True)
    s.add_argument("--max-invoices", type=int)
    s.add_argument("--max-total", action="append", metavar="CCY=AMOUNT")
    s.add_argument("--clear", action="store_true", help="remove every limit")
    s.set_defaults(func=cmd_limits)
    for name, fn, helptext in (("plan", cmd_plan, "print the dry-run plan of a partition"),
                               ("run", cmd_run, "plan and post one partition now")):
        s = ps.add_parser(name, help=helptext)
        s.add_argument("--entity", required=True)
        s.add_argument("--period", required=True, help="billing period YYYY-MM")
        if name == "run":
            s.add_argument("--approved-by")
            s.add_argument("--override-guard", action="store_true")
        s.set_defaults(func=fn)
