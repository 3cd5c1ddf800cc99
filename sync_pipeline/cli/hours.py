"""``sync-pipeline hours``: person-days held for review (entries adding up past the entity's max_hours_per_day).

    sync-pipeline hours review --entity E --period YYYY-MM
    sync-pipeline hours decide --entity E --period YYYY-MM --user U --day YYYY-MM-DD --release --note "launch day"
    sync-pipeline hours decide --entity E --period YYYY-MM --user U --day YYYY-MM-DD --quarantine --note "..."

``review`` lists the held person-days of the partition's ``clean_time_entries`` and the decisions recorded.
``decide`` records a decision on one held day (who, when, why; in the audit trail); the next billing run
(``sync``, or materializing ``clean_time_entries``) bills a released day and quarantines a quarantined one. A
decision is for the day's total as it was: if entries change, the day is held again.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import date
from decimal import Decimal

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import actor

HELD_FOR_REVIEW = "person-day over "


def _held_days(entity: str, period: str, warehouse: str | None) -> dict[tuple[str, str], dict]:
    from sync_pipeline.defs import settings
    from sync_pipeline.store.warehouse import Warehouse

    wh = Warehouse(warehouse or settings.warehouse_root())
    if not wh.exists("clean_time_entries", entity, period):
        raise UserError(f"no clean_time_entries for {entity} {period}: run `sync-pipeline sync --entity {entity} "
                        f"--period {period}` first")
    clean = wh.read("clean_time_entries", entity, period)
    held = clean[(clean["disposition"] == "held") & clean["reason"].fillna("").str.startswith(HELD_FOR_REVIEW)]
    days: dict[tuple[str, str], dict] = {}
    for r in held.itertuples():
        m = re.search(r" has ([0-9.]+) h", r.reason)
        d = days.setdefault((r.user_id, r.spent_date), {"user": r.user_id, "day": r.spent_date,
                                                        "day_hours": m.group(1) if m else None, "entries": 0,
                                                        "reason": r.reason})
        d["entries"] += 1
    return days


def _store():
    from sync_pipeline.defs import settings
    from sync_pipeline.store.operational import OperationalStore

    return OperationalStore(settings.operational_store_url())


def cmd_review(args: argparse.Namespace) -> int:
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.hours_reviews import HoursReviews

    period = Period.parse(args.period)
    days = _held_days(args.entity, period.key, args.warehouse)
    if not days:
        print(f"no person-day of {args.entity} {period.key} is held for review")
    for d in sorted(days.values(), key=lambda x: (x["day"], x["user"])):
        print(json.dumps(d))
    for dec in HoursReviews(_store()).latest(args.entity, period.start, period.end):
        print(json.dumps({"decision": dec.decision, "id": dec.id, "user": dec.user_id, "day": dec.day,
                          "day_hours": str(dec.day_hours), "by": dec.decided_by, "at": dec.decided_at, "note": dec.note}))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.store.hours_reviews import HoursReviews

    period = Period.parse(args.period)
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise UserError(f"--day {args.day!r} is not a date: write YYYY-MM-DD") from None
    held = _held_days(args.entity, period.key, args.warehouse).get((args.user, day.isoformat()))
    if held is None or held["day_hours"] is None:
        raise UserError(f"user {args.user} on {day} is not held for review in {args.entity} {period.key}: see "
                        f"`sync-pipeline hours review --entity {args.entity} --period {period.key}`")
    decision = "release" if args.release else "quarantine"
    try:
        d = HoursReviews(_store()).decide(args.entity, args.user, day, Decimal(held["day_hours"]), decision,
                                          note=args.note, actor=actor(args).name)
    except ValueError as e:
        raise UserError(str(e)) from None
    what = ("bills it as the other rules say" if decision == "release"
            else f"quarantines its entries, pointing at decision #{d.id} (its note is kept encrypted)")
    print(f"{decision}d {args.user} on {day} ({d.day_hours} h, {held['entries']} entries) by {d.decided_by} at "
          f"{d.decided_at}; the next billing run {what}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hours", help="person-days held for review: list them, release or quarantine one",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="hours_command", required=True)
    r = s.add_parser("review", help="the held person-days of a partition and the decisions recorded")
    d = s.add_parser("decide", help="release or quarantine one held person-day")
    for c in (r, d):
        c.add_argument("--entity", required=True)
        c.add_argument("--period", required=True, help="YYYY-MM")
        c.add_argument("--warehouse", help="warehouse root (default: SYNC_PIPELINE_WAREHOUSE or data/warehouse)")
    d.add_argument("--user", required=True, help="the person's user id, as `hours review` lists it")
    d.add_argument("--day", required=True, help="YYYY-MM-DD")
    which = d.add_mutually_exclusive_group(required=True)
    which.add_argument("--release", action="store_true", help="bill the day as the other rules say")
    which.add_argument("--quarantine", action="store_true", help="quarantine every entry of the day")
    d.add_argument("--note", required=True, help="why: kept encrypted with the decision (it may name people); "
                   "the entries' reason points at the decision, the audit trail keeps a keyed hash")
    r.set_defaults(func=cmd_review)
    d.set_defaults(func=cmd_decide)
