"""``sync-pipeline posting``: the kill switch, the guard's limits, and posting one partition by hand.

    sync-pipeline posting status [--entity E]
    sync-pipeline posting pause  --entity E --reason "month-end freeze"   stop automated posting (extraction goes on)
    sync-pipeline posting resume --entity E
    sync-pipeline posting limits --entity E [--max-invoices N] [--max-total GBP=50000.00 ...] [--clear]
    sync-pipeline posting plan   --entity E --period YYYY-MM             the dry run, printed
    sync-pipeline posting run    --entity E --period YYYY-MM             post the partition's approved plan
    sync-pipeline posting approve --entity E --period YYYY-MM --plan-hash H [--comment TEXT]
    sync-pipeline posting reject  --entity E --period YYYY-MM --plan-hash H --comment TEXT
    sync-pipeline posting policy show|propose|approve --entity E ...   auto-approval below limits

Four eyes: ``run`` posts only a plan approved by someone other than whoever triggered it (or within the
entity's auto-approval policy); otherwise it stores the plan, posts nothing and says "awaiting approval".

``plan`` and ``run`` read the partition's invoice drafts from the warehouse (materialize the sync job
first) and talk to each entity's accounting system, as the mapping's ``target:`` says: Xero (XERO_BASE_URL,
XERO_CLIENT_ID, XERO_CLIENT_SECRET) or QuickBooks Online (QBO_BASE_URL, QBO_CLIENT_ID, QBO_CLIENT_SECRET).
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import store, who


def posting_env():
    """Mapping, warehouse, operational store and the accounting targets' credentials from the environment (like
    the code location): each entity's target is built as its ``target:`` says, and only that one must be
    configured (Xero: ``XERO_CLIENT_ID``/``XERO_CLIENT_SECRET``; QuickBooks Online: ``QBO_CLIENT_ID``/``_SECRET``)."""
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.resources import accounting_from_environment
    from sync_pipeline.services.dead_letters import PostingEnv
    from sync_pipeline.store.warehouse import Warehouse

    accounting = accounting_from_environment()
    if accounting is None:
        raise UserError("no accounting system is configured: set XERO_CLIENT_ID and XERO_CLIENT_SECRET, or "
                        "QBO_CLIENT_ID and QBO_CLIENT_SECRET (the sandbox's are printed by `sync-pipeline sandbox up`)")
    return PostingEnv(load_mapping(settings.mapping_path()), Warehouse(settings.warehouse_root()), store(),
                      accounting.target)


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


def _print_stored(entity: str, period: str) -> None:
    from sync_pipeline.store.approvals import PlanApprovals

    for p in PlanApprovals(store()).plans(entity, period):
        if p.status == "superseded":
            continue
        decided = f" by {p.decided_by} at {p.decided_at}" if p.decided_by else ""
        print(f"  stored plan {p.plan_hash} [{p.status}{decided}]: {p.documents} document(s), triggered by "
              f"{p.created_by} at {p.created_at}" + (f"; comment: {p.comment}" if p.comment else ""))
        if p.status == "awaiting_approval":
            for d in p.content["documents"]:
                print(f"    {d['op']:<18} {d['reference']:<40} {d['currency']} {d['amount_minor']:>12} "
                      f"({len(d['lines'])} line(s))")
            for ccy, t in sorted(p.totals.items()):
                print(f"    total {ccy}: invoiced {t['invoiced_minor']}, credited {t['credited_minor']}, net change "
                      f"{t['net_change_minor']} (minor units)")


def cmd_plan(args: argparse.Namespace) -> int:
    from sync_pipeline.services.approvals import plan_hash
    from sync_pipeline.services.dead_letters import post_partition
    from sync_pipeline.services.posting import PostingRun

    result = post_partition(posting_env(), args.entity, args.period, PostingRun(who(args)), dry_run=True)
    _print_plan(result)
    print(f"  plan hash {plan_hash(result.plan)}" if result.plan.ops else "  nothing to write: no approval needed")
    _print_stored(args.entity, args.period)
    return 0


def _decide(args: argparse.Namespace, approve: bool) -> int:
    from sync_pipeline.store.approvals import ApprovalError, PlanApprovals

    try:
        p = PlanApprovals(store()).decide(args.entity, args.period, args.plan_hash, by=who(args), approve=approve,
                                          comment=args.comment)
    except ApprovalError as e:
        raise UserError(str(e)) from None
    print(f"plan {p.plan_hash} of {p.entity} {p.period} {p.status} by {p.decided_by} at {p.decided_at} "
          f"({p.documents} document(s), triggered by {p.created_by})"
          + ("; the next posting run (CLI, schedule, sensor or backfill) posts it while its content is unchanged"
             if approve else ""))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(args, True)


def cmd_reject(args: argparse.Namespace) -> int:
    return _decide(args, False)


def cmd_policy_show(args: argparse.Namespace) -> int:
    from sync_pipeline.store.approvals import PlanApprovals

    rows = PlanApprovals(store()).policies(args.entity)
    if not rows:
        print(f"no auto-approval policy for {args.entity}: every plan needs an approver")
    for p in rows:
        print(json.dumps(p.__dict__))
    return 0


def cmd_policy_propose(args: argparse.Namespace) -> int:
    from sync_pipeline.store.approvals import ApprovalError, PlanApprovals

    try:
        p = PlanApprovals(store()).propose_policy(args.entity, max_documents=args.max_documents,
                                                  max_total_minor=_parse_totals(args.max_total or []),
                                                  by=who(args), comment=args.comment)
    except ApprovalError as e:
        raise UserError(str(e)) from None
    print(f"policy v{p.version} for {p.entity} proposed by {p.proposed_by}; another admin approves it with "
          f"`sync-pipeline posting policy approve --entity {p.entity} --version {p.version}`")
    return 0


def cmd_policy_approve(args: argparse.Namespace) -> int:
    from sync_pipeline.store.approvals import ApprovalError, PlanApprovals

    try:
        p = PlanApprovals(store()).approve_policy(args.entity, args.version, by=who(args))
    except ApprovalError as e:
        raise UserError(str(e)) from None
    print(f"policy v{p.version} for {p.entity} is active (approved by {p.approved_by}): plans of at most "
          f"{p.max_documents} document(s) and {p.max_total_minor} gross minor units post without an approver")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sync_pipeline.services.dead_letters import post_partition
    from sync_pipeline.services.posting import PostingBlocked, PostingRun

    run = PostingRun(who(args), f"cli-{uuid.uuid4().hex[:12]}")
    try:
        result = post_partition(posting_env(), args.entity, args.period, run)
    except PostingBlocked as e:
        raise UserError(str(e)) from None
    f = result.frame
    applied = result.run or run
    approved = f"; plan {str(applied.plan_hash)[:12]} approved by {applied.approved_by} at {applied.approved_at}" \
        if applied.approved_by else ""
    print(f"posted {args.entity} {args.period} (run {run.run_id}): "
          f"{f['outcome'].value_counts().to_dict()}; {result.api_calls} API calls{approved}")
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
        s.set_defaults(func=fn)
    for name, fn, helptext in (("approve", cmd_approve, "approve a stored plan (four eyes: not one you triggered)"),
                               ("reject", cmd_reject, "reject a stored plan, saying why")):
        s = ps.add_parser(name, help=helptext)
        s.add_argument("--entity", required=True)
        s.add_argument("--period", required=True, help="billing period YYYY-MM")
        s.add_argument("--plan-hash", required=True, help="as `posting plan` prints it (at least 12 characters)")
        s.add_argument("--comment", required=not name == "approve")
        s.set_defaults(func=fn)
    pol = ps.add_parser("policy", help="auto-approval policy per entity (versioned; approved by a second admin)")
    pols = pol.add_subparsers(dest="policy_command", required=True)
    s = pols.add_parser("show", help="the entity's policy versions")
    s.add_argument("--entity", required=True)
    s.set_defaults(func=cmd_policy_show)
    s = pols.add_parser("propose", help="a new version: plans within these limits post without an approver")
    s.add_argument("--entity", required=True)
    s.add_argument("--max-documents", type=int, required=True)
    s.add_argument("--max-total", action="append", metavar="CCY=AMOUNT", required=True,
                   help="gross amount per currency; a currency without a limit always needs an approver")
    s.add_argument("--comment")
    s.set_defaults(func=cmd_policy_propose)
    s = pols.add_parser("approve", help="make a proposed version active (another admin than its proposer)")
    s.add_argument("--entity", required=True)
    s.add_argument("--version", type=int, required=True)
    s.set_defaults(func=cmd_policy_approve)
