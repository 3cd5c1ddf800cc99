"""Post N invoices to the Xero sandbox under its rate limits: API calls per invoice, wall time against the floor.

The floor is what the limits allow at best: ceil(N / 50) write calls (Xero's batch size) at the per-minute
limit, ``ceil(N/50) × 60 / minute_limit`` seconds. Contacts already exist (an earlier run created them and
the operational store remembers them), as in steady operation; the timed part is the whole posting of a
partition — the plan's reads of the accounting system and the writes — through the same code as the
``posted_invoices`` asset, with the connector's rate limiter set to the sandbox's limits. The sandbox runs in
its own process, as a remote accounting system would.

    sync-pipeline bench posting --invoices 15000 --minute-limit 120
"""

from __future__ import annotations

import argparse
import math
import tempfile
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.bench import peak_rss_mb, stopwatch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=("xero", "qbo"), default="xero",
                   help="the accounting sandbox to post to (qbo: sync_pipeline/bench/posting_qbo.py)")
    p.add_argument("--invoices", type=int, default=None,
                   help="invoices to post, one client each (default 15000 for xero, 1500 for qbo)")
    p.add_argument("--lines", type=int, default=2, help="lines per invoice")
    p.add_argument("--minute-limit", type=int, default=None,
                   help="the sandbox's (and our limiter's) calls per minute (default 120 for xero, 500 for qbo)")
    p.add_argument("--batch-minute-limit", type=int, default=40, help="qbo: batch requests per minute (Intuit: 40)")
    p.add_argument("--day-limit", type=int, default=100_000)
    p.add_argument("--concurrent-limit", type=int, default=None, help="requests in flight (xero 5, qbo 10)")
    p.add_argument("--concurrency", type=int, default=2, help="batches in flight at once (within the limit)")
    p.add_argument("--state-dir", help="where the sandbox and stores live (default: a temporary folder)")


def _drafts(entity: str, period: str, n: int, lines: int) -> pd.DataFrame:
    from sync_pipeline.domain import ids
    from sync_pipeline.domain.money import to_minor

    rows: list[dict[str, Any]] = []
    rates = [Decimal("95"), Decimal("100"), Decimal("120.50")]
    hours = [Decimal("1.25"), Decimal("2.0"), Decimal("3.5"), Decimal("0.75")]
    entry = 1_000_000
    for i in range(n):
        client = str(10_000 + i)
        ccy = ("GBP", "EUR", "USD")[i % 3]
        for k in range(lines):
            q, u = hours[(i + k) % 4], rates[(i * 7 + k) % 3]
            entry += 1
            rows.append({"entity": entity, "period": period, "invoice_key": ids.invoice_key(entity, client, period),
                         "reference": ids.invoice_reference(entity, client, period), "client_id": client,
                         "client_name": f"Bench Client {client}", "currency": ccy, "project_id": str(k),
                         "project_name": f"Project {k}", "task_id": "1", "task_name": "Development", "line_no": k + 1,
                         "description": f"Project {k} — Development", "quantity": q, "unit_amount": u,
                         "line_amount_minor": to_minor(q * u, ccy), "source_value": q * u, "account_code": "200",
                         "tax_type": "OUTPUT2", "entry_count": 1, "source_entry_ids": str(entry)})
    return pd.DataFrame(rows)


def _contact_id(client: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-contact-{client}"))


def _serve(state: str, tenant: str, n: int, limits: dict[str, int], conn: Any, stop: Any) -> None:
    """The sandbox in its own process, as a remote accounting system would be: seeded, then serving."""
    from sync_pipeline.domain import ids
    from sync_pipeline.sandbox.server import SandboxServer
    from sync_pipeline.sandbox.xero import XeroSandbox
    from sync_pipeline.store.operational import now_iso

    app = XeroSandbox(str(Path(state) / "xero.sqlite3"), **limits)
    app.add_tenant(tenant, "Bench Ltd", "GBP")
    app.store.put_many("Contacts", tenant, [
        (_contact_id(c), {"ContactID": _contact_id(c), "Name": f"Bench Client {c}",
                          "ContactNumber": ids.contact_number("harvest", c), "ContactStatus": "ACTIVE",
                          "IsCustomer": True, "_updated": now_iso()})
        for c in (str(10_000 + i) for i in range(n))])
    server = SandboxServer(app).start()
    conn.send((server.url, app.client_id, app.client_secret))
    stop.wait()
    conn.send(app.store.count("Invoices", tenant))
    server.stop()


def _remember_contacts(store: Any, entity: str, n: int) -> None:
    """What an earlier run left in the operational store: the contact of every client."""
    from sync_pipeline.domain import ids
    from sync_pipeline.store.operational import contact_map, now_iso

    with store.engine.begin() as c:
        c.execute(contact_map.insert(), [
            {"entity": entity, "client_id": cl, "contact_id": _contact_id(cl),
             "contact_number": ids.contact_number("harvest", cl), "updated_at": now_iso()}
            for cl in (str(10_000 + i) for i in range(n))])


def run(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing as mp

    from sync_pipeline.connectors.limits import RateLimiter, RateLimits, Window
    from sync_pipeline.connectors.xero import XeroClient, XeroTarget
    from sync_pipeline.contracts.mapping import EntityConfig
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.sandbox import demo_data
    from sync_pipeline.services.posting import PostingRun, apply_plan, build_plan
    from sync_pipeline.store.operational import OperationalStore

    if getattr(args, "target", "xero") == "qbo":
        from sync_pipeline.bench import posting_qbo

        return posting_qbo.run(args)
    args.invoices = args.invoices or 15000
    args.minute_limit = args.minute_limit or 120
    args.concurrent_limit = args.concurrent_limit or 5
    n, limit = args.invoices, args.minute_limit
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="bench-posting-"))
    state.mkdir(parents=True, exist_ok=True)
    tenant, entity_key, period = demo_data.XERO_TENANT_ID, "bench", Period.parse("2026-10")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(str(state), tenant, n, {
        "minute_limit": limit, "day_limit": args.day_limit, "concurrent_limit": args.concurrent_limit}, child, stop),
        daemon=True)
    proc.start()
    url, client_id, secret = parent.recv()
    store = OperationalStore(f"sqlite:///{state / 'operational.sqlite3'}")
    _remember_contacts(store, entity_key, n)
    # four eyes: the bench's plan is approved by a bench approver (not its trigger) before it is timed
    from sync_pipeline.services.approvals import AwaitingApproval
    from sync_pipeline.store.approvals import PlanApprovals

    drafts = _drafts(entity_key, period.key, n, args.lines)
    entity = EntityConfig(key=entity_key, name="Bench Ltd", timezone="Europe/London", base_currency="GBP",
                          harvest_account_id="1", xero_tenant_id=tenant)
    limiter = RateLimiter(RateLimits(windows=(Window(limit, 60.0, "X-MinLimit-Remaining"),
                                              Window(args.day_limit, 86400.0, "X-DayLimit-Remaining")),
                                     max_concurrent=args.concurrent_limit, max_wait=300.0), name="xero")
    methods: list[str] = []
    try:
        xero = XeroClient(url, client_id, secret, tenant, limiter=limiter, timeout=120.0)
        xero.http.event_hooks["request"].append(lambda r: methods.append(r.method))
        target = XeroTarget(xero)
        plan = build_plan(drafts, entity=entity, period=period, target=target, store=store, today=date(2026, 11, 24))
        try:
            apply_plan(plan, target=target, store=store, run=PostingRun("bench posting", "bench"))
        except AwaitingApproval as waiting:
            assert waiting.plan is not None
            PlanApprovals(store).decide(entity_key, period.key, waiting.plan.plan_hash, by="bench approver",
                                        approve=True, comment="bench")
        methods.clear()
        with stopwatch() as sw:
            plan = build_plan(drafts, entity=entity, period=period, target=target, store=store, today=date(2026, 11, 24))
            result = apply_plan(plan, target=target, store=store, run=PostingRun("bench posting", "bench"),
                                concurrency=args.concurrency)
        xero.close()
    finally:
        stop.set()
        posted = parent.recv()
        proc.join(timeout=30)
    writes = sum(1 for m in methods if m in ("PUT", "POST"))
    reads = sum(1 for m in methods if m == "GET")
    floor = math.ceil(n / 50) * 60.0 / limit
    sliding_min = 60.0 * ((writes + reads - 1) // limit)
    ratio = sw["seconds"] / floor
    per_write = n / writes if writes else 0.0
    outcomes = result.frame["outcome"].value_counts().to_dict()
    return {
        "invoices": n, "lines_per_invoice": args.lines, "minute_limit": limit, "concurrent_limit": args.concurrent_limit,
        "concurrency": args.concurrency,
        "posted_in_sandbox": posted, "outcomes": outcomes,
        "write_calls": writes, "read_calls": reads, "api_calls_per_invoice": round((writes + reads) / n, 4),
        "invoices_per_write_call": round(per_write, 2),
        "wall_seconds": round(sw["seconds"], 1), "floor_seconds": round(floor, 1), "wall_over_floor": round(ratio, 3),
        "sliding_window_minimum_seconds": sliding_min,
        "limiter_waits": limiter.stats.waits, "limiter_waited_seconds": round(limiter.stats.waited_seconds, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ok": posted == n and per_write >= 45 and ratio <= 1.15 and outcomes == {"created": n},
    }
