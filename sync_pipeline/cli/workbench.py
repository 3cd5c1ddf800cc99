"""``sync-pipeline workbench``: the accountants' web app over the cash-matching exceptions."""

from __future__ import annotations

import argparse
import getpass
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workbench", help="serve the accountants' workbench (exceptions, decisions, rule templates)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8730)
    p.add_argument("--users", default=None, help="users file (default $SYNC_PIPELINE_WORKBENCH_USERS or "
                                                 "data/workbench_users.yaml)")
    p.add_argument("--store", default=None, help="operational store URL (default $SYNC_PIPELINE_STORE_URL)")
    p.add_argument("--no-settle", action="store_true",
                   help="do not settle accepted matches at once; the next cash_settlement run does")
    p.add_argument("--add-user", metavar="NAME", help="add or replace a user in the users file, then exit")
    p.add_argument("--role", choices=["viewer", "accountant", "admin"], default="accountant")
    p.add_argument("--password-stdin", action="store_true", help="read the new user's password from stdin")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sync_pipeline.workbench import server
    from sync_pipeline.workbench.auth import add_user

    users = args.users or server.users_path()
    if args.add_user:
        pw = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.add_user}: ")
        if len(pw) < 8:
            print("error: use a password of at least 8 characters", file=sys.stderr)
            return 2
        add_user(users, args.add_user, args.role, pw)
        print(f"{args.add_user} ({args.role}) written to {users}")
        return 0
    import uvicorn

    from sync_pipeline.cli import UserError

    try:
        app = server.build(args.store, users, settle=not args.no_settle)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    print(f"workbench on http://{args.host}:{args.port} (users: {users})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
