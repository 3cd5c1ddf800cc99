"""Post N invoices to the QuickBooks Online sandbox under Intuit's documented limits (``bench posting --target qbo``).

The floor is what the limits allow at best: ``ceil(N / 30)`` batch calls (Intuit's batch size) at 40 batch
requests a minute per realm and app, ``ceil(N/30) × 60 / 40`` seconds (the general 500 requests a minute and
10 a second are not the bottleneck). Customers and the service item exist already (an earlier run created them),
as in steady operation. The timed part is :meth:`QboTarget.post` of the whole partition's invoices — the target
the posting service calls — with the connector's limiters at Intuit's figures and the sandbox enforcing the same
figures in its own process, as a remote QuickBooks would.

    sync-pipeline bench posting --target qbo --invoices 1500
"""

from __future__ import annotations

import argparse
import math
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync_pipeline.bench import peak_rss_mb, stopwatch

REALM = "9130357990000001"
BATCH = 30


def _serve(state: str, n: int, limits: dict[str, int], conn: Any, stop: Any) -> None:
    from sync_pipeline.sandbox.qbo import QboSandbox
    from sync_pipeline.sandbox.server import SandboxServer

    sb = QboSandbox(str(Path(state) / "qbo.sqlite3"), **limits)
    sb.add_company(REALM, "Bench Inc", country="US")
    income = sb.query_one(REALM, "select * from Account where Name = 'Services'")
    item = sb.create("Item", REALM, {"Name": "Services (200)", "Type": "Service",
                                     "IncomeAccountRef": {"value": income["Id"]}})
    customers = [sb.create("Customer", REALM, {"DisplayName": f"Bench Client {10_000 + i} [HARVEST-{10_000 + i}]"})["Id"]
                 for i in range(n)]
    server = SandboxServer(sb).start()
    sb.base_url = server.url
    conn.send((server.url, sb.client_id, sb.client_secret, sb.issue_tokens(REALM)["refresh_token"], item["Id"],
               customers))
    stop.wait()
    conn.send(len(sb.all("Invoice", REALM)))
    server.stop()


def _drafts(n: int, lines: int, customers: list[str]) -> list[tuple[str, Any]]:
    from sync_pipeline.contracts.payloads.accounting import InvoiceDraftV1, InvoiceLineV1
    from sync_pipeline.domain import ids

    rates = [Decimal("95"), Decimal("100"), Decimal("120.50")]
    hours = [Decimal("1.25"), Decimal("2.0"), Decimal("3.5"), Decimal("0.75")]
    out = []
    for i in range(n):
        client = str(10_000 + i)
        ls = []
        for k in range(lines):
            q, u = hours[(i + k) % 4], rates[(i * 7 + k) % 3]
            ls.append(InvoiceLineV1(description=f"Project {k} — Development", quantity=q, unit_amount=u,
                                    line_amount=(q * u).quantize(Decimal("0.01")), account_code="200",
                                    tax_type="OUTPUT2", source_entry_ids=str(1_000_000 + i * lines + k)))
        out.append((ids.invoice_key("bench", client, "2026-10"), InvoiceDraftV1(
            reference=ids.invoice_reference("bench", client, "2026-10"), contact_id=customers[i], currency="USD",
            date=date(2026, 10, 31), due_date=date(2026, 11, 30), status="AUTHORISED", lines=ls)))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing as mp

    from sync_pipeline.connectors.limits import RateLimiter, RateLimits, Window
    from sync_pipeline.connectors.qbo import MemoryTokenStore, QboAuth, QboClient, QboSettings, QboTarget, Tokens
    from sync_pipeline.sandbox.qbo_oauth import TOKEN_PATH

    n = args.invoices or 1500
    batch_limit, minute_limit = args.batch_minute_limit, args.minute_limit or 500
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="bench-posting-qbo-"))
    state.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    limits = {"minute_limit": minute_limit, "second_limit": 10, "concurrent_limit": args.concurrent_limit or 10,
              "batch_minute_limit": batch_limit}
    proc = ctx.Process(target=_serve, args=(str(state), n, limits, child, stop), daemon=True)
    proc.start()
    url, client_id, secret, refresh, item, customers = parent.recv()
    methods: list[str] = []
    try:
        auth = QboAuth(REALM, client_id, secret, MemoryTokenStore({REALM: Tokens(refresh)}),
                       token_url=url + TOKEN_PATH)
        limiter = RateLimiter(RateLimits(windows=(Window(minute_limit, 60.0), Window(10, 1.0)),
                                         max_concurrent=limits["concurrent_limit"], max_wait=300.0), name="qbo")
        batch_limiter = RateLimiter(RateLimits(windows=(Window(batch_limit, 60.0),), max_wait=300.0),
                                    name="qbo-batch")
        client = QboClient(url, auth, limiter=limiter, batch_limiter=batch_limiter, timeout=120.0)
        client.http.event_hooks["request"].append(lambda r: methods.append(r.method))
        target = QboTarget(client, QboSettings(realm_id=REALM, home_currency="USD", tax_model="us",
                                               tax_codes={"OUTPUT2": "TAX"}, us_sales_tax_code="California",
                                               items={"200": item}))
        target.tax_id("California")  # reference data, looked up once per run (not timed)
        client.auth.bearer()
        drafts = _drafts(n, args.lines, customers)
        with stopwatch() as sw:
            results = target.post("invoice", drafts, key_prefix="bench")
        target.close()
    finally:
        stop.set()
        posted = parent.recv()
        proc.join(timeout=30)
    writes = sum(1 for m in methods if m == "POST")
    reads = sum(1 for m in methods if m == "GET")
    calls = math.ceil(n / BATCH)
    floor = calls * 60.0 / batch_limit
    ratio = sw["seconds"] / floor
    per_write = n / writes if writes else 0.0
    created = sum(1 for r in results if r.ok)
    return {
        "target": "qbo", "invoices": n, "lines_per_invoice": args.lines, "batch_minute_limit": batch_limit,
        "minute_limit": minute_limit, "posted_in_sandbox": posted, "created": created,
        "failed": [r.errors for r in results if not r.ok][:3],
        "write_calls": writes, "read_calls": reads, "invoices_per_write_call": round(per_write, 2),
        "wall_seconds": round(sw["seconds"], 1), "floor_seconds": round(floor, 1), "wall_over_floor": round(ratio, 3),
        "sliding_window_minimum_seconds": 60.0 * ((calls - 1) // batch_limit),
        "limiter_waits": batch_limiter.stats.waits, "limiter_waited_seconds": round(batch_limiter.stats.waited_seconds, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ok": created == n == posted and per_write >= BATCH - 0.5 and ratio <= 1.15,
    }
