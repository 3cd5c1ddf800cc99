"""Conservation on hand-built partitions: every entry in one disposition, every billable entry on one line, the money
carried whole per source currency, drafted + remainder = billed per invoice currency, each remainder within its bound."""

from decimal import Decimal as D

import pandas as pd
import pytest

from sync_pipeline.domain.billing import check_conservation, entry_facts

REF = "SP-acme-uk-2026-10-C1-R1"


def clean(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"entry_id": e, "disposition": d, "currency": c, "hours": h, "rate": r}
                         for e, d, c, h, r in rows], columns=["entry_id", "disposition", "currency", "hours", "rate"])


def billables(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"entry_id": e, "currency": c, "value": v} for e, c, v in rows],
                        columns=["entry_id", "currency", "value"])


def line(kind="time", ids="e1,e2", amount=15000, billed="150", remainder="0", source="150", ccy="GBP",
         source_ccy="GBP", q="1.5", u="100", no=1) -> dict:
    return {"reference": REF, "line_no": no, "kind": kind, "currency": ccy, "source_currency": source_ccy,
            "source_entry_ids": ids, "line_amount_minor": amount, "billed_value": D(billed),
            "rounding_remainder": D(remainder), "source_value": D(source), "quantity": D(q), "unit_amount": D(u)}


def drafts(*lines) -> pd.DataFrame:
    return pd.DataFrame(list(lines))


CLEAN = clean(("e1", "billable", "GBP", "1", "100"), ("e2", "billable", "GBP", "0.5", "100"),
              ("e3", "held", "GBP", "2", "80"), ("e4", "non_billable", "GBP", "1", None),
              ("e5", "held", "EUR", "1", "90"))
BILLABLES = billables(("e1", "GBP", "100"), ("e2", "GBP", "50"))
THIRD = line(ids="e6", amount=3333, billed="33.333333333333", remainder="0.003333333333", source="33.333333333333",
             q="0.3333", u="100", no=2)


def test_a_partition_that_adds_up_passes_with_its_figures():
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(), line("fee", "", 50000, "500", "0", "0", no=2),
                                                        line("discount", "", -1000, "-10", "0", "0", no=3)))
    assert (r.passed, r.problems) == (True, [])
    assert r.counts == {"billable": 2, "held": 2, "non_billable": 1}
    assert r.per_currency == {
        "GBP": {"source_billable": "150", "held": "160", "source_total": "310", "billed_value": "150",
                "drafted_time": "150.00", "rounding_remainder": "0.00", "fees": "500.00", "discounts": "-10.00",
                "drafted_total": "640.00"},
        "EUR": {"source_billable": "0", "held": "90", "source_total": "90"},
    }


def test_held_entries_without_hours_or_rate_count_nothing():
    c = clean(("e1", "billable", "GBP", "1", "100"), ("e2", "billable", "GBP", "0.5", "100"),
              ("e3", "held", "GBP", None, "80"), ("e4", "held", "GBP", "2", float("nan")),
              ("e5", "held", None, "1", "1"))
    r = check_conservation(5, c, BILLABLES, drafts(line()))
    assert r.passed and r.per_currency["GBP"]["held"] == "0"


def test_each_entry_in_exactly_one_disposition():
    r = check_conservation(6, CLEAN, BILLABLES, drafts(line()))
    assert r.problems == ["6 raw entries but 5 classified entries"]
    twice = pd.concat([CLEAN, CLEAN.iloc[[3]]], ignore_index=True)
    r = check_conservation(6, twice, BILLABLES, drafts(line()))
    assert r.problems == ["an entry is classified more than once"]


def test_billable_rows_match_billable_entries():
    r = check_conservation(5, CLEAN, billables(("e1", "GBP", "100")), drafts(line(ids="e1", source="100")))
    assert r.problems[0] == "2 billable entries but 1 billable rows"
    doubled = billables(("e1", "GBP", "100"), ("e1", "GBP", "50"))
    r = check_conservation(5, CLEAN, doubled, drafts(line(ids="e1")))
    assert r.problems == ["a billable entry has more than one row (2 rows, 1 entries)"]


def test_every_billable_entry_on_exactly_one_line():
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(ids="e1,e2", amount=10000, billed="100", source="100"),
                                                        line(ids="e2", amount=5000, billed="50", source="50", no=2)))
    assert r.problems == ["an entry appears on more than one invoice line"]
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(ids="e1,e3")))
    assert r.problems == ["billable entries not on a line: ['e2']; lines citing non-billable entries: ['e3']"]
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(ids="e1,e2,")))  # a trailing comma names nothing
    assert r.passed


def test_the_time_lines_carry_the_billable_value_whole_per_source_currency():
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(source="149.99")))
    assert r.problems == ["GBP: time lines carry 149.99 of source value but billable entries total 150"]
    # fee lines carry no source value and are not counted as time
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line(), line("fee", "", 100, "1", "0", "5", no=2)))
    assert r.passed


def test_drafted_plus_remainder_is_billed_and_each_remainder_within_its_bound():
    c = pd.concat([CLEAN, clean(("e6", "billable", "GBP", "0.333333333333", "100"))], ignore_index=True)
    b = pd.concat([BILLABLES, billables(("e6", "GBP", "33.333333333333"))], ignore_index=True)
    r = check_conservation(6, c, b, drafts(line(), THIRD))
    assert r.passed, r.problems
    assert (r.per_currency["GBP"]["drafted_time"], r.per_currency["GBP"]["rounding_remainder"]) == (
        "183.33", "0.003333333333")
    wrong_sum = dict(THIRD, rounding_remainder=D("0.003"))
    r = check_conservation(6, c, b, drafts(line(), wrong_sum))
    assert r.problems == ["GBP: line remainders do not add up to billed - drafted (0.003333333333)"]


@pytest.mark.parametrize(("ccy", "q", "u", "bound"), [
    # half a minor unit + u x 0.00005 + (q + 0.00005) x 0.00005
    ("GBP", "1.5", "100", D("0.005") + D("0.005") + D("1.50005") * D("0.00005")),
    ("JPY", "2", "-1000", D("0.5") + D("0.05") + D("2.00005") * D("0.00005")),
    ("GBP", "-3", "10", D("0.005") + D("0.0005") + D("3.00005") * D("0.00005")),
])
def test_the_remainder_bound_is_half_a_minor_unit_plus_the_four_decimal_rounding(ccy, q, u, bound):
    def check(remainder):
        ln = line(ids="e1,e2", amount=0, billed=str(remainder), remainder=str(remainder), ccy=ccy, q=q, u=u)
        return check_conservation(5, CLEAN, BILLABLES, drafts(ln)).problems

    assert check(bound) == [] and check(-bound) == []
    over = bound + D("0.000000000001")
    assert check(over) == [f"{ccy}: line {REF}#1 remainder {over} exceeds the rounding bound {bound}"]
    assert check(-over) == [f"{ccy}: line {REF}#1 remainder {-over} exceeds the rounding bound {bound}"]


def test_empty_partitions_conserve_trivially():
    r = check_conservation(0, clean(), billables(), pd.DataFrame())
    assert (r.passed, r.counts, r.per_currency) == (True, {}, {})


def test_entry_facts_count_what_conservation_needs():
    f = entry_facts(5, CLEAN, BILLABLES, drafts(line(ids="e1,e2,e9"), line("fee", "milestone:1", 1, "0", no=2)))
    assert (f.raw_count, f.clean_count, f.clean_distinct, f.billable_rows, f.billable_distinct, f.drafted_ids,
            f.drafted_distinct, f.missing, f.extra) == (5, 5, 5, 2, 2, 3, 3, [], ["e9"])
    assert f.source_value == {"GBP": D(150)} and f.held_value == {"GBP": D(160), "EUR": D(90)}
    many = billables(*[(f"e{i:02d}", "GBP", "1") for i in range(12)])
    assert entry_facts(12, CLEAN, many, drafts(line(ids="x"))).missing == [f"e{i:02d}" for i in range(10)]
    assert entry_facts(12, CLEAN, billables(), drafts(line(ids=",".join(f"z{i:02d}" for i in range(12))))).extra == \
        [f"z{i:02d}" for i in range(10)]


# -- expenses -----------------------------------------------------------------------------------------------------

def clean_expenses(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"expense_id": e, "disposition": d, "currency": c, "total_cost": t} for e, d, c, t in rows],
                        columns=["expense_id", "disposition", "currency", "total_cost"])


def expense_billables(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"expense_id": e, "currency": c, "total_cost": t} for e, c, t in rows],
                        columns=["expense_id", "currency", "total_cost"])


CLEAN_EXP = clean_expenses(("x1", "billable", "EUR", "100"), ("x2", "billable", "EUR", "20"),
                           ("x3", "held", "EUR", "7"), ("x4", "held", "USD", None), ("x5", "non_billable", "EUR", "3"))
EXP_BILLABLES = expense_billables(("x1", "EUR", "100"), ("x2", "EUR", "20"))
# 120 EUR + 10 % markup = 132 EUR x 0.86 = 113.52 GBP
EXP_LINE = line("expense", "expense:x1,expense:x2", 11352, "113.52", "0", "120", "GBP", "EUR", "1", "113.52", no=2)


def conserve_expenses(exp_lines=(EXP_LINE,), raw=5, clean_=CLEAN_EXP, billable=EXP_BILLABLES):
    return check_conservation(5, CLEAN, BILLABLES, drafts(line(), *exp_lines), raw_expense_count=raw,
                              clean_expenses=clean_, expense_billables=billable)


def test_expenses_that_add_up_pass_with_their_figures():
    r = conserve_expenses()
    assert (r.passed, r.problems) == (True, [])
    assert {k: v for k, v in r.counts.items() if k.startswith("expense_")} == {
        "expense_billable": 2, "expense_held": 2, "expense_non_billable": 1}
    assert r.per_currency["EUR"] == {"source_billable": "0", "held": "90", "source_total": "90",
                                     "expense_source_billable": "120", "expense_held": "7"}
    assert {k: r.per_currency["GBP"][k] for k in ("expense_billed_value", "drafted_expenses",
                                                  "expense_rounding_remainder", "drafted_total")} == {
        "expense_billed_value": "113.52", "drafted_expenses": "113.52", "expense_rounding_remainder": "0.00",
        "drafted_total": "263.52"}
    assert "USD" in r.per_currency and r.per_currency["USD"] == {"expense_source_billable": "0", "expense_held": "0"}


def test_each_expense_in_one_disposition_and_on_one_line():
    assert conserve_expenses(raw=6).problems == ["6 raw expenses but 5 classified expenses"]
    assert conserve_expenses(raw=None).passed
    twice = pd.concat([CLEAN_EXP, CLEAN_EXP.iloc[[4]]], ignore_index=True)
    assert conserve_expenses(raw=6, clean_=twice).problems == ["an expense is classified more than once"]
    assert conserve_expenses(billable=expense_billables(("x1", "EUR", "100"))).problems[0] == \
        "2 billable expenses but 1 expense billable rows"
    split = [dict(EXP_LINE, source_entry_ids="expense:x1,expense:x2", line_amount_minor=5000, billed_value=D(50),
                  source_value=D(60)),
             dict(EXP_LINE, source_entry_ids="expense:x2", line_amount_minor=6352, billed_value=D("63.52"),
                  source_value=D(60), line_no=3)]
    assert conserve_expenses(split).problems == ["an expense appears on more than one invoice line"]
    wrong = [dict(EXP_LINE, source_entry_ids="expense:x1,expense:x3")]
    assert conserve_expenses(wrong).problems == [
        "billable expenses not on a line: ['x2']; expense lines citing non-billable expenses: ['x3']"]


def test_expense_lines_carry_the_billable_amounts_whole_and_round_within_bounds():
    assert conserve_expenses([dict(EXP_LINE, source_value=D("119.99"))]).problems == [
        "EUR: expense lines carry 119.99 of expenses but billable expenses total 120"]
    bad = [dict(EXP_LINE, billed_value=D("113.525"), rounding_remainder=D("0.004"))]
    assert conserve_expenses(bad).problems == [
        "GBP: expense line remainders do not add up to billed - drafted (0.005)"]
    far = [dict(EXP_LINE, billed_value=D("113.60"), rounding_remainder=D("0.08"))]
    assert conserve_expenses(far).problems == [
        f"GBP: expense line {REF}#2 remainder 0.08 exceeds the rounding bound "
        f"{D('0.005') + D('113.52') * D('0.00005') + D('1.00005') * D('0.00005')}"]


def test_no_expenses_at_all_conserve():
    r = check_conservation(5, CLEAN, BILLABLES, drafts(line()), raw_expense_count=0,
                           clean_expenses=clean_expenses(), expense_billables=None)
    assert (r.passed, [k for k in r.counts if k.startswith("expense")]) == (True, [])


def test_expense_conservation_without_drafts_or_billable_rows():
    none_billable = clean_expenses(("x3", "held", "EUR", "7"), ("x5", "non_billable", "EUR", "3"))
    r = check_conservation(0, clean(), billables(), pd.DataFrame(), raw_expense_count=2,
                           clean_expenses=none_billable, expense_billables=None)
    assert (r.passed, r.problems) == (True, [])
    assert r.per_currency == {"EUR": {"expense_source_billable": "0", "expense_held": "7"}}
    assert r.counts == {"expense_held": 1, "expense_non_billable": 1}
    r = check_conservation(0, clean(), billables(), pd.DataFrame(), raw_expense_count=5, clean_expenses=CLEAN_EXP,
                           expense_billables=EXP_BILLABLES)
    assert r.problems == ["billable expenses not on a line: ['x1', 'x2']; expense lines citing non-billable "
                          "expenses: []", "EUR: expense lines carry 0 of expenses but billable expenses total 120"]
    many = clean_expenses(*[(f"y{i:02d}", "billable", "EUR", "1") for i in range(12)])
    r = check_conservation(0, clean(), billables(), pd.DataFrame(), raw_expense_count=12, clean_expenses=many,
                           expense_billables=expense_billables(*[(f"y{i:02d}", "EUR", "1") for i in range(12)]))
    assert r.problems[0] == f"billable expenses not on a line: {[f'y{i:02d}' for i in range(10)]}; expense lines " \
                            "citing non-billable expenses: []"
