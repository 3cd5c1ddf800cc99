"""The ``sync-pipeline`` command line.

Each module in this package contributes subcommands through ``register(subparsers)``;
``main`` discovers them, so a new command is one new module.

    sync-pipeline demo                         run the whole sync on the local sandbox
    sync-pipeline sync --entity E --period P   run the sync job for one entity × period
    sync-pipeline sandbox up                   start the seeded sandbox systems until Ctrl-C
    sync-pipeline bench NAME                   run a benchmark and print its figures
    sync-pipeline users …                      users, roles and API tokens (admin)

Commands that read or change operational data need an API token in SYNC_PIPELINE_TOKEN; which role
may run which command is the table in ``sync_pipeline/domain/access.py`` (docs/controls.md).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


class UserError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sync-pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            mod.register(sub)
    for path, leaf in leaf_commands(p):
        leaf.set_defaults(_action=".".join(path))
    return p


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every runnable command as (its path, its parser): ``("posting", "run")`` … — the actions of the CLI."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaf_commands(child, (*path, name))


def action_of(args: argparse.Namespace) -> str:
    """The access-table action of a parsed command (``bench`` for every benchmark)."""
    action = getattr(args, "_action", "")
    return "bench" if action.startswith("bench.") else action


def authorize(args: argparse.Namespace, environ=None):
    """Sign the caller in (``SYNC_PIPELINE_TOKEN``) and check the command's rule; the actor, or None when the
    command is public and nobody signed in. Raises ``AccessDenied``."""
    import os

    from sync_pipeline.domain.access import AccessDenied, check, is_public

    env = os.environ if environ is None else environ
    action = action_of(args)
    token = env.get("SYNC_PIPELINE_TOKEN")
    if is_public(action) and not token:
        return None
    actor = None
    if token:
        from sync_pipeline.cli._identity import identities

        actor = identities().authenticate_token(token)
        if actor is None:
            raise AccessDenied("SYNC_PIPELINE_TOKEN is not a valid token (unknown, expired or revoked): ask an "
                               "admin for a new one (`sync-pipeline users token create NAME`)")
    return check(actor, action)


def main(argv: list[str] | None = None) -> int:
    from sync_pipeline.store.files import restrict_umask

    restrict_umask()  # what the command writes (warehouse, store, exports, archives) is 0600 / 0700
    args = build_parser().parse_args(argv)
    try:
        from sync_pipeline.defs.settings import load_secret_files

        load_secret_files()  # NAME_FILE / SYNC_PIPELINE_SECRETS_DIR credentials (docs/data-protection.md)
        args.actor = authorize(args)
        from sync_pipeline.cli._access_log import record_view

        record_view(args, action_of(args))  # views of financial data land in the audit trail's access stream
        return int(args.func(args) or 0)
    except Exception as e:  # a CLI reports what the user can fix, without a traceback
        from sync_pipeline.connectors.transport import InsecureTransport
        from sync_pipeline.contracts.mapping import MappingError
        from sync_pipeline.defs.settings import MissingSetting
        from sync_pipeline.domain.access import AccessDenied
        from sync_pipeline.domain.periods import PeriodError
        from sync_pipeline.store.identity import IdentityError

        if isinstance(e, (UserError, MappingError, PeriodError, AccessDenied, IdentityError, MissingSetting,
                          InsecureTransport)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
