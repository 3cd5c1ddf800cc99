"""``sync-pipeline bench NAME``: run a benchmark from ``sync_pipeline.bench`` and print its figures."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil

import sync_pipeline.bench as benches


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="run a benchmark and print its figures")
    bsub = b.add_subparsers(dest="bench", required=True)
    for info in sorted(pkgutil.iter_modules(benches.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{benches.__name__}.{info.name}")
        if not hasattr(mod, "run"):
            continue
        p = bsub.add_parser(info.name, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None)
        p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
        p.set_defaults(func=_runner(mod))


def _runner(mod):
    def run(args: argparse.Namespace) -> int:
        figures = mod.run(args)
        if args.json:
            print(json.dumps(figures, default=str, indent=2))
        else:
            width = max((len(k) for k in figures), default=0)
            for k, v in figures.items():
                print(f"{k:<{width}} : {v}")
        return 0 if figures.get("ok", True) else 1

    return run
