"""``sync-pipeline audit``: check, read and export the tamper-evident audit trail.

    sync-pipeline audit verify                          check both chains; exit 1 naming what was tampered with
    sync-pipeline audit verify --export FILE [--against-store]   check an auditor's export (and the store against it)
    sync-pipeline audit log [--stream access] [--entity E] [--user U] [--action X] [--limit N]
    sync-pipeline audit export --out FILE [--stream decisions|access]   events + signed digest, for an auditor
    sync-pipeline audit grant --role APP_ROLE            PostgreSQL, as the tables' owner: the application's
                                                         login may only read and append the audit tables

Who may run each: ``audit.*`` in ``domain/access.py``. The signing key comes from $SYNC_PIPELINE_AUDIT_KEY
or the file named by $SYNC_PIPELINE_AUDIT_KEY_FILE; it is never printed.
"""

from __future__ import annotations

import argparse
import json

from sync_pipeline.cli import UserError
from sync_pipeline.cli.posting import store, who


def _key() -> bytes:
    from sync_pipeline.services.audit_export import AuditKeyError, signing_key

    try:
        return signing_key()
    except AuditKeyError as e:
        raise UserError(str(e)) from None


def _streams(args: argparse.Namespace) -> list[str]:
    from sync_pipeline.store import audit

    return list(audit.STREAMS) if args.stream in (None, "all") else [args.stream]


def cmd_verify(args: argparse.Namespace) -> int:
    from sync_pipeline.services.audit_export import verify_export
    from sync_pipeline.store import audit

    if args.export:
        try:
            problems = verify_export(args.export, key=_key(), store=store() if args.against_store else None)
        except FileNotFoundError:
            raise UserError(f"no export at {args.export}") from None
        what = f"export {args.export}" + (" (and the store against it)" if args.against_store else "")
    else:
        s = store()
        problems = audit.verify(s, _streams(args))
        what = "audit trail " + ", ".join(f"{st} {audit.head(s, st)[0]} events" for st in _streams(args))
    for p in problems:
        print(f"TAMPERED {p}")
    if problems:
        print(f"{what}: {len(problems)} problem(s) found")
        return 1
    print(f"{what}: intact")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from sync_pipeline.store import audit

    s = store()
    stream = args.stream or audit.DECISIONS
    evs = audit.events(s, stream=stream, entity=args.entity, action=args.action, actor=args.user_filter)
    audit.record_access(s, actor=who(args), what="audit_log", subject=stream, entity=args.entity,
                        detail={"action": args.action, "user": args.user_filter, "shown": min(len(evs), args.limit)})
    for e in evs[-args.limit:]:
        print(f"{e.seq:>7} {e.at}  {e.actor:<20} {e.action:<24} {e.entity or '':<12} {e.subject or ''}  "
              f"{json.dumps(e.detail, sort_keys=True)[:160]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sync_pipeline.services.audit_export import export

    summary = export(store(), args.out, key=_key(), actor=who(args), streams=_streams(args))
    for d in summary.digests:
        print(f"{d['stream']}: {d['count']} events, seq {d['first_seq']}..{d['last_seq']}, {d['from']} → {d['to']}, "
              f"head {str(d['head_hash'])[:16]}…, signed {d['algorithm']} key {d['key_id']}")
    print(f"wrote {summary.path}; check it with `sync-pipeline audit verify --export {summary.path}`")
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    from sync_pipeline.store import audit

    s = store()  # as the owner: creates or upgrades the schema and the triggers first
    try:
        for stmt in audit.grant_application_role(s.engine, args.role):
            print(stmt)
    except (ValueError, NotImplementedError) as e:
        raise UserError(str(e)) from None
    print(f"{args.role} may read and write the store, and only read and append {', '.join(audit.APPEND_ONLY_TABLES)}; "
          "point the application's SYNC_PIPELINE_STORE_URL at that role")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify, read and export the tamper-evident audit trail",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="audit_command", required=True)
    streams = ["decisions", "access", "all"]
    s = ps.add_parser("verify", help="check the hash chains (exit 1 and name every problem)")
    s.add_argument("--stream", choices=streams)
    s.add_argument("--export", metavar="FILE", help="check an export instead (its chain, digest and signature)")
    s.add_argument("--against-store", action="store_true", help="with --export: the store still holds it all")
    s.set_defaults(func=cmd_verify)
    s = ps.add_parser("log", help="the last events of a stream (recorded as an access)")
    s.add_argument("--stream", choices=["decisions", "access"])
    s.add_argument("--entity")
    s.add_argument("--user", dest="user_filter", help="only events of this actor")
    s.add_argument("--action")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=cmd_log)
    s = ps.add_parser("export", help="events as JSON lines plus a signed digest, for an auditor")
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--stream", choices=streams)
    s.set_defaults(func=cmd_export)
    s = ps.add_parser("grant", help="PostgreSQL: grant the application role all but UPDATE/DELETE on audit rows")
    s.add_argument("--role", required=True, help="the role the application logs in as (not the owner)")
    s.set_defaults(func=cmd_grant)
