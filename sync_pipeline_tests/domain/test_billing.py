"""Billing rules on hand-built aggregated lines: every field of a time, expense, fee, retainer and discount line,
rounding with the configured mode at ties, tax per line and per invoice (several rates), invoice headers."""

from datetime import date
from decimal import Decimal as D

import pandas as pd
import pytest

from sync_pipeline.domain import ids
from sync_pipeline.domain.billing import (
    DRAFT_COLUMNS,
    TU_PER_HOUR,
    ClientTerms,
    LineRules,
    ProjectTerms,
    TaskTerms,
    TaxCodeRule,
    allocate_invoice_tax,
    finalize_draft_lines,
    hours_of,
    invoice_headers,
    invoice_level_tax,
    line_tax_minor,
    xero_line,
)
from sync_pipeline.domain.fx import FxRate, identity

OCT_START, OCT_END = date(2026, 10, 1), date(2026, 10, 31)
VAT = TaxCodeRule("OUTPUT2", D(20))
RULES = LineRules(account_code="200", tax_type="OUTPUT2", tax_rate_percent=D(20))
EUR_GBP = FxRate("EUR", "GBP", D("0.86"), date(2026, 10, 30), "ecb", "2026-10-30T16:00:00+00:00")


def tu(hours: str) -> int:
    return int(D(hours) * TU_PER_HOUR)


def time_row(**kw) -> dict:
    row = dict(client_id="1", client_name="Acme", invoice_currency="GBP", currency="GBP", project_id="11",
               project_name="Web", task_id="2", task_name="Dev", unit="hours", hours_per_day="8", rate="100",
               list_rate="120", billable_percent="100", rate_source="project", hours="1.5", billed_tu=tu("1.5"),
               retainer_tu=0, source_value="150", approved_by="ann", approved_at="2026-10-31T12:00:00+00:00",
               entry_count=2, source_entry_ids="e1,e2")
    row.update(kw)
    return row


def expense_row(**kw) -> dict:
    row = dict(client_id="1", client_name="Acme", invoice_currency="GBP", currency="GBP", project_id="11",
               project_name="Web", category="Travel", refund=False, value="110", total_cost="100",
               markup_percent="10", markup_source="project", approved_by="", approved_at=None, expense_count=2,
               source_entry_ids="expense:x1,expense:x2")
    row.update(kw)
    return row


def fx_table(_client, a, b):
    if a == b:
        return identity(a, OCT_END)
    assert (a, b) == ("EUR", "GBP")
    return EUR_GBP


def draft(times=(), rules=RULES, expenses=None, fx=fx_table, **kw) -> pd.DataFrame:
    exp = pd.DataFrame(list(expenses)) if expenses is not None else None
    return finalize_draft_lines(pd.DataFrame(list(times)), "acme-uk", "2026-10", rules, fx=fx, period_start=OCT_START,
                                period_end=OCT_END, expense_lines=exp, **kw)


def records(df: pd.DataFrame) -> list[dict]:
    """The frame's rows as dicts; a missing text (NaN in pandas' string columns) as None."""
    return [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()} for r in df.to_dict("records")]


# -- xero_line, hours, tax --------------------------------------------------------------------------------------

def test_a_line_amount_is_quantity_times_unit_amount_rounded_once_with_the_mode():
    assert xero_line(D("1.5"), D(100), "GBP") == 15000
    assert xero_line(D(1), D("0.125"), "GBP") == 13  # a tie: half up by default
    assert xero_line(D(1), D("0.125"), "GBP", "half_even") == 12
    assert xero_line(D("0.0001"), D("9999.9999"), "JPY") == 1
    assert xero_line(D("2.5"), D(1), "JPY", "half_even") == 2


@pytest.mark.parametrize(("quantity", "unit"), [(D("1.00001"), D(1)), (D(1), D("0.12345"))])
def test_more_than_four_decimals_is_refused(quantity, unit):
    with pytest.raises(ValueError, match=rf"^quantity {quantity} / unit amount {unit} have more than 4 decimals$"):
        xero_line(quantity, unit, "GBP")


def test_four_decimals_are_accepted_whatever_their_last_digit():
    assert xero_line(D("0.0005"), D("0.0005"), "GBP") == 0
    assert xero_line(D("3.3333"), D("99.9999"), "GBP") == 33333


def test_time_units_are_exact_hours():
    assert hours_of(tu("1.5")) == D("1.5")
    assert hours_of(20 * 1_000_000) == D("0." + "3" * 60)  # 20 min, to 60 significant digits


@pytest.mark.parametrize(("minor", "pct", "amounts", "mode", "tax"), [
    (10000, D(20), "exclusive", "half_up", 2000),
    (12000, D(20), "inclusive", "half_up", 2000),  # the tax inside 120.00 at 20 %
    (100, D("12.5"), "exclusive", "half_up", 13),  # 12.5 % of 1.00 = 0.125: a tie
    (100, D("12.5"), "exclusive", "half_even", 12),
    (1125, D("12.5"), "inclusive", "half_up", 125),
    (225, D("12.5"), "inclusive", "half_even", 25),  # 225 x 12.5 / 112.5 = 25 exactly
    (-10000, D(20), "exclusive", "half_up", -2000),
    (10000, D(0), "exclusive", "half_up", 0),
])
def test_line_tax(minor, pct, amounts, mode, tax):
    assert line_tax_minor(minor, pct, "GBP", amounts, mode) == tax


def test_line_tax_tie_inside_an_inclusive_amount_follows_the_mode():
    # 2.10 inclusive of 5 %: tax = 2.10 x 5 / 105 = 0.10 exactly; 0.63 incl. 5 %: 0.03; 1.05 at 5 %: 0.05
    assert line_tax_minor(210, D(5), "GBP", "inclusive") == 10
    # 3.15 inclusive of 5 %: 0.15; 0.21 inclusive of 5 % = 0.01; a tie: 52.5 % ... use JPY 105 incl. 5 % → 5
    assert line_tax_minor(105, D(5), "JPY", "inclusive", "half_even") == 5
    assert line_tax_minor(25, D(10), "JPY", "exclusive", "half_even") == 2  # 2.5 → 2
    assert line_tax_minor(25, D(10), "JPY", "exclusive", "half_up") == 3


# -- time lines ---------------------------------------------------------------------------------------------------

def test_a_time_line_carries_every_field_computed_by_hand():
    [row] = records(draft([time_row()]))
    key = ids.invoice_key("acme-uk", "1", "2026-10")
    assert row == {
        "entity": "acme-uk", "period": "2026-10", "invoice_key": key,
        "reference": ids.invoice_reference("acme-uk", "1", "2026-10"), "client_id": "1", "client_name": "Acme",
        "currency": "GBP", "line_no": 1, "kind": "time", "project_id": "11", "project_name": "Web", "task_id": "2",
        "task_name": "Dev", "description": "Web — Dev", "item_code": None, "tracking_category": None,
        "tracking_option": None, "quantity": D("1.5000"), "unit": "hours", "unit_amount": D("100.0000"),
        "line_amount_minor": 15000, "account_code": "200", "tax_type": "OUTPUT2", "tax_rate_percent": D(20),
        "tax_amount_minor": 3000, "line_amount_types": "Exclusive", "source_currency": "GBP", "source_rate": D(100),
        "list_rate": D(120), "billable_percent": D(100), "rate_source": "project", "worked_hours": D("1.5"),
        "billed_hours": D("1.500000"), "retainer_hours": D("0.000000"), "source_value": D(150),
        "billed_value": D("150.000000000000"), "rounding_remainder": D(0), "fx_rate": D(1),
        "fx_rate_date": "2026-10-31", "fx_rate_source": "identity", "fx_retrieved_at": "", "base_currency": "GBP",
        "base_rate": D(1), "base_rate_date": "2026-10-31", "base_rate_source": "identity", "base_retrieved_at": "",
        "line_amount_base_minor": 15000, "approved_by": "ann", "approved_at": "2026-10-31T12:00:00+00:00",
        "entry_count": 2, "source_entry_ids": "e1,e2", "markup_percent": None,
    }
    assert list(draft([time_row()]).columns) == DRAFT_COLUMNS


def test_twenty_minutes_leave_a_remainder_within_the_bound():
    [row] = records(draft([time_row(billed_tu=20 * 1_000_000, hours="0.333333", rate="100")]))
    assert (row["quantity"], row["line_amount_minor"]) == (D("0.3333"), 3333)
    assert row["billed_value"] == D("33.333333333333")
    assert row["rounding_remainder"] == D("0.003333333333")
    assert row["billed_hours"] == D("0.333333")


@pytest.mark.parametrize(("mode", "quantity", "amount"), [("half_up", D("1.0001"), 10001),
                                                          ("half_even", D("1.0000"), 10000)])
def test_quantity_is_rounded_to_four_decimals_with_the_configured_mode(mode, quantity, amount):
    rules = LineRules("200", "OUTPUT2", D(20), rounding_mode=mode)
    [row] = records(draft([time_row(billed_tu=tu("1.00005"))], rules=rules))
    assert (row["quantity"], row["line_amount_minor"]) == (quantity, amount)


@pytest.mark.parametrize(("mode", "unit", "amount", "tax", "base"), [
    ("half_up", D("1.2347"), 123, 25, 143),  # 10 x 0.123465 = 1.23465: a tie at 4 dp
    ("half_even", D("1.2346"), 123, 25, 143),
])
def test_a_converted_rate_is_rounded_to_four_decimals_with_the_mode(mode, unit, amount, tax, base):
    rules = LineRules("200", "OUTPUT2", D(20), rounding_mode=mode, base_currency="EUR")
    rate = FxRate("GBP", "USD", D("0.123465"), date(2026, 10, 30), "ecb", "t")
    usd_eur = FxRate("USD", "EUR", D("1.16"), date(2026, 10, 30), "ecb", "t2")

    def fx(_c, a, b):
        return {("GBP", "USD"): rate, ("USD", "EUR"): usd_eur}[(a, b)]

    [row] = records(draft([time_row(invoice_currency="USD", billed_tu=tu(1), rate="10")], rules=rules, fx=fx))
    assert (row["unit_amount"], row["line_amount_minor"], row["tax_amount_minor"]) == (unit, amount, tax)
    assert (row["fx_rate"], row["fx_rate_source"], row["fx_retrieved_at"]) == (D("0.123465"), "ecb", "t")
    assert row["billed_value"] == D("1.234650000000")
    # the base amount: 1.23 USD x 1.16 = 1.4268 EUR → 1.43
    assert (row["base_currency"], row["base_rate"], row["base_rate_date"], row["base_rate_source"],
            row["base_retrieved_at"], row["line_amount_base_minor"]) == ("EUR", D("1.16"), "2026-10-30", "ecb", "t2",
                                                                        base)


@pytest.mark.parametrize(("mode", "base"), [("half_up", 13), ("half_even", 12)])
def test_the_base_amount_rounds_with_the_mode(mode, base):
    rules = LineRules("200", "OUTPUT2", D(0), rounding_mode=mode, base_currency="GBP")
    half = FxRate("EUR", "GBP", D("0.5"), date(2026, 10, 30), "ecb", "t")
    [row] = records(draft([time_row(invoice_currency="EUR", currency="EUR", billed_tu=tu(1), rate="0.25")],
                          rules=rules, fx=lambda _c, a, b: identity(a, OCT_END) if a == b else half))
    assert (row["line_amount_minor"], row["line_amount_base_minor"]) == (25, base)


def test_a_line_in_days_bills_hours_over_the_day_length_at_the_day_rate():
    [row] = records(draft([time_row(unit="days", billed_tu=tu(12), hours_per_day="8", rate="100")]))
    assert (row["quantity"], row["unit"], row["unit_amount"], row["line_amount_minor"]) == (
        D("1.5000"), "days", D("800.0000"), 120000)
    assert row["billed_value"] == D("1200.000000000000")


def test_without_a_base_currency_the_base_is_the_invoice_currency_on_the_period_end_or_today():
    [row] = records(draft([time_row()]))
    assert (row["base_currency"], row["base_rate_date"]) == ("GBP", "2026-10-31")
    df = finalize_draft_lines(pd.DataFrame([time_row()]), "acme-uk", "2026-10", RULES)
    assert df.iloc[0]["base_rate_date"] == date.today().isoformat()


def test_without_rates_a_conversion_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match=r"^converting EUR to GBP needs stored FX rates: materialize fx_rates for the "
                                         r"partition$"):
        finalize_draft_lines(pd.DataFrame([time_row(currency="EUR")]), "acme-uk", "2026-10", RULES)
    df = finalize_draft_lines(pd.DataFrame([time_row()]), "acme-uk", "2026-10", RULES)
    assert (df.iloc[0]["fx_rate_date"], df.iloc[0]["fx_rate_source"]) == ("1970-01-01", "identity")


def test_a_retainer_overage_says_how_many_hours_the_retainer_covered():
    [row] = records(draft([time_row(retainer_tu=tu("10.5"))]))
    assert row["description"] == "Web — Dev (overage; 10.5 h covered by the retainer)"
    assert row["retainer_hours"] == D("10.500000")


def test_item_code_account_and_tracking_come_from_the_task_then_the_project_then_the_rules():
    proj = ProjectTerms("11", "1", item_code="P-ITEM", tracking_category="Region", tracking_option="EMEA",
                        account_code="210")
    bare = ProjectTerms("12", "1")
    task = TaskTerms("2", item_code="T-ITEM", account_code="220")
    empty_task = TaskTerms("3")
    rules = LineRules("200", "OUTPUT2", D(20), projects={"11": proj, "12": bare},
                      tasks={"2": task, "3": empty_task})
    rows = records(draft([time_row(), time_row(task_id="3"), time_row(project_id="12", task_id="3"),
                          time_row(project_id="13", task_id="9")], rules=rules))
    got = [(r["project_id"], r["task_id"], r["item_code"], r["account_code"], r["tracking_category"],
            r["tracking_option"]) for r in rows]
    assert got == [("11", "2", "T-ITEM", "220", "Region", "EMEA"), ("11", "3", "P-ITEM", "210", "Region", "EMEA"),
                   ("12", "3", None, "200", None, None), ("13", "9", None, "200", None, None)]


def test_lines_are_numbered_per_invoice_in_project_task_rate_order():
    rows = records(draft([time_row(client_id="2", client_name="Beta", project_id="21"),
                          time_row(project_id="12", task_id="1"), time_row(project_id="11", task_id="9", rate="90"),
                          time_row(project_id="11", task_id="9", rate="80")]))
    got = [(r["client_id"], r["project_id"], r["task_id"], r["source_rate"], r["line_no"]) for r in rows]
    by_key = sorted([("1", ids.invoice_key("acme-uk", "1", "2026-10")), ("2", ids.invoice_key("acme-uk", "2",
                                                                                               "2026-10"))],
                    key=lambda kv: kv[1])
    first, second = by_key[0][0], by_key[1][0]
    expected = {"1": [("1", "11", "9", D(80)), ("1", "11", "9", D(90)), ("1", "12", "1", D(100))],
                "2": [("2", "21", "2", D(100))]}
    want = [(*t, i + 1) for i, t in enumerate(expected[first])] + [(*t, i + 1) for i, t in enumerate(expected[second])]
    assert got == want


def test_grouping_and_revision_make_the_invoice_key():
    rules = LineRules("200", "OUTPUT2", D(20), grouping="project", revision=2)
    [row] = records(draft([time_row()], rules=rules))
    assert row["invoice_key"] == ids.invoice_key("acme-uk", "1", "2026-10", "project", 2)
    assert row["reference"] == "SP-acme-uk-2026-10-C1-R2"


def test_a_clients_own_tax_and_inclusive_amounts():
    rules = LineRules("200", "OUTPUT2", D(20), amounts="inclusive",
                      clients={"2": ClientTerms("2", TaxCodeRule("ECZROUTPUT", D(0)))})
    rows = records(draft([time_row(), time_row(client_id="2", client_name="Beta")], rules=rules))
    by_client = {r["client_id"]: r for r in rows}
    assert (by_client["1"]["tax_type"], by_client["1"]["tax_rate_percent"], by_client["1"]["tax_amount_minor"],
            by_client["1"]["line_amount_types"]) == ("OUTPUT2", D(20), 2500, "Inclusive")
    assert (by_client["2"]["tax_type"], by_client["2"]["tax_rate_percent"], by_client["2"]["tax_amount_minor"]) == (
        "ECZROUTPUT", D(0), 0)


def test_a_client_in_two_invoice_currencies_is_refused():
    with pytest.raises(ValueError, match=r"^client 1 has lines in GBP and EUR: one invoice currency per client$"):
        draft([time_row(), time_row(invoice_currency="EUR", currency="EUR", task_id="3")])
    with pytest.raises(ValueError, match=r"^client 1 has lines in GBP and EUR: one invoice currency per client$"):
        draft([time_row()], expenses=[expense_row(invoice_currency="EUR", currency="EUR")])


def test_inconsistent_line_keys_are_refused():
    with pytest.raises(ValueError, match=r"^invoice line grouping collided for client 1 project 11 task 2: two "
                                         r"different line keys hashed alike; re-run to regroup$"):
        draft([time_row(key_consistent=False)])
    assert len(draft([time_row(key_consistent=True)])) == 1


def test_nothing_to_bill_is_an_empty_frame_with_the_draft_columns():
    df = finalize_draft_lines(pd.DataFrame(columns=list(time_row())), "acme-uk", "2026-10", RULES)
    assert df.empty and list(df.columns) == DRAFT_COLUMNS


def test_an_unapproved_line_has_no_approver():
    [row] = records(draft([time_row(approved_by="", approved_at=None)]))
    assert (row["approved_by"], row["approved_at"]) == (None, None)


# -- expense lines ------------------------------------------------------------------------------------------------

def test_an_expense_line_is_one_item_of_the_marked_up_converted_amount():
    rules = LineRules("200", "OUTPUT2", D(20), expense_tax=TaxCodeRule("INPUT2", D(5)))
    [row] = records(draft([], rules=rules, expenses=[expense_row(currency="EUR", value="110.005", total_cost="100.005")]))
    # 110.005 EUR x 0.86 = 94.6043 GBP
    assert {k: row[k] for k in ("kind", "description", "quantity", "unit", "unit_amount", "line_amount_minor",
                                "account_code", "source_currency", "source_rate", "list_rate", "billable_percent",
                                "rate_source", "worked_hours", "billed_hours", "retainer_hours", "source_value",
                                "billed_value", "fx_rate", "fx_rate_source", "approved_by", "entry_count",
                                "source_entry_ids", "markup_percent", "tax_type", "tax_rate_percent",
                                "tax_amount_minor", "rounding_remainder", "task_id", "task_name", "item_code",
                                "tracking_category")} == {
        "kind": "expense", "description": "Web — expenses: Travel (incl. 10 % markup)", "quantity": D(1),
        "unit": "item", "unit_amount": D("94.6043"), "line_amount_minor": 9460, "account_code": "200",
        "source_currency": "EUR", "source_rate": D("110.005000"), "list_rate": D("100.005000"),
        "billable_percent": D(100), "rate_source": "expense_markup:project", "worked_hours": D(0),
        "billed_hours": D(0), "retainer_hours": D(0), "source_value": D("100.005"),
        "billed_value": D("94.604300000000"), "fx_rate": D("0.86"), "fx_rate_source": "ecb", "approved_by": None,
        "entry_count": 2, "source_entry_ids": "expense:x1,expense:x2", "markup_percent": D(10),
        "tax_type": "INPUT2", "tax_rate_percent": D(5), "tax_amount_minor": 473,
        "rounding_remainder": D("0.004300000000"), "task_id": None, "task_name": None, "item_code": None,
        "tracking_category": None,
    }


def test_expense_descriptions_accounts_and_order():
    proj = ProjectTerms("11", "1", account_code="210", tracking_category="Region", tracking_option="EMEA")
    rules = LineRules("200", "OUTPUT2", D(20), projects={"11": proj})
    rows = records(draft([time_row()], rules=rules, expenses=[
        expense_row(refund=True, value="-10", total_cost="-10", markup_percent="0", category=None),
        expense_row(project_name=None, category="", value="5", total_cost="5", markup_percent="0", project_id="12"),
        expense_row(),
    ]))
    got = [(r["kind"], r["description"], r["account_code"], r["tracking_category"], r["line_no"]) for r in rows]
    assert got == [
        ("time", "Web — Dev", "210", "Region", 1),
        ("expense", "Web — expenses: Travel (incl. 10 % markup)", "210", "Region", 2),
        ("expense", "Web — expense refunds: other", "210", "Region", 3),
        ("expense", "12 — expenses: other", "200", None, 4),
    ]
    with_account = LineRules("200", "OUTPUT2", D(20), projects={"11": proj}, expense_account_code="420")
    assert records(draft([], rules=with_account, expenses=[expense_row()]))[0]["account_code"] == "420"


def test_an_expense_without_a_project_name_is_described_by_its_project_id():
    # a missing project name reaches billing as pandas' NaN (DuckDB's NULL in a string column), not as None
    exp = pd.DataFrame([expense_row(project_name=None, project_id="12"), expense_row(project_id="13")])
    assert exp["project_name"].isna().tolist() == [True, False]
    df = finalize_draft_lines(pd.DataFrame(), "acme-uk", "2026-10", RULES, expense_lines=exp)
    assert sorted(df["description"]) == ["12 — expenses: Travel (incl. 10 % markup)",
                                         "Web — expenses: Travel (incl. 10 % markup)"]


def test_a_time_line_without_a_project_or_task_name_is_described_by_its_ids():
    # as for expenses: a missing name reaches billing as pandas' NaN, which is truthy and prints as 'nan'
    times = pd.DataFrame([time_row(project_name=None, project_id="12"), time_row(task_name=None, task_id="7"),
                          time_row(project_id="13")])
    assert times["project_name"].isna().tolist() == [True, False, False]
    df = finalize_draft_lines(times, "acme-uk", "2026-10", RULES)
    assert sorted(df["description"]) == ["12 — Dev", "Web — 7", "Web — Dev"]


def test_expenses_are_not_discounted_and_take_the_clients_tax_by_default():
    rules = LineRules("200", "OUTPUT2", D(20), clients={"1": ClientTerms("1", TaxCodeRule("OUTPUT", D(10)),
                                                                     discount_percent=D(10))})
    rows = records(draft([time_row()], rules=rules, expenses=[expense_row()]))
    assert [(r["kind"], r["line_amount_minor"], r["tax_type"], r["tax_amount_minor"]) for r in rows] == [
        ("time", 15000, "OUTPUT", 1500), ("expense", 11000, "OUTPUT", 1100), ("discount", -1500, "OUTPUT", -150)]


def test_an_expense_for_a_client_without_time_names_the_client_from_the_expense():
    [row] = records(draft([], expenses=[expense_row(client_id="5", client_name="Solo")]))
    assert (row["client_id"], row["client_name"], row["line_no"]) == ("5", "Solo", 1)


@pytest.mark.parametrize(("mode", "amount"), [("half_up", 13), ("half_even", 12)])
def test_an_expense_amount_rounds_with_the_mode(mode, amount):
    rules = LineRules("200", "OUTPUT2", D(0), rounding_mode=mode)
    [row] = records(draft([], rules=rules, expenses=[expense_row(value="0.125", total_cost="0.125",
                                                                 markup_percent="0")]))
    assert row["line_amount_minor"] == amount


# -- fees, retainers, discounts -----------------------------------------------------------------------------------

def test_milestones_due_in_the_period_and_the_monthly_retainer_are_fee_lines():
    fixed = ProjectTerms("30", "1", name="Launch", billing="fixed_fee", item_code="FIX", account_code="230",
                         tracking_category="Region", tracking_option="EMEA",
                         milestones=(("before", D(100), date(2026, 9, 30)), ("first day", D("1000.004"), OCT_START),
                                     ("last day", D("2000"), OCT_END), ("after", D(1), date(2026, 11, 1))))
    retainer = ProjectTerms("31", "1", billing="retainer", retainer_fee=D(500), retainer_hours=D("10.5"))
    rules = LineRules("200", "OUTPUT2", D(20), projects={"30": fixed, "31": retainer})
    rows = records(draft([time_row()], rules=rules))
    fees = [r for r in rows if r["kind"] != "time"]
    assert [(r["kind"], r["description"], r["unit_amount"], r["line_amount_minor"], r["account_code"],
             r["item_code"], r["tracking_category"], r["source_entry_ids"], r["line_no"]) for r in fees] == [
        ("fee", "Launch — milestone: first day", D("1000.0040"), 100000, "230", "FIX", "Region",
         "milestone:30:1", 2),
        ("fee", "Launch — milestone: last day", D("2000.0000"), 200000, "230", "FIX", "Region", "milestone:30:2", 3),
        ("retainer", "31 — monthly retainer (10.5 h)", D("500.0000"), 50000, "200", None, None, "retainer:31", 4),
    ]
    f = fees[0]
    assert (f["client_name"], f["currency"], f["quantity"], f["unit"], f["project_id"], f["project_name"],
            f["source_rate"], f["list_rate"], f["rate_source"], f["billed_value"], f["source_value"],
            f["rounding_remainder"], f["entry_count"], f["tax_amount_minor"], f["approved_by"]) == (
        "Acme", "GBP", D(1), "item", "30", "Launch", D("1000.0040"), D("1000.0040"), "fee", D("1000.0040"), D(0),
        D(0), 0, 20000, None)


def test_fee_lines_need_a_client_a_currency_and_dates():
    no_client = ProjectTerms("30", None, billing="retainer", retainer_fee=D(500))
    no_ccy = ProjectTerms("31", "7", billing="retainer", retainer_fee=D(500))
    own_ccy = ProjectTerms("32", "8", name="Care", billing="retainer", retainer_fee=D(500), currency="EUR")
    milestone = ProjectTerms("33", "1", billing="fixed_fee", milestones=(("m", D(100), OCT_START),))
    no_fee = ProjectTerms("34", "1", billing="retainer")
    rules = LineRules("200", "OUTPUT2", D(20), projects={p.project_id: p for p in (no_client, no_ccy, own_ccy,
                                                                                    milestone, no_fee)})
    rows = records(draft([time_row()], rules=rules))
    assert sorted((r["client_id"], r["client_name"], r["currency"], r["kind"], r["description"]) for r in rows
                  if r["kind"] != "time") == [("1", "Acme", "GBP", "fee", "33 — milestone: m"),
                                        ("8", "8", "EUR", "retainer", "Care — monthly retainer (0 h)")]
    no_dates = finalize_draft_lines(pd.DataFrame([time_row()]), "acme-uk", "2026-10", rules, fx=fx_table,
                                    period_start=None, period_end=OCT_END)
    assert "fee" not in set(no_dates["kind"])
    no_end = finalize_draft_lines(pd.DataFrame([time_row()]), "acme-uk", "2026-10", rules, fx=fx_table,
                                  period_start=OCT_START, period_end=None)
    assert "fee" not in set(no_end["kind"])


def test_a_discount_is_one_line_per_client_of_its_time_and_fee_lines():
    retainer = ProjectTerms("31", "2", billing="retainer", retainer_fee=D("100.10"))
    rules = LineRules("200", "OUTPUT2", D(20), discount_account_code="4900", projects={"31": retainer}, clients={
        "1": ClientTerms("1", VAT),  # sorted first, no discount: must not stop the others'
        "2": ClientTerms("2", VAT, discount_percent=D("12.5")),
        "3": ClientTerms("3", VAT, discount_percent=D(10)),
    })
    rows = records(draft([time_row(), time_row(client_id="2", client_name="Beta"),
                          time_row(client_id="3", client_name="Gamma", billed_tu=0, hours="0")], rules=rules))
    disc = [(r["client_id"], r["client_name"], r["description"], r["unit_amount"], r["line_amount_minor"],
             r["account_code"], r["source_entry_ids"], r["tax_amount_minor"]) for r in rows if r["kind"] == "discount"]
    # client 2: 12.5 % of (150.00 + 100.10) = 31.2625 → 31.26; client 3: 10 % of 0 → no line
    assert disc == [("2", "Beta", "Discount 12.5 %", D("-31.2600"), -3126, "4900", "discount:2", -625)]
    assert [r["kind"] for r in rows if r["client_id"] == "2"][-1] == "discount"  # after the time and fee lines


@pytest.mark.parametrize(("mode", "minor"), [("half_up", -1313), ("half_even", -1312)])
def test_a_discount_rounds_with_the_mode(mode, minor):
    rules = LineRules("200", "OUTPUT2", D(20), rounding_mode=mode,
                      clients={"1": ClientTerms("1", VAT, discount_percent=D("12.5"))})
    # 12.5 % of 105.00 = 13.125: a tie
    rows = records(draft([time_row(billed_tu=tu("1.05"))], rules=rules))
    assert [r["line_amount_minor"] for r in rows if r["kind"] == "discount"] == [minor]
    assert [r["account_code"] for r in rows if r["kind"] == "discount"] == ["200"]


# -- tax per invoice ----------------------------------------------------------------------------------------------

def _tax_rows(*lines):
    return [{"invoice_key": k, "currency": "GBP", "tax_rate_percent": pct, "line_amount_minor": m,
             "tax_amount_minor": t, "_sort": i} for i, (k, pct, m, t) in enumerate(lines)]


def test_invoice_tax_moves_the_rounding_difference_onto_the_lines_that_rounded_furthest():
    # three lines of 0.05 at 10 %: exact tax 0.005 each, rounded 0.01 each = 0.03; the invoice's is 0.015 → 0.02
    rows = _tax_rows(("a", D(10), 5, 1), ("a", D(10), 5, 1), ("a", D(10), 5, 1))
    allocate_invoice_tax(rows, "exclusive")
    assert [r["tax_amount_minor"] for r in rows] == [0, 1, 1]  # ties: the first line moves
    up = _tax_rows(("a", D(10), 4, 0), ("a", D(10), 4, 0), ("a", D(10), 7, 1))  # 0.4+0.4+0.7 = 1.5 → 2
    allocate_invoice_tax(up, "exclusive")
    assert [r["tax_amount_minor"] for r in up] == [1, 0, 1]


@pytest.mark.parametrize(("mode", "taxes"), [("half_up", [1, 0]), ("half_even", [0, 0])])
def test_invoice_tax_rounds_a_tie_with_the_mode(mode, taxes):
    rows = _tax_rows(("a", D(10), 4, 0), ("a", D(10), 1, 0))  # 0.4 + 0.1 = 0.5 minor: a tie
    allocate_invoice_tax(rows, "exclusive", mode)
    assert [r["tax_amount_minor"] for r in rows] == taxes


def test_invoice_tax_is_per_invoice_and_per_rate():
    rows = _tax_rows(("a", D(10), 5, 1), ("a", D(20), 5, 1), ("b", D(10), 5, 1), ("a", D(10), 5, 1))
    allocate_invoice_tax(rows, "exclusive")
    # a @10 %: 0.5 + 0.5 = 1 → one line gives one back; a @20 %: 1 exactly; b @10 %: 0.5 → 1
    assert [r["tax_amount_minor"] for r in rows] == [0, 1, 1, 1]
    incl = _tax_rows(("a", D(5), 105, 5), ("a", D(5), 105, 5))
    allocate_invoice_tax(incl, "inclusive")
    assert [r["tax_amount_minor"] for r in incl] == [5, 5]


def test_finalize_with_invoice_level_tax_spreads_the_invoice_tax_over_the_lines():
    rules = LineRules("200", "OUTPUT2", D(10), tax_rounding="invoice")
    # three lines of 0.05 → line taxes 0.01 each, the invoice's 0.015 → 0.02
    rows = records(draft([time_row(task_id=str(t), billed_tu=tu("0.0005"), rate="100") for t in (1, 2, 3)],
                         rules=rules))
    assert [r["tax_amount_minor"] for r in rows] == [0, 1, 1]
    line_rules = LineRules("200", "OUTPUT2", D(10))
    assert [r["tax_amount_minor"] for r in records(draft([time_row(task_id=str(t), billed_tu=tu("0.0005"))
                                                          for t in (1, 2, 3)], rules=line_rules))] == [1, 1, 1]


def _lines_frame(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"invoice_key": k, "currency": c, "tax_rate_percent": p, "line_amount_minor": m}
                         for k, c, p, m in rows])


def test_invoice_level_tax_adds_up_every_rate():
    lines = _lines_frame(("a", "GBP", D(20), 10000), ("a", "GBP", D(5), 10000), ("a", "GBP", D(20), 5000),
                         ("b", "JPY", D(10), 105))
    assert invoice_level_tax(lines) == {"a": 3000 + 500, "b": 11}  # JPY 10.5 → 11
    assert invoice_level_tax(lines, "inclusive") == {"a": 2500 + 476, "b": 10}  # 105 x 10 / 110 = 9.545 → 10


@pytest.mark.parametrize(("mode", "tax"), [("half_up", 3), ("half_even", 2)])
def test_invoice_level_tax_rounds_a_tie_with_the_mode(mode, tax):
    assert invoice_level_tax(_lines_frame(("a", "JPY", D(10), 25)), mode=mode) == {"a": tax}


# -- invoice headers ----------------------------------------------------------------------------------------------

def test_invoice_headers_sum_lines_and_tax_per_invoice():
    df = draft([time_row(), time_row(task_id="3", billed_tu=tu("0.5")), time_row(client_id="2", client_name="Beta")])
    heads = {h["client_id"]: h for h in invoice_headers(df)}
    h = heads["1"]
    assert {k: h[k] for k in ("reference", "client_name", "currency", "line_amount_types", "subtotal_minor",
                              "total_tax_minor", "total_minor")} == {
        "reference": "SP-acme-uk-2026-10-C1-R1", "client_name": "Acme", "currency": "GBP",
        "line_amount_types": "Exclusive", "subtotal_minor": 20000, "total_tax_minor": 4000, "total_minor": 24000}
    assert h["invoice_key"] == ids.invoice_key("acme-uk", "1", "2026-10")
    first, second = h["lines"]
    assert first == {"line_no": 1, "description": "Web — Dev", "quantity": D("1.5000"), "unit_amount": D("100.0000"),
                     "line_amount": D("150.00"), "account_code": "200", "tax_type": "OUTPUT2",
                     "tax_amount": D("30.00"), "item_code": None, "tracking_category": None, "tracking_option": None,
                     "rate_source": "project", "approved_by": "ann", "approved_at": "2026-10-31T12:00:00+00:00",
                     "source_entry_ids": "e1,e2"}
    assert second["line_no"] == 2 and second["line_amount"] == D("50.00")
    assert invoice_headers(df.iloc[0:0]) == []


def test_inclusive_headers_take_the_tax_out_of_the_total():
    rules = LineRules("200", "OUTPUT2", D(20), amounts="inclusive")
    [h] = invoice_headers(draft([time_row(billed_tu=tu("1.2"))], rules=rules))
    assert (h["line_amount_types"], h["subtotal_minor"], h["total_tax_minor"], h["total_minor"]) == (
        "Inclusive", 10000, 2000, 12000)


def test_headers_with_invoice_rounding_use_the_invoice_tax():
    df = draft([time_row(task_id=str(t), billed_tu=tu("0.0005")) for t in (1, 2, 3)],
               rules=LineRules("200", "OUTPUT2", D(10)))
    assert [h["total_tax_minor"] for h in invoice_headers(df)] == [3]
    assert [h["total_tax_minor"] for h in invoice_headers(df, tax_rounding="invoice")] == [2]
    incl = draft([time_row(task_id=str(t), billed_tu=tu("0.0011")) for t in (1, 2)],
                 rules=LineRules("200", "OUTPUT2", D(10), amounts="inclusive"))
    # two lines of 0.11 incl. 10 %: 0.01 each by line; 0.22 x 10 / 110 = 0.02 by invoice, inclusive
    assert [h["total_tax_minor"] for h in invoice_headers(incl, tax_rounding="invoice")] == [2]
    bare = df.drop(columns=["tax_amount_minor", "line_amount_types"])
    assert [(h["total_tax_minor"], h["line_amount_types"]) for h in invoice_headers(bare)] == [(0, "Exclusive")]


def test_inclusive_invoice_tax_is_the_tax_inside_the_summed_amounts():
    # 0.01 + 0.02 incl. 20 %: the lines' taxes (0.0017, 0.0033) round to 0; the invoice's 0.03 x 20 / 120 = 0.005 → 1
    rows = _tax_rows(("a", D(20), 1, 0), ("a", D(20), 2, 0))
    allocate_invoice_tax(rows, "inclusive")
    assert [r["tax_amount_minor"] for r in rows] == [0, 1]  # onto the line whose rounding went furthest down
    # 0.02 + 0.08 incl. 20 %: exact 0.333 and 1.333 minor, rounded 0 and 1; the invoice's 1.667 → 2: a tie → first
    rows = _tax_rows(("a", D(20), 2, 0), ("a", D(20), 8, 1))
    allocate_invoice_tax(rows, "inclusive")
    assert [r["tax_amount_minor"] for r in rows] == [1, 1]


def test_invoice_tax_moves_onto_the_furthest_line_wherever_it_is():
    rows = _tax_rows(("a", D(10), 1, 0), ("a", D(10), 4, 0))  # 0.1 + 0.4 = 0.5 → 1: the second line is furthest
    allocate_invoice_tax(rows, "exclusive")
    assert [r["tax_amount_minor"] for r in rows] == [0, 1]


def test_an_invoice_whose_tax_adds_up_does_not_stop_the_next_one():
    rows = _tax_rows(("a", D(10), 10, 1), ("b", D(10), 5, 1), ("b", D(10), 5, 1))
    allocate_invoice_tax(rows, "exclusive")
    assert [r["tax_amount_minor"] for r in rows] == [1, 0, 1]


def test_whole_retainer_hours_are_written_without_an_exponent():
    retainer = ProjectTerms("31", "1", billing="retainer", retainer_fee=D(500), retainer_hours=D(10))
    rules = LineRules("200", "OUTPUT2", D(20), projects={"31": retainer})
    rows = records(draft([time_row(retainer_tu=tu(10))], rules=rules))
    assert [r["description"] for r in rows] == ["Web — Dev (overage; 10 h covered by the retainer)",
                                                "31 — monthly retainer (10 h)"]


@pytest.mark.parametrize(("mode", "unit"), [("half_up", D("1.0001")), ("half_even", D("1.0000"))])
def test_an_expense_unit_amount_rounds_to_four_decimals_with_the_mode(mode, unit):
    rules = LineRules("200", "OUTPUT2", D(0), rounding_mode=mode)
    [row] = records(draft([], rules=rules, expenses=[expense_row(value="1.00005", markup_percent="0")]))
    assert row["unit_amount"] == unit


def test_expense_lines_keep_their_project_and_tracking_and_refunds_follow_charges():
    proj = ProjectTerms("11", "1", tracking_category="Region", tracking_option="EMEA")
    rules = LineRules("200", "OUTPUT2", D(20), projects={"11": proj})
    rows = records(draft([], rules=rules, expenses=[
        expense_row(refund=True, value="-5", total_cost="-5", markup_percent="0"),
        expense_row(value="5", total_cost="5", markup_percent="5"),
    ]))
    assert [(r["project_id"], r["tracking_category"], r["tracking_option"], r["description"]) for r in rows] == [
        ("11", "Region", "EMEA", "Web — expenses: Travel (incl. 5 % markup)"),
        ("11", "Region", "EMEA", "Web — expense refunds: Travel"),
    ]


def test_inclusive_headers_with_invoice_rounding_take_the_tax_inside_not_on_top():
    df = draft([time_row(billed_tu=tu("1.2"), rate="1")], rules=LineRules("200", "OUTPUT2", D(20),
                                                                             amounts="inclusive"))
    [h] = invoice_headers(df, tax_rounding="invoice")
    assert (h["total_tax_minor"], h["subtotal_minor"], h["total_minor"]) == (20, 100, 120)  # not 24 on top
    [e] = invoice_headers(draft([time_row(billed_tu=tu("1.2"), rate="1")]), tax_rounding="invoice")
    assert (e["total_tax_minor"], e["total_minor"]) == (24, 144)


def test_headers_come_in_invoice_key_order_whatever_the_lines_order():
    df = draft([time_row(), time_row(client_id="2", client_name="Beta"), time_row(client_id="3", client_name="C")])
    keys = sorted(df["invoice_key"].unique())
    assert [h["invoice_key"] for h in invoice_headers(df.iloc[::-1])] == keys
    assert [h["invoice_key"] for h in invoice_headers(df.iloc[::-1], tax_rounding="invoice")] == keys


def test_headers_of_lines_without_the_optional_columns():
    df = draft([time_row()]).drop(columns=["approved_at", "approved_by", "item_code", "tracking_category",
                                           "tracking_option", "rate_source", "tax_amount_minor"])
    [h] = invoice_headers(df)
    [li] = h["lines"]
    assert (li["approved_at"], li["approved_by"], li["item_code"], li["tracking_category"], li["tracking_option"],
            li["rate_source"], li["tax_amount"], h["total_tax_minor"]) == (None, None, None, None, None, None,
                                                                            D("0.00"), 0)


def test_fee_lines_carry_the_identity_rate_of_no_date():
    retainer = ProjectTerms("31", "1", billing="retainer", retainer_fee=D(500))
    [_, fee] = records(draft([time_row()], rules=LineRules("200", "OUTPUT2", D(20), projects={"31": retainer})))
    assert (fee["fx_rate"], fee["fx_rate_date"], fee["fx_rate_source"], fee["fx_retrieved_at"]) == (
        D(1), "1970-01-01", "identity", "")


def test_a_fee_line_carries_every_field():
    fixed = ProjectTerms("30", "1", name="Launch", billing="fixed_fee", item_code="FIX", account_code="230",
                         tracking_category="Region", tracking_option="EMEA",
                         milestones=(("go-live", D("1000.004"), OCT_START),))
    rules = LineRules("200", "OUTPUT2", D(0), projects={"30": fixed})
    [row] = [r for r in records(draft([time_row()], rules=rules)) if r["kind"] == "fee"]
    key = ids.invoice_key("acme-uk", "1", "2026-10")
    assert row == {
        "entity": "acme-uk", "period": "2026-10", "invoice_key": key, "reference": "SP-acme-uk-2026-10-C1-R1",
        "client_id": "1", "client_name": "Acme", "currency": "GBP", "line_no": 2, "kind": "fee", "project_id": "30",
        "project_name": "Launch", "task_id": None, "task_name": None, "description": "Launch — milestone: go-live",
        "item_code": "FIX", "tracking_category": "Region", "tracking_option": "EMEA", "quantity": D(1),
        "unit": "item", "unit_amount": D("1000.0040"), "line_amount_minor": 100000, "account_code": "230",
        "tax_type": "OUTPUT2", "tax_rate_percent": D(0), "tax_amount_minor": 0, "line_amount_types": "Exclusive",
        "source_currency": "GBP", "source_rate": D("1000.0040"), "list_rate": D("1000.0040"),
        "billable_percent": D(100), "rate_source": "fee", "worked_hours": D(0), "billed_hours": D(0),
        "retainer_hours": D(0), "source_value": D(0), "billed_value": D("1000.0040"), "rounding_remainder": D(0),
        "fx_rate": D(1), "fx_rate_date": "1970-01-01", "fx_rate_source": "identity", "fx_retrieved_at": "",
        "base_currency": "GBP", "base_rate": D(1), "base_rate_date": "2026-10-31", "base_rate_source": "identity",
        "base_retrieved_at": "", "line_amount_base_minor": 100000, "approved_by": None, "approved_at": None,
        "entry_count": 0, "source_entry_ids": "milestone:30:0", "markup_percent": None,
    }


def test_header_lines_carry_the_mapping_fields_and_a_zero_tax():
    proj = ProjectTerms("11", "1", item_code="DEV", tracking_category="Region", tracking_option="EMEA")
    df = draft([time_row()], rules=LineRules("200", "NONE", D(0), projects={"11": proj}))
    [li] = invoice_headers(df)[0]["lines"]
    assert (li["item_code"], li["tracking_category"], li["tracking_option"], li["rate_source"], li["approved_by"],
            li["tax_amount"]) == ("DEV", "Region", "EMEA", "project", "ann", D("0.00"))
