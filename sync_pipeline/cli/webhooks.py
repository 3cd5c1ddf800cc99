"""``sync-pipeline webhooks serve``: the Xero webhook receiver, storing events in the operational store."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def cmd_serve(args: argparse.Namespace) -> int:
    from sync_pipeline.cli import UserError
    from sync_pipeline.defs import settings
    from sync_pipeline.store.events import EventStore
    from sync_pipeline.store.operational import OperationalStore
    from sync_pipeline.webhooks.server import WebhookServer
    from sync_pipeline.webhooks.xero import XeroWebhookApp

    key = os.environ.get("XERO_WEBHOOK_KEY", "")
    if not key:
        raise UserError("XERO_WEBHOOK_KEY is not set: copy the webhook key from the app's Webhooks page in the "
                        "Xero developer portal (the sandbox prints its key on `sync-pipeline sandbox up`)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = args.store_url or settings.operational_store_url()
    previous = os.environ.get("XERO_WEBHOOK_KEY_PREVIOUS", "")  # rotation window: both keys are valid
    app = XeroWebhookApp(EventStore(OperationalStore(url)), [key, previous], path=args.path)
    server = WebhookServer(app, host=args.host, port=args.port)
    print(f"Xero webhook receiver on {server.url}{args.path} (events → {url.split('@')[-1]}); Ctrl-C stops it")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("webhooks", help="webhook receivers")
    wsub = w.add_subparsers(dest="webhooks_command", required=True)
    s = wsub.add_parser("serve", help="receive Xero webhooks (XERO_WEBHOOK_KEY; during a key rotation also "
                                      "XERO_WEBHOOK_KEY_PREVIOUS) into the operational store")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8730)
    s.add_argument("--path", default="/webhooks/xero")
    s.add_argument("--store-url", help="operational store URL (default SYNC_PIPELINE_STORE_URL or the local file)")
    s.set_defaults(func=cmd_serve)
