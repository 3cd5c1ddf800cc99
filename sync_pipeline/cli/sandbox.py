"""``sync-pipeline sandbox ...``: the seeded sandbox systems, and their fault plan and webhooks while they run.

    sync-pipeline sandbox up [--harvest-port 8710] [--xero-port 8720] [--qbo-port 8750] [--state-dir DIR]
    sync-pipeline sandbox fault add --system xero --route '/Invoices' --kind 503 --times 3
    sync-pipeline sandbox fault list --system harvest
    sync-pipeline sandbox fault clear --system xero
    sync-pipeline sandbox webhook add --url http://127.0.0.1:9000/hook --key KEY [--category INVOICE ...]
    sync-pipeline sandbox webhook list

The fault and webhook commands talk to a running sandbox through its admin API (``/_sandbox/faults``,
``/_sandbox/webhooks``); ``--url`` or ``HARVEST_BASE_URL``/``XERO_BASE_URL`` say where it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sync_pipeline.cli import UserError

FAULT_KINDS_HELP = ("429, 500, 503, slow (past client timeouts; --delay), reset (connection reset), truncate "
                    "(cut body), commit_then_drop (POST committed, connection dropped), duplicate and "
                    "out_of_order (Xero webhook deliveries; --route matches the subscriber URL)")


def cmd_sandbox_up(args: argparse.Namespace) -> int:
    from sync_pipeline.defs import settings
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.sandbox.run import start_sandboxes

    state = Path(args.state_dir) if args.state_dir else settings.data_dir() / "sandbox"
    try:
        sb = start_sandboxes(state, harvest_port=args.harvest_port, xero_port=args.xero_port,
                             qbo_port=args.qbo_port)
    except OSError as e:
        raise UserError(f"cannot start the sandbox on ports {args.harvest_port}/{args.xero_port}/{args.qbo_port}: "
                        f"{e}; stop whatever uses them or pass --harvest-port/--xero-port/--qbo-port (0 = any "
                        "free port)") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print("sandbox systems are up (Ctrl-C or SIGTERM stops them)")
        print(f"  state                : {state}")
        print(f"  project system       : {sb.harvest_server.url}  (Harvest API v2)")
        print(f"    Authorization      : Bearer {sb.harvest.token}")
        print(f"    Harvest-Account-Id : {demo_data.HARVEST_ACCOUNT_ID}")
        print(f"  accounting system    : {sb.xero_server.url}/api.xro/2.0  (Xero Accounting API)")
        print(f"    token endpoint     : {sb.xero_server.url}/connect/token  (client credentials)")
        print(f"    client id / secret : {sb.xero.client_id} / {sb.xero.client_secret}")
        print(f"    Xero-Tenant-Id     : {demo_data.XERO_TENANT_ID}")
        if sb.qbo is not None and sb.qbo_server is not None:
            print(f"  accounting system    : {sb.qbo_server.url}/v3/company/{{realmId}}  (QuickBooks Online API)")
            print(f"    OAuth discovery    : {sb.qbo_server.url}/.well-known/openid_configuration")
            print(f"    client id / secret : {sb.qbo.client_id} / {sb.qbo.client_secret}")
            for realm, token in (sb.qbo_refresh_tokens or {}).items():
                company = sb.qbo.company(realm)
                print(f"    realm {realm} : {company.name} ({company.country}); refresh token {token}")
            print(f"    admin              : {sb.qbo_server.url}/_sandbox/faults")
        print(f"  admin                : {sb.harvest_server.url}/_sandbox/faults, {sb.xero_server.url}/_sandbox/faults, "
              f"{sb.xero_server.url}/_sandbox/webhooks")
        print("environment for the pipeline:")
        for k, v in sb.env.items():
            print(f"{k}={v}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        print("sandbox systems stopped")
        sys.stdout.flush()
    return 0


def _base_url(args: argparse.Namespace) -> str:
    from sync_pipeline.defs import settings

    if args.url:
        return args.url.rstrip("/")
    if args.system == "harvest":
        return os.environ.get("HARVEST_BASE_URL", settings.HARVEST_DEFAULT_URL).rstrip("/")
    if args.system == "qbo":
        return os.environ.get("QBO_BASE_URL", "http://127.0.0.1:8750").rstrip("/")
    return os.environ.get("XERO_BASE_URL", settings.XERO_DEFAULT_URL).rstrip("/")


def _admin(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import httpx

    url = f"{_base_url(args)}/_sandbox/{path}"
    try:
        r = httpx.request(method, url, json=body, timeout=30)
    except httpx.HTTPError as e:
        raise UserError(f"cannot reach the {args.system} sandbox at {url}: {e}; is `sync-pipeline sandbox up` "
                        "running? (--url or HARVEST_BASE_URL/XERO_BASE_URL say where)") from None
    if r.status_code >= 400:
        raise UserError(f"the {args.system} sandbox refused {method} {url}: {r.status_code} {r.text}")
    return r.json()


def cmd_fault_add(args: argparse.Namespace) -> int:
    rule = {"kind": args.kind, "method": args.method, "path": args.route, "times": args.times,
            "probability": args.probability, "delay": args.delay, "retry_after": args.retry_after}
    print(json.dumps(_admin(args, "POST", "faults", rule)))
    return 0


def cmd_fault_list(args: argparse.Namespace) -> int:
    print(json.dumps(_admin(args, "GET", "faults"), indent=2))
    return 0


def cmd_fault_clear(args: argparse.Namespace) -> int:
    _admin(args, "DELETE", "faults")
    print(f"{args.system} sandbox: fault plan cleared")
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    body = {"url": args.subscriber, "key": args.key, "categories": args.category or None,
            "verify": not args.no_verify}
    sub = _admin(args, "POST", "webhooks", body)
    print(json.dumps(sub, indent=2))
    return 0 if sub["status"] in ("OK", "PENDING") else 1


def cmd_webhook_list(args: argparse.Namespace) -> int:
    print(json.dumps(_admin(args, "GET", "webhooks"), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sb = sub.add_parser("sandbox", help="local sandbox systems", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sbsub = sb.add_subparsers(dest="sandbox_command", required=True)
    up = sbsub.add_parser("up", help="start both sandbox systems, seeded, until Ctrl-C or SIGTERM")
    up.add_argument("--harvest-port", type=int, default=8710)
    up.add_argument("--xero-port", type=int, default=8720)
    up.add_argument("--qbo-port", type=int, default=8750)
    up.add_argument("--state-dir")
    up.set_defaults(func=cmd_sandbox_up)

    def target(p: argparse.ArgumentParser, systems: tuple[str, ...] = ("harvest", "xero", "qbo")) -> None:
        if len(systems) == 1:
            p.add_argument("--system", choices=systems, default=systems[0])
        else:
            p.add_argument("--system", choices=systems, required=True)
        p.add_argument("--url", help="base URL of the running sandbox (default: $HARVEST_BASE_URL / "
                                     "$XERO_BASE_URL / $QBO_BASE_URL, else 127.0.0.1:8710 / :8720 / :8750)")

    fault = sbsub.add_parser("fault", help="the fault plan of a running sandbox")
    fsub = fault.add_subparsers(dest="fault_command", required=True)
    add = fsub.add_parser("add", help="inject a fault on matching requests")
    target(add)
    add.add_argument("--kind", required=True, help=FAULT_KINDS_HELP)
    add.add_argument("--route", default=".*", help="regex searched in the request path (or subscriber URL)")
    add.add_argument("--method", default="*", help="HTTP method to match (default any)")
    add.add_argument("--times", type=int, default=1, help="how many matching requests it hits; -1 = forever")
    add.add_argument("--probability", type=float, default=1.0)
    add.add_argument("--delay", type=float, default=5.0, help="seconds, for --kind slow")
    add.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds, for 429/503")
    add.set_defaults(func=cmd_fault_add)
    ls = fsub.add_parser("list", help="show the fault plan and the faults that fired")
    target(ls)
    ls.set_defaults(func=cmd_fault_list)
    clear = fsub.add_parser("clear", help="remove every fault rule")
    target(clear)
    clear.set_defaults(func=cmd_fault_clear)

    hook = sbsub.add_parser("webhook", help="webhook subscribers of a running Xero sandbox")
    hsub = hook.add_subparsers(dest="webhook_command", required=True)
    hadd = hsub.add_parser("add", help="subscribe a URL (runs Xero's intent-to-receive check)")
    target(hadd, ("xero",))
    hadd.add_argument("--subscriber", required=True, help="the receiver's URL")
    hadd.add_argument("--key", help="webhook signing key (default: a new random one, printed)")
    hadd.add_argument("--category", action="append", choices=["INVOICE", "CONTACT", "CREDITNOTE"])
    hadd.add_argument("--no-verify", action="store_true", help="skip the intent-to-receive check (stays PENDING)")
    hadd.set_defaults(func=cmd_webhook_add)
    hls = hsub.add_parser("list", help="show subscribers and pending events")
    target(hls, ("xero",))
    hls.set_defaults(func=cmd_webhook_list)
