"""Project profitability and entity results on a small hand-computed partition of entity ``de`` (EUR),
reporting currency GBP, October 2026 rates as in test_finance_consolidation (EUR→GBP average 0.85,
USD→GBP average 0.8333333333, EUR→USD average 1.0208333333)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from sync_pipeline.contracts.finance_tables import SharedCostLine
from sync_pipeline.services import finance
from sync_pipeline_tests.services.finance_fixtures import line
from sync_pipeline_tests.services.test_finance_consolidation import OCT, cfg, rates

E = "de"


def drafts() -> pd.DataFrame:
    rows = [  # invoice key, reference, client, project, currency, line amount (minor)
        ("k-a", "INV-A", "c1", "p1", "EUR", 100000), ("k-a", "INV-A", "c1", "p1", "EUR", 20000),
        ("k-a", "INV-A", "c1", "p2", "EUR", 50000), ("k-a", "INV-A", "c1", None, "EUR", 5000),  # a fee line
        ("k-b", "INV-B", "c2", "p3", "USD", 30000),
        ("k-c", "INV-C", "c1", "p1", "EUR", 99900),  # still a draft in the accounting system: not revenue
        ("k-u", "INV-U", "c-us", "p4", "EUR", 200000),  # to the group's US entity: intercompany
    ]
    return pd.DataFrame([{"invoice_key": k, "reference": ref, "client_id": c, "client_name": c.upper(),
                          "project_id": p, "project_name": p and p.upper(), "currency": ccy, "line_amount_minor": a}
                         for k, ref, c, p, ccy, a in rows])


def posted() -> pd.DataFrame:
    rows = [  # key, reference, client, currency, kind, status, subtotal, total, original
        ("k-a", "INV-A", "c1", "EUR", "invoice", "AUTHORISED", 175000, 210000, None),
        ("k-b", "INV-B", "c2", "USD", "invoice", "PAID", 30000, 30000, None),
        ("k-c", "INV-C", "c1", "EUR", "invoice", "DRAFT", 99900, 119880, None),
        ("k-u", "INV-U", "c-us", "EUR", "invoice", "AUTHORISED", 200000, 200000, None),
        ("k-cn", "CN-1", "c1", "EUR", "credit_note", "AUTHORISED", 10000, 12000, "INV-A"),
    ]
    return pd.DataFrame([dict(zip(["invoice_key", "reference", "client_id", "currency", "document_kind", "status",
                                   "subtotal_minor", "total_minor", "original_reference"], r, strict=True))
                         for r in rows])


def clean_and_raw():
    entries = [  # id, project, client, user, hours, disposition, cost rate
        ("t1", "p1", "c1", "u1", "10", "billable", "40"),
        ("t2", "p2", "c1", "u2", "2.5", "billable", "33.33"),
        ("t3", "p2", "c1", "u3", "1", "non_billable", None),     # no cost rate: counted, not guessed
        ("t4", "p1", "c1", "u1", "7", "quarantined", "40"),       # not work
    ]
    clean = pd.DataFrame([{"entry_id": e, "project_id": p, "client_id": c, "project_name": p.upper(),
                           "client_name": c.upper(), "user_id": u, "hours": Decimal(h), "disposition": d}
                          for e, p, c, u, h, d, _ in entries])
    raw = pd.DataFrame([{"entry_id": e, "cost_rate": Decimal(r) if r else None} for e, *_, r in entries])
    return clean, raw


def cost_lines() -> pd.DataFrame:
    rows = [
        {**line("X1", "429", 4550, project_ref="p1", description="Test devices"), "entity": E, "currency": "EUR"},
        {**line("X2", "469", 30000, description="Rent"), "entity": E, "currency": "EUR"},
        {**line("X3", "477", 200000, contact="Acme US Inc", description="US management fee"), "entity": E,
         "currency": "USD", "source": "xero_bill"},
    ]
    return finance.classify_cost_lines(SharedCostLine.validate(pd.DataFrame(rows)), cfg(), E)


def allocations() -> pd.DataFrame:
    r = finance.allocate(cost_lines(), clean_and_raw()[0], cfg(), E, OCT)
    return r.allocations


def test_revenue_is_invoiced_net_of_credit_notes_by_project():
    rev = finance.project_revenue(drafts(), posted(), cfg(), E, OCT)
    got = {(r.client_id, None if pd.isna(r.project_id) else r.project_id, r.currency):
           (int(r.invoiced_minor), int(r.credited_minor), int(r.revenue_minor)) for r in rev.itertuples()}
    # CN-1 (100.00) credits INV-A, whose lines are p1 1,200.00, p2 500.00, the fee 50.00 (1,750.00):
    # 10000 × 1200/1750 = 6857.14, × 500/1750 = 2857.14, × 50/1750 = 285.71 → floors 9999, the unit to the fee
    assert got == {
        ("c1", "p1", "EUR"): (120000, 6857, 113143),
        ("c1", "p2", "EUR"): (50000, 2857, 47143),
        ("c1", None, "EUR"): (5000, 286, 4714),
        ("c2", "p3", "USD"): (30000, 0, 30000),
        ("c-us", "p4", "EUR"): (200000, 0, 200000),
    }
    ic = rev.set_index("client_id")["ic_counterparty"]
    assert ic["c-us"] == "us" and pd.isna(ic["c2"])


def test_direct_costs_hours_times_cost_rate_and_direct_expenses():
    clean, raw = clean_and_raw()
    d = finance.project_direct_costs(clean, raw, cost_lines(), "EUR", E, OCT)
    got = {(r.project_id, r.cost_type): (int(r.amount_minor), int(r.entries_without_cost_rate)) for r in d.itertuples()}
    # p1: 10 h × 40 = 400.00; p2: 2.5 h × 33.33 = 83.325 → 83.33 (half up), 1 h without cost rate;
    # the quarantined 7 h are not work; p1 also has the 45.50 test devices as a direct expense
    assert got == {("p1", "labour"): (40000, 0), ("p1", "expense"): (4550, 0), ("p2", "labour"): (8333, 1)}


def test_profitability_in_transaction_and_reporting_currency():
    clean, raw = clean_and_raw()
    rev = finance.project_revenue(drafts(), posted(), cfg(), E, OCT)
    direct = finance.project_direct_costs(clean, raw, cost_lines(), "EUR", E, OCT)
    alloc = allocations()
    # rent 300.00 in pool rent (headcount): p1 has u1 (1), p2 has u2, u3 (2) → 100.00 / 200.00
    assert {r.project_id: int(r.allocated_minor) for r in alloc.itertuples() if r.pool_key == "rent"} == {
        "p1": 10000, "p2": 20000}
    p = finance.project_profitability(rev, direct, alloc, rates(), cfg(), E, OCT)
    by = {(None if pd.isna(r.project_id) else r.project_id, r.currency): r for r in p.itertuples()}
    p1 = by[("p1", "EUR")]
    assert (p1.revenue_minor, p1.direct_labour_minor, p1.direct_expense_minor, p1.allocated_minor, p1.margin_minor) == (
        113143, 40000, 4550, 10000, 58593)
    # at the EUR→GBP average 0.85, each component rounded once: 961.7155 → 961.72, 340.00, 38.675 → 38.68, 85.00
    assert (p1.revenue_reporting_minor, p1.direct_labour_reporting_minor, p1.direct_expense_reporting_minor,
            p1.allocated_reporting_minor, p1.margin_reporting_minor) == (96172, 34000, 3868, 8500, 49804)
    assert (p1.reporting_currency, p1.rate, p1.rate_source, p1.rate_days) == ("GBP", Decimal("0.85"), "ecb", 3)
    p2 = by[("p2", "EUR")]
    assert (p2.revenue_minor, p2.direct_labour_minor, p2.allocated_minor, p2.margin_minor) == (47143, 8333, 20000, 18810)
    assert (p2.revenue_reporting_minor, p2.direct_labour_reporting_minor, p2.allocated_reporting_minor,
            p2.margin_reporting_minor) == (40072, 7083, 17000, 15989)
    fee = by[(None, "EUR")]
    assert (fee.client_id, fee.revenue_minor, fee.revenue_reporting_minor) == ("c1", 4714, 4007)  # 40.069 → 40.07
    p3 = by[("p3", "USD")]
    assert (p3.revenue_minor, p3.revenue_reporting_minor, p3.rate) == (30000, 25000, Decimal("0.8333333333"))


def test_entity_results_remeasure_foreign_lines_and_tag_intercompany():
    clean, raw = clean_and_raw()
    lines = cost_lines()
    rev = finance.project_revenue(drafts(), posted(), cfg(), E, OCT)
    direct = finance.project_direct_costs(clean, raw, lines, "EUR", E, OCT)
    res = finance.entity_results(rev, direct, lines, pd.DataFrame(), posted(), rates(), cfg(), E, "EUR", OCT)
    got = {(r.statement, r.account, None if pd.isna(r.counterparty) else r.counterparty, r.transaction_currency):
           int(r.functional_minor) for r in res.itertuples()}
    assert got == {
        ("pnl", "revenue", None, "EUR"): 113143 + 47143 + 4714,
        # USD→EUR = EUR leg / USD leg: 1, 0.9411764706, 1 → average 0.9803921569: 300.00 USD → 294.12 EUR
        ("pnl", "revenue", None, "USD"): 29412,
        ("pnl", "ic_revenue", "us", "EUR"): 200000,
        ("pnl", "direct_labour", None, "EUR"): -48333,
        ("pnl", "direct_expenses", None, "EUR"): -4550,
        ("pnl", "shared_costs", None, "EUR"): -30000,
        ("pnl", "ic_expenses", "us", "USD"): -196078,       # the 2,000.00 USD fee from us: 1,960.78 EUR
        ("balance", "ic_receivable", "us", "EUR"): 200000,
        ("balance", "ic_payable", "us", "USD"): -196078,
    }


def test_status_pulled_back_from_the_accounting_system_wins():
    # INV-B was voided in the accounting system after posting; INV-C was approved there
    current = pd.DataFrame([{"reference": "INV-B", "status": "VOIDED"}, {"reference": "INV-C", "status": "AUTHORISED"}])
    rev = finance.project_revenue(drafts(), posted(), cfg(), E, OCT, current=current)
    got = {(r.client_id, None if pd.isna(r.project_id) else r.project_id): int(r.revenue_minor) for r in rev.itertuples()}
    assert ("c2", "p3") not in got
    assert got[("c1", "p1")] == 113143 + 99900
