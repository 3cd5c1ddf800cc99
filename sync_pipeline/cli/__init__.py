"""The ``sync-pipeline`` command line.

Each module in this package contributes subcommands through ``register(subparsers)``;
``main`` discovers them, so a new command is one new module.

    sync-pipeline demo                         run the whole sync on the local sandbox
    sync-pipeline sync --entity E --period P   run the sync job for one entity × period
    sync-pipeline sandbox up                   start the seeded sandbox systems until Ctrl-C
    sync-pipeline bench NAME                   run a benchmark and print its figures
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as e:  # a CLI reports what the user can fix, without a traceback
        from sync_pipeline.contracts.mapping import MappingError
        from sync_pipeline.domain.periods import PeriodError

        if isinstance(e, (UserError, MappingError, PeriodError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
