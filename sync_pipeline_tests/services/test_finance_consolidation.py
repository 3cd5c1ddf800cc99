"""Rates, translation and elimination on a small hand-computed group (reporting currency GBP):

    stored ECB-style rates (1 EUR = x)   2026-09-30  2026-10-01  2026-10-15  2026-10-30
        GBP                              0.8000      0.8000      0.8500      0.9000
        USD                              1.0000      1.0000      1.0625      1.0000
    ⇒ EUR→GBP: average (0.80 + 0.85 + 0.90) / 3 = 0.85, closing 0.90 (10-30), opening 0.80 (09-30)
    ⇒ USD→GBP (GBP leg / USD leg): 0.80, 0.80, 0.90 → average 2.5 / 3 = 0.8333333333 (10 dp, half-even),
      closing 0.90, opening 0.80
    ⇒ EUR→USD: average (1 + 1.0625 + 1) / 3 = 1.0208333333

Entities: de (EUR), us (USD), uk (GBP). de invoices us 2,000.00 EUR (intercompany); us books the bill.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.contracts.finance import parse_finance_config
from sync_pipeline.domain.finance import check_consolidation, check_eliminations
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import finance
from sync_pipeline_tests.services.finance_fixtures import CONFIG

OCT, SEP = Period.parse("2026-10"), Period.parse("2026-09")
STORED = [("2026-09-30", "0.8000", "1.0000"), ("2026-10-01", "0.8000", "1.0000"),
          ("2026-10-15", "0.8500", "1.0625"), ("2026-10-30", "0.9000", "1.0000")]


def stored_rates() -> pd.DataFrame:
    rows = []
    for day, gbp, usd in STORED:
        for ccy, rate in (("GBP", gbp), ("USD", usd)):
            rows.append({"base_currency": "EUR", "quote_currency": ccy, "rate_date": day, "rate": Decimal(rate),
                         "source": "ecb", "retrieved_at": "2026-11-01T06:00:00+00:00", "kind": "reference",
                         "client_id": None})
    return pd.DataFrame(rows)


def rates(period=OCT) -> pd.DataFrame:
    return finance.fx_period_rates(finance.daily_cross_rates(stored_rates(), ["EUR", "GBP", "USD"]), period)


def cfg(method="average"):
    return parse_finance_config({**CONFIG, "reporting_currency": "GBP",
                                 "translation": {"income_expense_rate": method},
                                 "intercompany": [{"entity": "de", "counterparty": "us", "client_id": "c-us",
                                                   "contact_name": "Acme US Inc"},
                                                  {"entity": "us", "counterparty": "de", "contact_name": "Acme DE"}]})


def test_average_closing_and_opening_rates_from_the_stored_daily_rates():
    r = rates().set_index(["base_currency", "quote_currency"])
    eur_gbp, usd_gbp, eur_usd = r.loc[("EUR", "GBP")], r.loc[("USD", "GBP")], r.loc[("EUR", "USD")]
    assert (eur_gbp.average_rate, eur_gbp.closing_rate, eur_gbp.opening_rate) == (
        Decimal("0.85"), Decimal("0.9"), Decimal("0.8"))
    assert (eur_gbp.average_days, eur_gbp.average_first_date, eur_gbp.average_last_date) == (3, "2026-10-01", "2026-10-30")
    assert (eur_gbp.closing_rate_date, eur_gbp.opening_rate_date) == ("2026-10-30", "2026-09-30")
    assert (eur_gbp.source, eur_gbp.retrieved_at) == ("ecb", "2026-11-01T06:00:00+00:00")
    assert usd_gbp.average_rate == Decimal("0.8333333333") and usd_gbp.closing_rate == Decimal("0.9")
    assert eur_usd.average_rate == Decimal("1.0208333333")
    assert r.loc[("GBP", "GBP")].average_rate == 1
    # minor rates fold in the minor units: EUR (2) → GBP (2) is the rate itself
    assert eur_gbp.average_minor_rate == Decimal("0.85")


def _result(entity, period, statement, account, amount, ccy, counterparty=None):
    return {"entity": entity, "period": period, "statement": statement, "account": account,
            "counterparty": counterparty, "transaction_currency": ccy, "transaction_minor": amount,
            "functional_currency": ccy, "remeasure_rate": Decimal(1), "remeasure_rate_source": "identity",
            "functional_minor": amount}


def group_history() -> pd.DataFrame:
    return pd.DataFrame([
        _result("de", "2026-09", "balance", "fixed_assets", 120000, "EUR"),       # 1,200.00 EUR bought in Sept
        _result("de", "2026-10", "pnl", "revenue", 1000000, "EUR"),
        _result("de", "2026-10", "pnl", "ic_revenue", 200000, "EUR", "us"),
        _result("de", "2026-10", "pnl", "shared_costs", -300000, "EUR"),
        _result("de", "2026-10", "balance", "ic_receivable", 200000, "EUR", "us"),
        _result("us", "2026-10", "pnl", "revenue", 500000, "USD"),
        # the EUR 2,000.00 bill remeasured at the average EUR→USD 1.0208333333 = 2,041.67 USD
        _result("us", "2026-10", "pnl", "ic_expenses", -204167, "USD", "de"),
        _result("us", "2026-10", "balance", "ic_payable", -204167, "USD", "de"),
        _result("uk", "2026-10", "pnl", "revenue", 80000, "GBP"),
        _result("uk", "2026-10", "pnl", "direct_labour", -30000, "GBP"),
    ])


def _by(df, *cols):
    def v(x):
        return None if pd.isna(x) else x

    return {tuple(v(getattr(r, c)) for c in cols): int(r.amount_reporting_minor) for r in df.itertuples()}


def test_translation_at_average_and_closing_rates_with_the_difference_shown():
    c = finance.consolidate(group_history(), rates(), cfg(), ["de", "us", "uk"], OCT)
    t = c.translated.set_index(["entity", "account"])
    # income and expenses at the average rate
    assert int(t.loc[("de", "revenue"), "amount_reporting_minor"]) == 850000        # 10,000.00 × 0.85
    assert int(t.loc[("de", "shared_costs"), "amount_reporting_minor"]) == -255000
    assert int(t.loc[("us", "revenue"), "amount_reporting_minor"]) == 416667        # 5,000 × 0.8333333333
    assert int(t.loc[("us", "ic_expenses"), "amount_reporting_minor"]) == -170139   # −2,041.67 × 0.8333333333
    assert int(t.loc[("uk", "revenue"), "amount_reporting_minor"]) == 80000         # GBP is GBP
    assert t.loc[("de", "revenue"), "rate_type"] == "average" and t.loc[("de", "revenue"), "rate"] == Decimal("0.85")
    # balances at the closing rate; opening at the opening rate; movement at the average
    fa = t.loc[("de", "fixed_assets")]
    assert (int(fa.amount_functional_minor), int(fa.opening_functional_minor), int(fa.movement_functional_minor)) == (
        120000, 120000, 0)
    assert (int(fa.amount_reporting_minor), int(fa.opening_reporting_minor), int(fa.movement_reporting_minor)) == (
        108000, 96000, 0)                                                            # ×0.90, ×0.80
    assert int(fa.translation_difference_minor) == 12000                             # 108000 − 96000 − 0
    assert fa.rate_type == "closing" and fa.rate_last_date == "2026-10-30" and fa.opening_rate_date == "2026-09-30"
    ar = t.loc[("de", "ic_receivable")]
    assert (int(ar.amount_reporting_minor), int(ar.movement_reporting_minor), int(ar.translation_difference_minor)) == (
        180000, 170000, 10000)                                                       # 2,000 × 0.90 / × 0.85
    ap = t.loc[("us", "ic_payable")]
    assert (int(ap.amount_reporting_minor), int(ap.movement_reporting_minor), int(ap.translation_difference_minor)) == (
        -183750, -170139, -13611)                                                    # −2,041.67 × 0.90 = −1,837.503
    assert int(t.loc[("de", "translation_difference"), "amount_reporting_minor"]) == 22000  # 12000 + 10000
    assert int(t.loc[("us", "translation_difference"), "amount_reporting_minor"]) == -13611

    # every rate used keeps its provenance
    pnl = c.translated[c.translated["statement"] == "pnl"]
    assert set(pnl["rate_source"]) == {"ecb"} and set(pnl["rate_retrieved_at"]) == {"2026-11-01T06:00:00+00:00"}


def test_closing_rate_method_is_configurable():
    c = finance.consolidate(group_history(), rates(), cfg("closing"), ["de", "us", "uk"], OCT)
    t = c.translated.set_index(["entity", "account"])
    assert int(t.loc[("de", "revenue"), "amount_reporting_minor"]) == 900000        # 10,000.00 × 0.90
    assert t.loc[("de", "revenue"), "rate_type"] == "closing"
    # the movement is translated at closing too: no difference on the receivable, only on the opening balance
    assert int(t.loc[("de", "ic_receivable"), "translation_difference_minor"]) == 0
    assert int(t.loc[("de", "fixed_assets"), "translation_difference_minor"]) == 12000


def test_intercompany_pair_is_eliminated_and_group_totals_exclude_it():
    c = finance.consolidate(group_history(), rates(), cfg(), ["de", "us", "uk"], OCT)
    e = c.eliminations
    assert _by(e[e["kind"] == "trading"], "entity", "account") == {
        ("de", "ic_revenue"): -170000, ("us", "ic_expenses"): 170139, (None, "ic_difference"): -139}
    assert _by(e[e["kind"] == "balances"], "entity", "account") == {
        ("de", "ic_receivable"): -180000, ("us", "ic_payable"): 183750, (None, "ic_difference"): -3750}
    assert set(e["pair"]) == {"de<>us"}
    assert int(e["amount_reporting_minor"].sum()) == 0

    g = c.consolidated.set_index(["statement", "account"])["consolidated_minor"].astype(int).to_dict()
    assert g[("pnl", "ic_revenue")] == 0 and g[("pnl", "ic_expenses")] == 0
    assert g[("balance", "ic_receivable")] == 0 and g[("balance", "ic_payable")] == 0
    assert g[("pnl", "revenue")] == 850000 + 416667 + 80000
    assert g[("pnl", "ic_difference")] == -139 and g[("balance", "ic_difference")] == -3750
    assert g[("oci", "translation_difference")] == 22000 - 13611
    # group result = the entities' translated results (eliminations net to zero)
    assert sum(v for (s, _), v in g.items() if s == "pnl") == 1061528

    assert check_eliminations(e).passed
    assert check_consolidation(c.translated, e, c.consolidated).passed


def test_checks_catch_broken_figures():
    c = finance.consolidate(group_history(), rates(), cfg(), ["de", "us", "uk"], OCT)
    bad = c.eliminations.copy()
    bad = bad[bad["account"] != "ic_difference"]
    out = check_eliminations(bad)
    assert not out.passed and any("de<>us" in p for p in out.problems)
    cons = c.consolidated.copy()
    cons.loc[cons["account"] == "revenue", "consolidated_minor"] += 1
    assert not check_consolidation(c.translated, c.eliminations, cons).passed


def test_missing_rate_is_an_error_that_says_what_to_do():
    only_gbp = stored_rates()
    only_gbp = only_gbp[only_gbp["quote_currency"] == "GBP"]
    r = finance.fx_period_rates(finance.daily_cross_rates(only_gbp, ["EUR", "GBP", "USD"]), OCT)
    with pytest.raises(ValueError, match="USD->GBP.*materialize group_fx_rates"):
        finance.consolidate(group_history(), r, cfg(), ["de", "us", "uk"], OCT)
