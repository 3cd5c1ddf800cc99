"""``sync-pipeline dlq``: the dead-letter store of posting.

    sync-pipeline dlq list [--entity E] [--period YYYY-MM] [--status open|replayed|superseded|discarded|all]
    sync-pipeline dlq show ID                  payload, error, attempts and source records
    sync-pipeline dlq replay ID [ID ...]       after the fix: re-plan those partitions and post what was held
    sync-pipeline dlq replay --entity E [--period P]   every open letter of an entity (or partition)
    sync-pipeline dlq discard ID --note "posted by hand as INV-0042"
"""

from __future__ import annotations

import argparse
import json
import uuid

from sync_pipeline.cli import UserError
from sync_pipeline.cli.posting import posting_env, store, who


def cmd_list(args: argparse.Namespace) -> int:
    from sync_pipeline.services.dead_letters import letter_summary
    from sync_pipeline.store.dead_letters import DeadLetters

    status = None if args.status == "all" else args.status
    rows = DeadLetters(store()).list(entity=args.entity, period=args.period, status=status)
    if not rows:
        print(f"no {'' if status is None else status + ' '}dead letters")
        return 0
    print(f"{'id':>5}  {'status':<10} {'entity':<12} {'period':<7} {'operation':<18} {'reference':<38} tries  error")
    for x in map(letter_summary, rows):
        print(f"{x['id']:>5}  {x['status']:<10} {x['entity']:<12} {x['period']:<7} {x['operation']:<18} "
              f"{(x['reference'] or ''):<38} {x['attempts']:>5}  {x['error'][:100]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from sync_pipeline.contracts.codec import dumps
    from sync_pipeline.store.dead_letters import DeadLetters

    x = DeadLetters(store()).get(args.id)
    if x is None:
        raise UserError(f"no dead letter #{args.id}; see `sync-pipeline dlq list --status all`")
    print(json.dumps(json.loads(dumps(x)), indent=2, sort_keys=False))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from sync_pipeline.services.dead_letters import replay
    from sync_pipeline.services.posting import PostingBlocked, PostingRun

    if not args.ids and not args.entity:
        raise UserError("name the letters to replay (ids) or an --entity")
    run = PostingRun(who(args), f"dlq-replay-{uuid.uuid4().hex[:12]}")
    try:
        outcomes = replay(posting_env(), run, letter_ids=args.ids or None, entity=args.entity, period=args.period)
    except LookupError as e:
        raise UserError(str(e)) from None
    except PostingBlocked as e:
        raise UserError(str(e)) from None
    if not outcomes:
        print("no open dead letters to replay")
    for o in outcomes:
        print(f"#{o.letter_id} {o.entity} {o.period} {o.reference or ''}: {o.before} → {o.after}  {o.note}")
    return 0 if all(o.after != "open" for o in outcomes) else 1


def cmd_discard(args: argparse.Namespace) -> int:
    from sync_pipeline.store.dead_letters import DeadLetters

    try:
        DeadLetters(store()).discard(args.id, args.note, who(args))
    except LookupError as e:
        raise UserError(str(e)) from None
    print(f"dead letter #{args.id} discarded; automated posting will still plan that document while the source "
          "says it should exist: change the source, or pause posting for the entity")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dlq", help="dead letters of posting: list, show, replay, discard",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="dlq_command", required=True)
    s = ps.add_parser("list", help="dead letters (open by default)")
    s.add_argument("--entity")
    s.add_argument("--period")
    s.add_argument("--status", default="open", choices=["open", "replayed", "superseded", "discarded", "all"])
    s.set_defaults(func=cmd_list)
    s = ps.add_parser("show", help="one dead letter in full")
    s.add_argument("id", type=int)
    s.set_defaults(func=cmd_show)
    s = ps.add_parser("replay", help="after the fix: post what the letters held back")
    s.add_argument("ids", type=int, nargs="*")
    s.add_argument("--entity")
    s.add_argument("--period")
    s.set_defaults(func=cmd_replay)
    s = ps.add_parser("discard", help="close a letter that must not be posted (with a note)")
    s.add_argument("id", type=int)
    s.add_argument("--note", required=True)
    s.set_defaults(func=cmd_discard)
