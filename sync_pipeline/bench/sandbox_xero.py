"""Xero sandbox at scale: seed N invoices (bulk_create), then time the lookups posting and reconciliation use.

    sync-pipeline bench sandbox_xero --invoices 100000

Each query goes through HTTP (the sandbox's server, no limits) and is timed as a client sees it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sync_pipeline.bench import peak_rss_mb, stopwatch

TENANT = "00000000-0000-4000-8000-000000000001"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--invoices", type=int, default=100_000)
    p.add_argument("--contacts", type=int, default=500)


def run(args: argparse.Namespace) -> dict:
    import httpx

    from sync_pipeline.sandbox.server import SandboxServer
    from sync_pipeline.sandbox.xero import XeroSandbox

    figures: dict = {"invoices": args.invoices}
    with tempfile.TemporaryDirectory(prefix="bench-xero-") as tmp:
        sb = XeroSandbox(str(Path(tmp) / "xero.sqlite3"), minute_limit=0, day_limit=0, concurrent_limit=100)
        sb.add_tenant(TENANT, "Bench Ltd")
        contacts = [c["ContactID"] for c in sb.bulk_create("Contacts", TENANT, (
            {"Name": f"Client {i}", "ContactNumber": f"C-{i:05d}"} for i in range(args.contacts)))]

        def invoices():
            for i in range(args.invoices):
                yield {"Type": "ACCREC", "Contact": {"ContactID": contacts[i % len(contacts)]},
                       "Date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", "Reference": f"SP-{i:07d}",
                       "Status": "AUTHORISED" if i % 10 else "DRAFT",
                       "LineItems": [{"Description": "Consulting", "Quantity": Decimal("1.5"),
                                      "UnitAmount": Decimal("120.00"), "AccountCode": "200", "TaxType": "OUTPUT2"}]}

        with stopwatch() as t:
            made = sum(1 for r in sb.bulk_create("Invoices", TENANT, invoices()) if not r.get("HasErrors"))
        figures.update(seeded=made, seed_seconds=round(t["seconds"], 1), seed_per_s=round(made / t["seconds"]))
        with SandboxServer(sb) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            h = {"Authorization": f"Bearer {sb.issue_token()}", "Xero-Tenant-Id": TENANT}

            def timed(name: str, params: dict, headers: dict | None = None) -> None:
                t0 = time.perf_counter()
                r = http.get("/api.xro/2.0/Invoices", params=params, headers={**h, **(headers or {})})
                ms = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text
                figures[f"{name}_ms"] = round(ms, 1)
                figures[f"{name}_rows"] = len(r.json()["Invoices"])

            mid = args.invoices // 2
            timed("reference_eq", {"where": f'Reference=="SP-{mid:07d}"'})
            timed("reference_prefix_page1", {"where": 'Reference.StartsWith("SP-00")', "order": "Reference",
                                             "page": 1})
            timed("status_last_page", {"where": 'Status=="AUTHORISED"', "page": max(1, args.invoices * 9 // 1000)})
            timed("contact_page1", {"where": f'Contact.ContactID==guid("{contacts[7]}")', "page": 1})
            timed("date_range_page1", {"where": "Date>=DateTime(2026,3,1) AND Date<DateTime(2026,4,1)", "page": 1})
            timed("modified_since", {"page": 1}, {"If-Modified-Since": "2999-01-01T00:00:00Z"})
            timed("page_size_1000_last", {"page": max(1, args.invoices // 1000), "pageSize": 1000})
            # reading everything the way reconciliation does: 1000 per page
            t0 = time.perf_counter()
            page, rows = 1, 0
            while True:
                got = http.get("/api.xro/2.0/Invoices", params={"page": page, "pageSize": 1000}, headers=h).json()
                rows += len(got["Invoices"])
                if len(got["Invoices"]) < 1000:
                    break
                page += 1
            figures.update(read_all_rows=rows, read_all_seconds=round(time.perf_counter() - t0, 1))
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return figures
