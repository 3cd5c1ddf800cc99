"""Allocation + consolidation over generated entities × periods; wall time, peak RSS, and the checks.

Generates a deterministic group (``--entities`` entities in several functional currencies, ``--periods``
months ending October 2026 so the bundled ECB rates cover them): per entity × period time entries with
cost rates, shared cost lines (opex in four pools, capex, direct project expenses, foreign-currency and
intercompany bills), invoices with a credit note, usage quantities. Then it runs what the Dagster assets
run, through the same services and SQL models, writing every partition to a Parquet warehouse in a
temporary directory with its pandera contract: the group's rates per period (ECB, offline), classification,
capex register, allocation (a stored version per partition), revenue, direct cost, profitability and
entity results per entity × period; translation, eliminations and consolidated totals per period. Every
allocation, elimination and consolidation check is evaluated and must pass (``ok``).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

CURRENCIES = ["GBP", "EUR", "USD", "CHF", "JPY", "SEK", "GBP", "EUR", "USD", "DKK", "NOK", "PLN"]
DISPOSITIONS = ["billable"] * 14 + ["non_billable"] * 3 + ["held"] * 2 + ["quarantined"]
ACCOUNTS = ["469", "429", "463", "477", "404"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument("--periods", type=int, default=12, help="months ending --last-period")
    parser.add_argument("--last-period", default="2026-10", help="the bundled ECB history ends 2026-10-30")
    parser.add_argument("--projects", type=int, default=20, help="projects per entity")
    parser.add_argument("--entries", type=int, default=2000, help="time entries per entity × period")
    parser.add_argument("--cost-lines", type=int, default=300, help="shared cost lines per entity × period")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", default=None, help="write the warehouse here and keep it (default: a temp dir)")


def _config(entities: list[str], projects: int):
    from sync_pipeline.contracts.finance import parse_finance_config

    fixed = [{"entity": e, "project_id": f"{e}-p{k}", "weight": str(w)}
             for e in entities for k, w in enumerate([50, 20, 15, 10, 5][:projects])]
    ic = [{"entity": e, "counterparty": o, "contact_name": f"Group {o}", "client_id": f"ic-{o}"}
          for e in entities for o in entities if o != e]
    return parse_finance_config({
        "version": 1, "reporting_currency": "EUR",
        "depreciation_codes": [{"code": "SL36", "months": 36}],
        "accounts": [{"code": "469", "expense_class": "opex"}, {"code": "429", "expense_class": "opex"},
                     {"code": "463", "expense_class": "opex"}, {"code": "477", "expense_class": "opex"},
                     {"code": "404", "expense_class": "opex"},
                     {"code": "720", "expense_class": "capex", "capitalization_code": "FA-IT",
                      "depreciation_code": "SL36"}],
        "cost_pools": [
            {"key": "rent", "name": "Rent", "driver": "headcount", "accounts": ["469"],
             "methodology": "people who booked time on the project"},
            {"key": "it", "name": "IT", "driver": "hours", "accounts": ["429"], "methodology": "hours worked"},
            {"key": "cloud", "name": "Cloud", "driver": "usage", "usage_metric": "gb_hours", "accounts": ["463"],
             "methodology": "metered GB-hours"},
            {"key": "mgmt", "name": "Management", "driver": "fixed_key", "accounts": ["477"], "fixed_key": fixed,
             "methodology": "the agreed key"},
        ],
        "intercompany": ic,
    })


def _money(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


def _partition(rng: random.Random, e: str, ccy: str, period, args, entities: list[str]) -> dict[str, Any]:
    from sync_pipeline.domain.money import minor_units

    scale = 10 ** minor_units(ccy)
    users = [f"{e}-u{k}" for k in range(30)]
    projects = [f"{e}-p{k}" for k in range(args.projects)]
    clients = {p: f"{e}-c{k % 8}" for k, p in enumerate(projects)}
    day = period.start.isoformat()
    clean, raw = [], []
    for i in range(args.entries):
        p, u = rng.choice(projects), rng.choice(users)
        hours = Decimal(rng.randint(1, 32)) / 4
        disp = rng.choice(DISPOSITIONS)
        eid = f"{e}-{period.key}-t{i}"
        clean.append({"entry_id": eid, "project_id": p, "client_id": clients[p], "project_name": p,
                      "client_name": clients[p], "user_id": u, "hours": hours, "disposition": disp})
        raw.append({"entry_id": eid, "cost_rate": None if i % 97 == 0 else Decimal(30 + hash(u) % 60)})
    lines = []
    others = [o for o in entities if o != e]
    for i in range(args.cost_lines):
        r = rng.random()
        account = "720" if r < 0.04 else rng.choice(ACCOUNTS)
        project_ref = rng.choice(projects) if 0.04 <= r < 0.12 else None
        line_ccy = ccy if rng.random() < 0.9 else rng.choice(["EUR", "USD", "GBP"])
        amount = _money(rng, 10, 5000) * 10 ** minor_units(line_ccy) + rng.randint(0, 99) * (
            1 if minor_units(line_ccy) == 2 else 0)
        lines.append(_line(e, period.key, f"{e}-{period.key}-l{i}", account, amount, line_ccy, project_ref,
                           f"Supplier {i % 17}", day))
    # an intercompany management fee billed by the next entity, in that entity's currency
    nxt = others[entities.index(e) % len(others)] if others else None
    ic_in = None
    if nxt is not None:
        ic_in = (nxt, _money(rng, 1000, 9000))
    usage = [{"project_id": p, "metric": "gb_hours", "quantity": Decimal(rng.randint(0, 5000))} for p in projects]
    drafts, posted = [], []
    for c in sorted(set(clients.values())):
        key, ref = f"{e}-{period.key}-{c}", f"SP-{e}-{period.key}-{c}"
        sub = 0
        for p in [p for p in projects if clients[p] == c]:
            amt = _money(rng, 100, 20000) * scale
            sub += amt
            drafts.append({"invoice_key": key, "reference": ref, "client_id": c, "client_name": c, "project_id": p,
                           "project_name": p, "currency": ccy, "line_amount_minor": amt})
        posted.append({"invoice_key": key, "reference": ref, "client_id": c, "currency": ccy,
                       "document_kind": "invoice", "status": "AUTHORISED", "subtotal_minor": sub,
                       "total_minor": sub, "original_reference": None})
    credit = posted[0]
    posted.append({**credit, "invoice_key": credit["invoice_key"] + "-cn", "reference": credit["reference"] + "-CN",
                   "document_kind": "credit_note", "subtotal_minor": credit["subtotal_minor"] // 20,
                   "total_minor": credit["subtotal_minor"] // 20, "original_reference": credit["reference"]})
    return {"clean": pd.DataFrame(clean), "raw": pd.DataFrame(raw), "lines": lines, "usage": usage,
            "drafts": drafts, "posted": posted, "ic_in": ic_in}


def _line(e, period, line_id, account, amount, ccy, project_ref, contact, day) -> dict[str, Any]:
    return {"entity": e, "period": period, "line_id": line_id, "source": "xero_bill", "document_id": line_id,
            "document_number": None, "document_reference": None, "line_item_id": None, "line_no": 1, "date": day,
            "contact_id": None, "contact_name": contact, "description": f"{account} cost", "account_code": account,
            "tracking": None, "project_ref": project_ref, "currency": ccy, "amount_minor": amount, "tax_minor": 0,
            "status": "AUTHORISED", "extracted_at": "bench"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sync_pipeline.bench import peak_rss_mb
    from sync_pipeline.connectors.fx import EcbBundledProvider
    from sync_pipeline.contracts import finance_tables as t
    from sync_pipeline.contracts.finance import AllocationOverrides, ProjectUsage
    from sync_pipeline.contracts.warehouse import FxRateRow
    from sync_pipeline.domain import finance as checks
    from sync_pipeline.domain.money import minor_units
    from sync_pipeline.domain.periods import Period
    from sync_pipeline.services import finance
    from sync_pipeline.services import fx as fx_service
    from sync_pipeline.store.finance_versions import AllocationVersions
    from sync_pipeline.store.sql import SqlModels
    from sync_pipeline.store.warehouse import Warehouse

    rng = random.Random(args.seed)
    last = Period.parse(args.last_period)
    periods = [last]
    while len(periods) < args.periods:
        periods.insert(0, periods[0].previous())
    entities = [f"e{k:02d}" for k in range(args.entities)]
    currency = {e: CURRENCIES[k % len(CURRENCIES)] for k, e in enumerate(entities)}
    cfg = _config(entities, args.projects)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-finance-"))
    wh = Warehouse(root)
    versions, models = AllocationVersions(wh), SqlModels()
    stage: dict[str, float] = defaultdict(float)
    problems: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    t_all = time.perf_counter()

    def timed(name, fn, *a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            stage[name] += time.perf_counter() - t0

    try:
        provider = EcbBundledProvider()
        all_ccy = sorted(set(currency.values()) | {"EUR", "USD", "GBP"})
        for period in periods:
            stored = timed("fx", fx_service.period_rates, provider, all_ccy, period)
            timed("contracts+write", wh.write, "group_fx_rates", "_group", period.key, stored, FxRateRow)
            rates = timed("fx", finance.fx_period_rates, finance.daily_cross_rates(stored, all_ccy), period, models)
            timed("contracts+write", wh.write, "fx_period_rates", "_group", period.key, rates, t.FxPeriodRate)
            generated = {e: timed("generate", _partition, rng, e, currency[e], period, args, entities)
                         for e in entities}
            # the intercompany fee: billed by `src` (revenue there) and booked by `e` (a bill)
            for e, g in generated.items():
                if g["ic_in"] is None:
                    continue
                src, amount = g["ic_in"]
                sccy = currency[src]
                amount = amount * 10 ** minor_units(sccy)
                g["lines"].append(_line(e, period.key, f"{e}-{period.key}-ic", "477", amount, sccy, None,
                                        f"Group {src}", period.start.isoformat()))
                s = generated[src]
                ref = f"IC-{src}-{e}-{period.key}"
                s["drafts"].append({"invoice_key": ref, "reference": ref, "client_id": f"ic-{e}", "client_name": e,
                                    "project_id": f"{src}-p0", "project_name": "p0", "currency": sccy,
                                    "line_amount_minor": amount})
                s["posted"].append({"invoice_key": ref, "reference": ref, "client_id": f"ic-{e}", "currency": sccy,
                                    "document_kind": "invoice", "status": "AUTHORISED", "subtotal_minor": amount,
                                    "total_minor": amount, "original_reference": None})
            for e, g in generated.items():
                k = e, period.key
                shared = pd.DataFrame(g["lines"])
                timed("contracts+write", wh.write, "shared_cost_lines", *k, shared, t.SharedCostLine)
                lines = timed("allocation", finance.classify_cost_lines, shared, cfg, e, models)
                timed("contracts+write", wh.write, "finance_cost_lines", *k, lines, t.FinanceCostLine)
                capex = timed("allocation", finance.capex_register, lines, models)
                timed("contracts+write", wh.write, "capex_register", *k, capex, t.CapexScheduleRow)
                usage = AllocationOverrides(usage=[ProjectUsage(**u) for u in g["usage"]])
                res = timed("allocation", finance.allocate, lines, g["clean"], cfg, e, period, usage,
                            created_by="bench", models=models)
                timed("allocation", finance.save_allocation, versions, res)
                timed("contracts+write", wh.write, "cost_allocations", *k, res.allocations, t.CostAllocation)
                out = checks.check_allocation(lines, res.allocations, res.unallocated)
                problems += [f"{e} {period.key}: {p}" for p in out.problems]
                counts["allocated_rows"] += len(res.allocations)
                counts["cost_lines"] += len(lines)
                counts["time_entries"] += len(g["clean"])
                posted = pd.DataFrame(g["posted"])
                rev = timed("profitability", finance.project_revenue, pd.DataFrame(g["drafts"]), posted, cfg, e,
                            period, models)
                direct = timed("profitability", finance.project_direct_costs, g["clean"], g["raw"], lines,
                               currency[e], e, period, models)
                prof = timed("profitability", finance.project_profitability, rev, direct, res.allocations, rates,
                             cfg, e, period, models)
                timed("contracts+write", wh.write, "project_profitability", *k, prof, t.ProjectProfitability)
                counts["profitability_rows"] += len(prof)
                capex_hist = timed("consolidation", finance.read_history, wh, "capex_register", [e], period.key)
                dep = capex_hist[capex_hist["charge_period"] == period.key] if len(capex_hist) else capex_hist
                res_e = timed("consolidation", finance.entity_results, rev, direct, lines, dep, posted, rates, cfg, e,
                              currency[e], period, models)
                timed("contracts+write", wh.write, "entity_results", *k, res_e, t.EntityResult)
            history = timed("consolidation", finance.read_history, wh, "entity_results", entities, period.key)
            c = timed("consolidation", finance.consolidate, history, rates, cfg, entities, period, models)
            for name, df, model in (("consolidation_translated", c.translated, t.TranslatedResult),
                                    ("consolidation_eliminations", c.eliminations, t.Elimination),
                                    ("consolidated_results", c.consolidated, t.ConsolidatedLine)):
                timed("contracts+write", wh.write, name, "_group", period.key, df, model)
            for out in (checks.check_eliminations(c.eliminations),
                        checks.check_consolidation(c.translated, c.eliminations, c.consolidated)):
                problems += [f"{period.key}: {p}" for p in out.problems]
            counts["eliminations"] += len(c.eliminations)
            counts["ic_pairs"] += int(c.eliminations["pair"].nunique()) if len(c.eliminations) else 0
        seconds = time.perf_counter() - t_all
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    partitions = len(entities) * len(periods)
    return {
        "ok": not problems,
        "entities": len(entities),
        "periods": f"{periods[0].key} .. {periods[-1].key} ({len(periods)})",
        "partitions (entity × period)": partitions,
        "time entries": counts["time_entries"],
        "cost lines": counts["cost_lines"],
        "allocated rows": counts["allocated_rows"],
        "profitability rows": counts["profitability_rows"],
        "elimination entries": counts["eliminations"],
        "wall seconds": round(seconds, 1),
        "seconds per entity × period": round(seconds / partitions, 3),
        "stage seconds": {k: round(v, 1) for k, v in sorted(stage.items())},
        "peak RSS MiB": round(peak_rss_mb(), 1),
        "problems": problems[:5] or "none",
    }
