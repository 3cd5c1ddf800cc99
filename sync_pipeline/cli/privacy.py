"""``sync-pipeline privacy …``: legal holds, the retention purge, and a person's rights (export, erase).

    sync-pipeline privacy hold set --entity acme-uk [--period 2026-10] [--person 7] --reason "claim 2027/14"
    sync-pipeline privacy hold list [--all]
    sync-pipeline privacy hold release 3 --reason "claim settled"
    sync-pipeline privacy purge --dry-run [--as-of 2035-01-01]     # what would be deleted / anonymized, and why
    sync-pipeline privacy purge                                    # do it (recorded in the audit trail)
    sync-pipeline privacy export --person harvest:3 [--out FILE]   # everything held about the person, JSON
    sync-pipeline privacy erase --person harvest:3 [--dry-run]     # identity gone, amounts kept

The retention policy is ``$SYNC_PIPELINE_RETENTION`` (default ``docs/retention.example.yaml``);
docs/data-protection.md has the defaults and the rules.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from sync_pipeline.cli._identity import store as _store
from sync_pipeline.cli._identity import who


def cmd_hold_set(args: argparse.Namespace) -> int:
    from sync_pipeline.store.legal_holds import LegalHolds

    h = LegalHolds(_store()).set(args.entity, period=args.period, person=args.person, reason=args.reason,
                                 by=who(args))
    print(f"set {h.describe()}")
    return 0


def cmd_hold_list(args: argparse.Namespace) -> int:
    from sync_pipeline.store.legal_holds import LegalHolds

    holds = LegalHolds(_store()).all(active_only=not args.all, entity=args.entity)
    for h in holds:
        released = "" if h.active else f"  [released by {h.released_by} at {h.released_at}]"
        print(f"{h.describe()}{released}")
    if not holds:
        print("no legal holds" + ("" if args.all else " in force"))
    return 0


def cmd_hold_release(args: argparse.Namespace) -> int:
    from sync_pipeline.store.legal_holds import LegalHolds

    h = LegalHolds(_store()).release(args.id, by=who(args), reason=args.reason)
    print(f"released hold #{h.id} ({h.entity}): {args.reason}")
    return 0


def retention_policy():
    """The retention file's policy, entities' jurisdictions defaulting to the mapping's tax jurisdiction."""
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.contracts.retention import load_retention_config
    from sync_pipeline.defs import settings

    cfg = load_retention_config(settings.retention_config_path())
    mapping = load_mapping(settings.mapping_path())
    juris = {e.key: e.tax.default_jurisdiction for e in mapping.entities if e.tax.default_jurisdiction}
    return cfg, cfg.policy(juris)


def cmd_purge(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError
    from sync_pipeline.defs import settings
    from sync_pipeline.services import retention
    from sync_pipeline.store.warehouse import Warehouse

    if args.as_of and not args.dry_run:
        raise UserError("--as-of is for a dry run only (what a purge on that day would do); a real purge uses "
                        "today's date")
    today = date.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC).date()
    cfg, policy = retention_policy()
    store, wh = _store(), Warehouse(settings.warehouse_root())
    items = retention.plan(wh, store, policy, dict(cfg.assets), today, store_tables=dict(cfg.store_tables))
    summary = retention.apply(items, wh, store, actor=who(args), dry_run=args.dry_run, today=today)
    verb = "would" if args.dry_run else "did"
    print(f"retention purge as of {today} ({'dry run' if args.dry_run else 'applied'}): {summary['partitions']} "
          f"partition(s); {verb} delete {summary['deleted']}, anonymize {summary['anonymized']}, keep "
          f"{summary['kept']} ({summary['kept_by_hold']} under legal hold, {summary['kept_open_documents']} with open "
          f"documents, partitions and store groups)")
    print(f"operational store: {summary['store_groups']} group(s) of rows (table × entity × period); {verb} delete "
          f"{summary['store_rows_deleted']} row(s), anonymize {summary['store_rows_anonymized']}")
    shown = [i for i in items if args.verbose or i.action != "keep" or "hold" in i.reason or "open" in i.reason]
    for i in shown:
        where = "store " if i.where == "store" else ""
        print(f"  {i.action:9} {where}{i.asset}/{i.entity}/{i.period} ({i.rows} rows): {i.reason}")
    return 0


def _subject(args: argparse.Namespace):
    from sync_pipeline.defs import settings
    from sync_pipeline.services import subject_rights
    from sync_pipeline.store.warehouse import Warehouse

    store, wh = _store(), Warehouse(settings.warehouse_root())
    try:
        return subject_rights, store, wh, subject_rights.resolve(wh, store, args.person)
    except subject_rights.SubjectError as e:
        from sync_pipeline.cli import UserError

        raise UserError(str(e)) from None


def cmd_export(args: argparse.Namespace) -> int:
    import json
    import sys

    from sync_pipeline.store.files import write_private

    sr, store, wh, person = _subject(args)
    data = sr.export(wh, store, person, actor=who(args), include_dagster=not args.no_dagster)
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    if args.out:
        write_private(args.out, text)  # 0600: it is everything held about a person
        c = data["counts"]
        print(f"wrote {args.out}: {c['warehouse_rows']} warehouse row(s), {c['store_rows']} store row(s), "
              f"{c['audit_events']} audit event(s), {c['dagster_log_entries']} Dagster log entr(ies)",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError

    sr, store, wh, person = _subject(args)
    try:
        r = sr.erase(wh, store, person, actor=who(args), dry_run=args.dry_run)
    except sr.SubjectError as e:
        raise UserError(str(e)) from None
    c = r["counts"]
    verb = "would replace" if args.dry_run else "replaced"
    print(f"erasure of {r['person']}{' (dry run)' if args.dry_run else ''}: {verb} the identity in "
          f"{c['warehouse_rows']} warehouse row(s) and {c['store_rows']} store row(s); amounts kept"
          + ("; the person's key destroyed" if r["person_key_destroyed"] else ""))
    for x in r["warehouse"]:
        print(f"  warehouse {x['asset']}/{x['entity']}/{x['period']}: {x['rows']} row(s)")
    for x in r["store"]:
        print(f"  store {x['table']}: {x['rows']} row(s)")
    for x in r["retained"]:
        print(f"  kept    {x['where']}: {x['rows']} row(s) — {x['why']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("privacy", help="legal holds, the retention purge, a person's data export and erasure")
    psub = p.add_subparsers(dest="privacy_command", required=True)

    hold = psub.add_parser("hold", help="legal holds: records no purge or erasure may touch")
    hsub = hold.add_subparsers(dest="hold_command", required=True)
    s = hsub.add_parser("set", help="put an entity (a period, a person) under legal hold")
    s.add_argument("--entity", required=True, help="entity key, or * for every entity")
    s.add_argument("--period", help="YYYY-MM (default: every period)")
    s.add_argument("--person", help="a person's source user id (default: everyone)")
    s.add_argument("--reason", required=True, help="the matter, case or request the hold serves")
    s.set_defaults(func=cmd_hold_set)
    ls = hsub.add_parser("list", help="legal holds in force (--all: released ones too)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--entity")
    ls.set_defaults(func=cmd_hold_list)
    r = hsub.add_parser("release", help="release a legal hold (kept on record, with who and why)")
    r.add_argument("id", type=int)
    r.add_argument("--reason", required=True)
    r.set_defaults(func=cmd_hold_release)

    pg = psub.add_parser("purge", help="delete or anonymize what is past retention (never held, open or "
                                       "within tax retention)")
    pg.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    pg.add_argument("--as-of", help="with --dry-run: plan as on this date (YYYY-MM-DD)")
    pg.add_argument("--verbose", "-v", action="store_true", help="list every partition, kept ones too")
    pg.set_defaults(func=cmd_purge)

    ex = psub.add_parser("export", help="everything held about a person, as JSON (access and portability)")
    ex.add_argument("--person", required=True, help="SOURCE:ID (harvest:3), a bare source user id, or P-…")
    ex.add_argument("--out", help="write to this file (0600) instead of standard output")
    ex.add_argument("--no-dagster", action="store_true", help="skip the Dagster event logs")
    ex.set_defaults(func=cmd_export)
    er = psub.add_parser("erase", help="erase a person's identity wherever no legal duty keeps it; amounts stay")
    er.add_argument("--person", required=True, help="SOURCE:ID (harvest:3), a bare source user id, or P-…")
    er.add_argument("--dry-run", action="store_true", help="say what would be replaced; change nothing")
    er.set_defaults(func=cmd_erase)
