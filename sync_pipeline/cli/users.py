"""``sync-pipeline users``: people, named automations, roles and API tokens (admin only).

    sync-pipeline users bootstrap --name NAME [--password-stdin]   the first admin (only while no user exists)
    sync-pipeline users whoami
    sync-pipeline users add NAME --role ROLE [--role ROLE ...] [--automation] [--password-stdin]
    sync-pipeline users list
    sync-pipeline users roles NAME --role ROLE [--role ROLE ...]
    sync-pipeline users password NAME --password-stdin
    sync-pipeline users disable NAME                                 and revoke every token of theirs
    sync-pipeline users token create NAME [--scope ROLE ...] [--days 90] [--note TEXT]
    sync-pipeline users token list [NAME]
    sync-pipeline users token revoke TOKEN_ID

A token is printed once; the CLI reads it from SYNC_PIPELINE_TOKEN. Roles: see docs/controls.md.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from sync_pipeline.cli._identity import actor, identities
from sync_pipeline.domain.access import ROLES


def _password(args: argparse.Namespace, name: str, required: bool) -> str | None:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    if required:
        return getpass.getpass(f"password for {name}: ")
    return None


def cmd_bootstrap(args: argparse.Namespace) -> int:
    who, token = identities().bootstrap(args.name, _password(args, args.name, False))
    print(f"{who.name} is the first admin. Their API token (shown once, expires in 30 days):\n{token}\n"
          "export SYNC_PIPELINE_TOKEN=<that token>, then add people with `sync-pipeline users add`")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    a = actor(args)
    print(json.dumps({"name": a.name, "kind": a.kind, "roles": sorted(a.roles)}))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    kind = "automation" if args.automation else "person"
    pw = _password(args, args.name, False) if kind == "person" else None
    u = identities().add(args.name, args.role, by=actor(args).name, kind=kind, password=pw)
    print(f"{u.name} ({u.kind}): roles {', '.join(sorted(u.roles))}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for u in identities().all():
        print(json.dumps(u))
    return 0


def cmd_roles(args: argparse.Namespace) -> int:
    u = identities().set_roles(args.name, args.role, by=actor(args).name)
    print(f"{u.name}: roles {', '.join(sorted(u.roles))}")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    identities().set_password(args.name, _password(args, args.name, True) or "", by=actor(args).name)
    print(f"password of {args.name} changed")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    identities().disable(args.name, by=actor(args).name)
    print(f"{args.name} disabled; their tokens are revoked")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    token = identities().issue_token(args.name, by=actor(args).name, scopes=args.scope, days=args.days,
                                     note=args.note)
    print(token)
    print(f"(for {args.name}, {args.days} days, scopes {args.scope or 'all of their roles'}; shown once)",
          file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    for t in identities().tokens(args.name):
        print(json.dumps(t.__dict__))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    identities().revoke_token(args.token_id, by=actor(args).name)
    print(f"token {args.token_id} revoked")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="users, roles and API tokens (admin)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    us = p.add_subparsers(dest="users_command", required=True)
    roles = list(ROLES)
    s = us.add_parser("bootstrap", help="create the first admin (only while the store has no user)")
    s.add_argument("--name", required=True)
    s.add_argument("--password-stdin", action="store_true", help="also set a password (workbench sign-in)")
    s.set_defaults(func=cmd_bootstrap)
    us.add_parser("whoami", help="who SYNC_PIPELINE_TOKEN signs in").set_defaults(func=cmd_whoami)
    s = us.add_parser("add", help="add a person or a named automation, or change one")
    s.add_argument("name")
    s.add_argument("--role", action="append", required=True, choices=roles)
    s.add_argument("--automation", action="store_true", help="a schedule, sensor or service: tokens only")
    s.add_argument("--password-stdin", action="store_true")
    s.set_defaults(func=cmd_add)
    us.add_parser("list", help="every user and their roles").set_defaults(func=cmd_list)
    s = us.add_parser("roles", help="replace a user's roles")
    s.add_argument("name")
    s.add_argument("--role", action="append", required=True, choices=roles)
    s.set_defaults(func=cmd_roles)
    s = us.add_parser("password", help="set a person's password")
    s.add_argument("name")
    s.add_argument("--password-stdin", action="store_true")
    s.set_defaults(func=cmd_password)
    s = us.add_parser("disable", help="disable a user and revoke their tokens")
    s.add_argument("name")
    s.set_defaults(func=cmd_disable)
    t = us.add_parser("token", help="API tokens")
    ts = t.add_subparsers(dest="token_command", required=True)
    s = ts.add_parser("create", help="issue a token (printed once)")
    s.add_argument("name")
    s.add_argument("--scope", action="append", choices=roles, help="limit the token to these of the user's roles")
    s.add_argument("--days", type=int, default=90)
    s.add_argument("--note")
    s.set_defaults(func=cmd_token_create)
    s = ts.add_parser("list", help="tokens (never their secrets)")
    s.add_argument("name", nargs="?")
    s.set_defaults(func=cmd_token_list)
    s = ts.add_parser("revoke", help="revoke a token at once")
    s.add_argument("token_id")
    s.set_defaults(func=cmd_token_revoke)
