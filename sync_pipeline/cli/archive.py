"""``sync-pipeline archive create|verify|restore|read``: closed periods kept as Parquet plus a hash manifest.

    sync-pipeline archive create --entity acme-uk --period 2026-10     # into $SYNC_PIPELINE_ARCHIVE/acme-uk/2026-10
    sync-pipeline archive verify --entity acme-uk --period 2026-10     # every file's SHA-256, the manifest's chain
    sync-pipeline archive read --entity acme-uk --period 2026-10 --table posted_invoices [--limit 20]
    sync-pipeline archive restore --entity acme-uk --period 2026-10 [--replace]

Read and restore verify first and refuse a damaged archive, naming the file (docs/data-protection.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sync_pipeline.cli._identity import store, who


def _ctx(args: argparse.Namespace):
    from sync_pipeline.defs import settings
    from sync_pipeline.services import archive
    from sync_pipeline.store.warehouse import Warehouse

    folder = Path(args.folder) if getattr(args, "folder", None) else archive.folder_of(
        settings.archive_root(), args.entity, args.period)
    return archive, Warehouse(settings.warehouse_root()), store(), folder


def _closed(entity: str, period: str) -> None:
    from sync_pipeline.cli import UserError
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.domain.periods import Period

    e = load_mapping(settings.mapping_path()).entity(entity)
    p = Period.parse(period)
    if e.locked_through is None or p.end > e.locked_through:
        raise UserError(f"{entity} {period} is not a closed period (the mapping's locked_through is "
                        f"{e.locked_through or 'unset'}): close it first, or pass --allow-open to archive a "
                        "snapshot of an open period")


def cmd_create(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError

    archive, wh, store, folder = _ctx(args)
    if not args.allow_open:
        _closed(args.entity, args.period)
    try:
        v = archive.create(wh, store, folder.parent.parent, args.entity, args.period, actor=who(args),
                           replace=args.replace)
    except archive.ArchiveError as e:
        raise UserError(str(e)) from None
    files = v.manifest["files"]
    print(f"archived {args.entity} {args.period} → {v.folder}: {len(files)} file(s), "
          f"{sum(f['rows'] for f in files)} row(s), manifest sha256 in the audit trail")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    archive, _, store, folder = _ctx(args)
    v = archive.verify(folder, store)
    if v.ok:
        print(f"archive {folder}: intact ({len(v.manifest['files'])} file(s), hashes and audit chain match)")
        return 0
    print(f"archive {folder}: DAMAGED", file=sys.stderr)
    for p in v.problems:
        print(f"  - {p}", file=sys.stderr)
    return 1


def cmd_read(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError

    archive, _, store, folder = _ctx(args)
    try:
        table = archive.read(folder, args.table, store, limit=args.limit)
    except archive.ArchiveError as e:
        raise UserError(str(e)) from None
    for row in table.to_pylist():
        print(json.dumps(row, default=str, sort_keys=True))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError

    archive, wh, store, folder = _ctx(args)
    try:
        restored = archive.restore(folder, wh, store, actor=who(args), replace=args.replace)
    except archive.ArchiveError as e:
        raise UserError(str(e)) from None
    print(f"restored {len(restored)} partition(s) of {args.entity} {args.period}: {', '.join(restored) or 'none'}"
          + ("" if args.replace else " (existing partitions kept; --replace overwrites them)"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("archive", help="archive closed periods (Parquet + SHA-256 manifest), verify, read, restore")
    asub = a.add_subparsers(dest="archive_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--entity", required=True)
        p.add_argument("--period", required=True, help="YYYY-MM")
        p.add_argument("--folder", help="the archive folder (default $SYNC_PIPELINE_ARCHIVE/ENTITY/PERIOD)")

    c = asub.add_parser("create", help="archive a closed period's warehouse partitions and ledger rows")
    common(c)
    c.add_argument("--replace", action="store_true", help="make the archive again over an existing one")
    c.add_argument("--allow-open", action="store_true", help="archive a period the mapping has not locked yet")
    c.set_defaults(func=cmd_create)
    v = asub.add_parser("verify", help="check every file's SHA-256 and the manifest against the audit trail")
    common(v)
    v.set_defaults(func=cmd_verify)
    r = asub.add_parser("read", help="print one table of a verified archive as JSON lines")
    common(r)
    r.add_argument("--table", required=True, help="an asset name (posted_invoices …) or sync_ledger")
    r.add_argument("--limit", type=int)
    r.set_defaults(func=cmd_read)
    s = asub.add_parser("restore", help="put a verified archive's partitions back into the warehouse")
    common(s)
    s.add_argument("--replace", action="store_true", help="overwrite partitions the warehouse still has")
    s.set_defaults(func=cmd_restore)
