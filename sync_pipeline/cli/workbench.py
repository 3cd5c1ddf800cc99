"""``sync-pipeline workbench``: the accountants' web app over the cash-matching exceptions.

People sign in with the password an admin set (`sync-pipeline users add NAME --role accountant
--password-stdin`); what each role may do is the ``workbench.*`` rows of the access table.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workbench", help="serve the accountants' workbench (exceptions, decisions, rule templates)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8730)
    p.add_argument("--store", default=None, help="operational store URL (default $SYNC_PIPELINE_STORE_URL)")
    p.add_argument("--insecure-cookies", action="store_true",
                   help="session cookies without Secure, for plain-http development on a loopback --host only")
    p.add_argument("--no-settle", action="store_true",
                   help="do not settle accepted matches at once; the next cash_settlement run does")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from sync_pipeline.workbench import server

    try:
        security = server.security_from_env(insecure_cookies=args.insecure_cookies, host=args.host)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app = server.build(args.store, settle=not args.no_settle, security=security)
    print(f"workbench on http://{args.host}:{args.port} (users: `sync-pipeline users list`)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
