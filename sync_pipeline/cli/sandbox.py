"""``sync-pipeline sandbox up``: the seeded sandbox systems on localhost."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def cmd_sandbox_up(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.sandbox.run import start_sandboxes

    state = Path(args.state_dir) if args.state_dir else settings.data_dir() / "sandbox"
    sb = start_sandboxes(state, harvest_port=args.harvest_port, xero_port=args.xero_port)
    print("sandbox systems are up (Ctrl-C stops them)")
    for k, v in sb.env.items():
        print(f"{k}={v}")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        print("sandbox systems stopped")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sb = sub.add_parser("sandbox", help="local sandbox systems")
    sbsub = sb.add_subparsers(dest="sandbox_command", required=True)
    up = sbsub.add_parser("up", help="start both sandbox systems, seeded, until Ctrl-C")
    up.add_argument("--harvest-port", type=int, default=8710)
    up.add_argument("--xero-port", type=int, default=8720)
    up.add_argument("--state-dir")
    up.set_defaults(func=cmd_sandbox_up)
