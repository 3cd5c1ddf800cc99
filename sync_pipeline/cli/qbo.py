"""``sync-pipeline qbo connect``: connect the app to an entity's QuickBooks Online company (OAuth 2.0 consent).

    sync-pipeline qbo connect --entity E [--port 8755] [--redirect-uri URI] [--timeout 300]

Intuit's authorization code grant: the command listens on ``127.0.0.1:PORT`` for Intuit's redirect, prints the
address where a person signs in to QuickBooks and consents (``https://appcenter.intuit.com/connect/oauth2?…``,
scope ``com.intuit.quickbooks.accounting``), then takes the redirect's ``code``, ``state`` and ``realmId``,
checks the state it sent and that the company is the entity's ``qbo.realm_id``, and exchanges the code for the
first tokens (``POST …/oauth2/v1/tokens/bearer``, ``grant_type=authorization_code``). The rotating refresh token
goes to the operational store, encrypted at rest like every refresh after it (``store/oauth_tokens.py``); the
connection lands in the audit trail. The redirect URI must be one registered for the app in Intuit's developer
portal (``--redirect-uri`` when it is not ``http://localhost:PORT/qbo/callback``).

Settings: ``QBO_CLIENT_ID``, ``QBO_CLIENT_SECRET``; ``QBO_BASE_URL`` (the sandbox: its own consent page and
token endpoint); ``QBO_AUTHORIZE_URL`` to override the consent page. Who may run it: ``qbo.connect`` in
``domain/access.py`` (admin).
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from sync_pipeline.cli import UserError
from sync_pipeline.cli._identity import store, who

DEFAULT_PORT = 8755
CALLBACK_PATH = "/qbo/callback"


def authorize_url_setting(base_url: str) -> str:
    """The consent page: ``QBO_AUTHORIZE_URL``, else Intuit's for Intuit's API, else the same server's (sandbox)."""
    from sync_pipeline.connectors.qbo.auth import AUTHORIZE_URL

    explicit = os.environ.get("QBO_AUTHORIZE_URL", "").strip()
    if explicit:
        return explicit
    base = base_url.rstrip("/")
    return AUTHORIZE_URL if base.endswith(".intuit.com") else base + urlparse(AUTHORIZE_URL).path


class _Callback(BaseHTTPRequestHandler):
    answers: queue.Queue[dict[str, str]]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        if url.path != CALLBACK_PATH:
            self.send_error(404)
            return
        self.answers.put({k: v[-1] for k, v in parse_qs(url.query).items()})
        body = b"QuickBooks is connected to sync-pipeline: you may close this window.\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # the query holds the code: never printed
        return


def connect(entity_key: str, *, actor: str, port: int = DEFAULT_PORT, redirect_uri: str | None = None,
            timeout: float = 300.0, show: Callable[[str], None] = print) -> str:
    """Run the consent for ``entity_key``'s company; store its tokens; the realm id. ``show`` gets the consent
    address (the CLI prints it; a test follows it)."""
    from sync_pipeline.connectors.http import HttpError
    from sync_pipeline.connectors.qbo.auth import authorization_url, exchange_code
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.resources import accounting_resource
    from sync_pipeline.store import audit

    entity = load_mapping(settings.mapping_path()).entity(entity_key)
    if entity.target != "qbo" or entity.qbo is None:
        raise UserError(f"entity {entity_key} does not post to QuickBooks Online (its mapping says target: "
                        f"{entity.target}); set target: qbo and its qbo block (realm_id, ...) first")
    qbo = accounting_resource(dagster=False).qbo
    if qbo is None or not qbo.client_secret:
        raise UserError("QuickBooks Online is not configured: set QBO_CLIENT_ID and QBO_CLIENT_SECRET (Intuit "
                        "developer portal → your app → Keys & credentials; the sandbox's are printed by "
                        "`sync-pipeline sandbox up`)")
    answers: queue.Queue[dict[str, str]] = queue.Queue()
    handler = type("Callback", (_Callback,), {"answers": answers})
    try:
        server = HTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise UserError(f"cannot listen on 127.0.0.1:{port} for Intuit's redirect ({e}); pick another --port "
                        "(and register its redirect URI for the app)") from None
    redirect = redirect_uri or f"http://localhost:{server.server_address[1]}{CALLBACK_PATH}"
    state = secrets.token_urlsafe(24)
    thread = threading.Thread(target=server.serve_forever, name="qbo-consent", daemon=True)
    thread.start()
    try:
        show(authorization_url(qbo.client_id, redirect, state, authorize_url=authorize_url_setting(qbo.base_url)))
        try:
            got = answers.get(timeout=timeout)
        except queue.Empty:
            raise UserError(f"no answer from Intuit within {timeout:.0f} s: run the command again and open the "
                            "address it prints") from None
    finally:
        server.shutdown()
        server.server_close()
    if got.get("state") != state:
        raise UserError("the answer to the consent carries another state than the one sent (a stale or forged "
                        "redirect): run the command again")
    if got.get("error"):
        raise UserError(f"Intuit did not connect the company: {got['error']} {got.get('error_description', '')}"
                        .strip())
    realm = got.get("realmId", "")
    if realm != entity.qbo.realm_id:
        raise UserError(f"the company connected is {realm or 'not named'}, but entity {entity_key}'s mapping says "
                        f"qbo.realm_id {entity.qbo.realm_id}: connect that company, or fix the mapping")
    try:
        tokens = exchange_code(got.get("code", ""), redirect, qbo.client_id, qbo.client_secret,
                               token_url=qbo.token_url, timeout=qbo.timeout_seconds)
    except HttpError as e:
        raise UserError(str(e)) from None
    qbo.tokens().save(realm, tokens)  # encrypted at rest, as every rotated refresh token after it
    audit.append(store(), actor=actor, action="qbo_connected", entity=entity_key, subject=f"realm {realm}",
                 detail={"redirect_uri": redirect})
    return realm


def cmd_connect(args: argparse.Namespace) -> int:
    realm = connect(args.entity, actor=who(args), port=args.port, redirect_uri=args.redirect_uri,
                    timeout=args.timeout, show=lambda url: print(f"open this address, sign in and connect:\n  {url}",
                                                                 flush=True))
    print(f"connected: entity {args.entity} → QuickBooks company {realm}; its refresh token is stored "
          "(encrypted) in the operational store")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qbo", help="QuickBooks Online: connect an entity's company (OAuth consent)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = p.add_subparsers(dest="qbo_command", required=True)
    c = ps.add_parser("connect", help="sign in to QuickBooks, consent, store the company's refresh token")
    c.add_argument("--entity", required=True, help="the mapping's entity (target: qbo)")
    c.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"local port for Intuit's redirect (default {DEFAULT_PORT}; 0: any free one)")
    c.add_argument("--redirect-uri", help="the redirect URI registered for the app, when not "
                                          f"http://localhost:PORT{CALLBACK_PATH} (it must reach this port)")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the consent (default 300)")
    c.set_defaults(func=cmd_connect)
