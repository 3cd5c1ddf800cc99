"""``sync-pipeline alerts``: alert incidents (SLOs and the event sensors) — list them, acknowledge one, silence one.

    sync-pipeline alerts list [--all]                         open incidents (all: cleared ones too)
    sync-pipeline alerts ack KEY                              someone is on it: stop escalating
    sync-pipeline alerts silence KEY --minutes 60             no alert for KEY for an hour (0 lifts it)

KEY is ``objective/entity`` (``dead_letter_backlog/acme-uk``) or ``kind/entity`` for an event alert
(``run_failure/acme-uk``, ``audit_trail_tampered/all``), as every alert names it. Acknowledging
and silencing are decisions: they land in the audit trail with who did it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import store, who


def cmd_list(args: argparse.Namespace) -> int:
    from sync_pipeline.store.alert_incidents import Incidents

    rows = Incidents(store()).list(state=None if args.all else "open")
    if not rows:
        print("no open alert incidents" if not args.all else "no alert incidents")
        return 0
    print(f"{'incident':<42} {'state':<8} {'severity':<8} {'value':>10}  {'team':<14} {'opened':<25} "
          f"{'esc':>3}  acknowledged / silenced")
    for i in rows:
        note = ", ".join(x for x in (f"ack {i.acknowledged_by}" if i.acknowledged_by else "",
                                     f"silenced until {i.silenced_until}" if i.silenced_until else "") if x)
        print(f"{i.incident_key:<42} {i.state:<8} {i.severity:<8} {i.value or '':>10}  {i.team:<14} "
              f"{i.opened_at[:25]:<25} {i.escalation_level:>3}  {note}")
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from sync_pipeline.store.alert_incidents import acknowledge

    try:
        inc = acknowledge(store(), args.key, actor=who(args), now=datetime.now(UTC))
    except LookupError as e:
        raise UserError(str(e)) from None
    print(f"{inc.incident_key} acknowledged by {inc.acknowledged_by}: it will not escalate; it clears when the "
          "objective passes again (an event alert: when its cause is gone or it has been quiet)")
    return 0


def cmd_silence(args: argparse.Namespace) -> int:
    from sync_pipeline.store.alert_incidents import silence

    if args.minutes < 0:
        raise UserError("--minutes must be 0 (lift the silence) or more")
    try:
        inc = silence(store(), args.key, minutes=args.minutes, actor=who(args), now=datetime.now(UTC))
    except LookupError as e:
        raise UserError(str(e)) from None
    print(f"{inc.incident_key} silenced until {inc.silenced_until}" if inc.silenced_until
          else f"{inc.incident_key}: silence lifted")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="SLO incidents: list, acknowledge, silence",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="alerts_command", required=True)
    s = ps.add_parser("list", help="open SLO incidents")
    s.add_argument("--all", action="store_true", help="cleared incidents too")
    s.set_defaults(func=cmd_list)
    s = ps.add_parser("ack", help="acknowledge an open incident: it stops escalating")
    s.add_argument("key", help="objective/entity, e.g. dead_letter_backlog/acme-uk")
    s.set_defaults(func=cmd_ack)
    s = ps.add_parser("silence", help="no alert for an incident key for a while")
    s.add_argument("key", help="objective/entity, e.g. dead_letter_backlog/acme-uk")
    s.add_argument("--minutes", type=int, required=True)
    s.set_defaults(func=cmd_silence)
