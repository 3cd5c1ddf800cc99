"""``sync-pipeline contracts ...``: versions of the warehouse and payload contracts.

    sync-pipeline contracts list                 # every contract with its current version
    sync-pipeline contracts check                # breaking changes against every stored snapshot
    sync-pipeline contracts snapshot [--accept]  # record the current version's snapshot

See ``docs/contracts-changelog.md`` for what changed in each version.
"""

from __future__ import annotations

import argparse

from sync_pipeline.cli import UserError


def cmd_list(args: argparse.Namespace) -> int:
    from sync_pipeline.contracts import payloads, versions

    for name, model in sorted(versions.warehouse_models().items()):
        have = sorted(versions.snapshots(name))
        print(f"warehouse  {name:<22} v{versions.contract_version(model)}  snapshots: {have or 'none'}")
    for kind in payloads.kinds():
        print(f"payload    {kind:<22} versions {payloads.versions(kind)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from sync_pipeline.contracts import versions

    failures = []
    for name, model in sorted(versions.warehouse_models().items()):
        current = versions.fingerprint(model)
        for v, snap in sorted(versions.snapshots(name).items()):
            problems = versions.breaking_changes(snap, current)
            if problems and not (v < current["version"] and versions.has_translator(name, current["version"], v)):
                failures.append(f"{name} v{v} consumers break: {'; '.join(problems)}")
    if failures:
        raise UserError("\n".join(failures) + "\nbump the model's contract_version (class Config: metadata = "
                        "{'contract_version': N}), register a translator in sync_pipeline.contracts.versions, "
                        "then run `sync-pipeline contracts snapshot`")
    print("all warehouse contracts are readable by their older consumers")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from sync_pipeline.contracts import versions

    for _name, model in sorted(versions.warehouse_models().items()):
        try:
            path, what = versions.write_snapshot(model, accept=args.accept)
        except ValueError as e:
            raise UserError(str(e)) from None
        print(f"{what:<9} {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contracts", help="versions of the data contracts", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="contracts_command", required=True)
    s.add_parser("list", help="contracts and their versions").set_defaults(func=cmd_list)
    s.add_parser("check", help="fail on changes that break older consumers").set_defaults(func=cmd_check)
    snap = s.add_parser("snapshot", help="record the current versions' snapshots")
    snap.add_argument("--accept", action="store_true", help="overwrite a same-version snapshot even if it breaks")
    snap.set_defaults(func=cmd_snapshot)
