"""``sync-pipeline mapping``: versions of each entity's money-moving mapping, and accepting a change.

    sync-pipeline mapping status --entity E        the file's version, the accepted one, every version seen
    sync-pipeline mapping diff   --entity E        what changed since the accepted version (rates, flags, tax …)
    sync-pipeline mapping propose --entity E [--comment TEXT]      a mapping editor puts the current file forward
    sync-pipeline mapping accept --entity E --hash H [--comment TEXT]   an approver (not the proposer) accepts it

A mapping version nobody accepted posts nothing ("awaiting approval of the mapping"); see docs/controls.md.
"""

from __future__ import annotations

import argparse
import json

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import actor


def _env():
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.store.mapping_versions import MappingVersions
    from sync_pipeline.store.operational import OperationalStore

    return load_mapping(settings.mapping_path()), MappingVersions(OperationalStore(settings.operational_store_url()))


def cmd_status(args: argparse.Namespace) -> int:
    from sync_pipeline.store.mapping_versions import mapping_hash

    mapping, versions = _env()
    current = mapping_hash(mapping.entity(args.entity))
    accepted = versions.accepted(args.entity)
    print(f"{args.entity}: the mapping file is version {current}"
          + (" (accepted)" if accepted and accepted.mapping_hash == current else " (NOT accepted: posting waits)"
             if accepted else " (not seen by a run yet)"))
    for v in versions.all(args.entity):
        print(json.dumps({k: getattr(v, k) for k in ("mapping_hash", "status", "proposed_by", "proposed_at",
                                                     "accepted_by", "accepted_at", "comment")}))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from sync_pipeline.store.mapping_versions import diff, mapping_hash, money_view

    mapping, versions = _env()
    entity = mapping.entity(args.entity)
    accepted = versions.accepted(args.entity)
    changes = diff(accepted.content if accepted else {}, money_view(entity))
    print(f"{args.entity}: accepted {accepted.mapping_hash[:12] if accepted else 'none'} → file "
          f"{mapping_hash(entity)[:12]}: {len(changes)} change(s)")
    for c in changes:
        print(f"  {c}")
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    mapping, versions = _env()
    v = versions.propose(mapping.entity(args.entity), by=actor(args).name, comment=args.comment)
    print(f"{args.entity}: mapping version {v.mapping_hash} is {v.status}"
          + (f" (proposed by {v.proposed_by}); an approver accepts it with `sync-pipeline mapping accept --entity "
             f"{args.entity} --hash {v.mapping_hash[:16]}`" if v.status == "proposed" else ""))
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    from sync_pipeline.store.mapping_versions import MappingVersionError

    _, versions = _env()
    try:
        v = versions.accept(args.entity, args.hash, by=actor(args).name, comment=args.comment)
    except MappingVersionError as e:
        raise UserError(str(e)) from None
    print(f"{args.entity}: mapping version {v.mapping_hash} accepted by {v.accepted_by} at {v.accepted_at}; plans "
          "billed under it still need their own approval")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mapping", help="versions of the money-moving mapping; accept a change (four eyes)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ms = p.add_subparsers(dest="mapping_command", required=True)
    for name, fn, helptext in (("status", cmd_status, "the file's version and the accepted one"),
                               ("diff", cmd_diff, "what changed since the accepted version"),
                               ("propose", cmd_propose, "put the current file forward for acceptance")):
        s = ms.add_parser(name, help=helptext)
        s.add_argument("--entity", required=True)
        if name == "propose":
            s.add_argument("--comment")
        s.set_defaults(func=fn)
    s = ms.add_parser("accept", help="accept a proposed version (an approver other than its proposer)")
    s.add_argument("--entity", required=True)
    s.add_argument("--hash", required=True, help="as `mapping status` prints it (at least 12 characters)")
    s.add_argument("--comment")
    s.set_defaults(func=cmd_accept)
