"""Golden dataset for expenses: hand-written raw expenses, expected invoice lines computed by hand in the comments.

Expenses run raw → clean (every expense in one disposition, with the reason) → expense billables (markup
applied, exact) → expense lines on the same invoice drafts as the time lines; each output validated by its
pandera contract and the conservation law (time and expenses) asserted inside ``bill``. Entity acme-uk,
base GBP, October 2026, 20 % VAT (OUTPUT2) per line, amounts exclusive, line amount rounded once, half-up.
"""

from decimal import Decimal as D

from sync_pipeline_tests.billing.helpers import bill, ecb, entity, entry, expense


def test_expenses_with_markup_precedence_refunds_tax_and_every_disposition():
    ent = entity(
        clients=[{"source_id": "1", "name": "Acme Corp"}, {"source_id": "6", "name": "Globex GmbH"}],
        projects=[{"source_id": "11", "client": "1", "name": "Website", "tracking_category": "Project",
                   "tracking_option": "WEB"},
                  {"source_id": "12", "client": "1", "name": "Support", "expense_markup_percent": "15"},
                  {"source_id": "21", "client": "6", "name": "Data Platform"},
                  {"source_id": "31", "client": "1", "name": "Internal", "billing": "non_billable"}],
        expenses={"markup_percent": "10", "account_code": "260"})
    rates = ecb([("GBP", "2026-10-30", "0.8338")])
    b = bill([entry(1, project="11", hours="2", rate="100")], ent, rates=rates, expenses=[
        expense("e01", project="11", category="Travel", cost="123.45"),  # entity markup 10 %
        expense("e02", project="11", category="Travel", cost="10.10"),
        expense("e03", project="11", category="Travel", cost="-20.00"),  # a refund: its own negative line
        expense("e04", project="12", category="Hotel", cost="200.00", markup="5"),  # the project's 15 % wins
        expense("e05", project="11", category="Meals", cost="33.33", markup="7.5"),  # the source's 7.5 %
        expense("e06", project="11", category="Travel", cost="50.00", approved=False),
        expense("e07", project="11", category="Travel", cost="40.00", billable=False),
        expense("e08", project="11", category="Travel", cost="0"),
        expense("e09", project="31", category="Travel", cost="12.00"),
        expense("e10", project="11", category="Travel", cost="9.00", date="2026-09-30"),
        expense("e11", project="99", category="Travel", cost="9.00"),
        expense("e13", project="11", category="Travel", cost="70.00", billed_elsewhere="Harvest invoice H-00042"),
        expense("e12", project="21", client="6", client_name="Globex GmbH", currency="EUR", category="Software",
                cost="100.00"),
    ])
    assert {i: b.expense_disposition(i) for i in ["e06", "e07", "e08", "e09", "e10", "e11", "e13"]} == {
        "e06": ("held", "awaiting approval (submitted in the project system)"),
        "e07": ("non_billable", "marked non-billable in the project system"),
        "e08": ("quarantined", "zero or missing amount 0.000000"),
        "e09": ("non_billable", "non-billable project (mapping: projects.billing)"),
        "e10": ("quarantined", "date 2026-09-30 outside billing period 2026-10"),
        "e11": ("quarantined", "unknown project 99: add it to the mapping's projects"),
        "e13": ("non_billable", "already invoiced in the project system: Harvest invoice H-00042"),
    }
    # Acme Corp, GBP: the time line, then the expense lines by project, category, refunds last:
    #   Website — Task 1: 2 h x 100 = 200.00
    #   Website expenses: Meals   33.33 + 7.5 %            = 35.829750 → unit 35.8298 → 35.83
    #   Website expenses: Travel  (123.45 + 10.10) + 10 %  = 146.905   → 146.91 (half-up)
    #   Website refunds:  Travel  -20.00 + 10 %            = -22.00
    #   Support expenses: Hotel   200.00 + 15 %            = 230.00
    assert b.lines("1") == [(D("2.0000"), D("100.0000"), D("200.00")), (D("1"), D("35.8298"), D("35.83")),
                            (D("1"), D("146.9050"), D("146.91")), (D("1"), D("-22.0000"), D("-22.00")),
                            (D("1"), D("230.0000"), D("230.00"))]
    exp = b.drafts[b.drafts["kind"] == "expense"]
    assert list(exp["description"]) == ["Website — expenses: Meals (incl. 7.5 % markup)",
                                        "Website — expenses: Travel (incl. 10 % markup)",
                                        "Website — expense refunds: Travel (incl. 10 % markup)",
                                        "Support — expenses: Hotel (incl. 15 % markup)",
                                        "Data Platform — expenses: Software (incl. 10 % markup)"]
    assert list(exp["source_entry_ids"]) == ["expense:e05", "expense:e01,expense:e02", "expense:e03", "expense:e04",
                                             "expense:e12"]
    assert list(exp["rate_source"]) == ["expense_markup:source_system", "expense_markup:entity",
                                        "expense_markup:entity", "expense_markup:project:12", "expense_markup:entity"]
    assert set(exp["account_code"]) == {"260"} and list(exp["tracking_option"])[:3] == ["WEB"] * 3
    # VAT per line: 40.00 + 7.17 (7.166) + 29.38 (29.382) - 4.40 + 46.00 = 118.15
    # subtotal 200 + 35.83 + 146.91 - 22 + 230 = 590.74; total 708.89
    inv = b.invoices()["1"]
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (59074, 11815, 70889)
    # Globex GmbH, EUR (its expense's currency): 100.00 + 10 % = 110.00, VAT 22.00; in base GBP at the ECB
    # rate of 30 Oct (0.8338): 91.718 → 91.72
    eur = b.drafts[b.drafts["client_id"] == "6"].iloc[0]
    assert (eur["currency"], int(eur["line_amount_minor"]), int(eur["tax_amount_minor"]),
            int(eur["line_amount_base_minor"])) == ("EUR", 11000, 2200, 9172)
    # conservation: GBP billable expenses 123.45 + 10.10 - 20.00 + 200.00 + 33.33 = 346.88 before markup, 50.00
    # held; drafted 35.83 + 146.91 - 22.00 + 230.00 = 390.74 against the exact 35.82975 + 146.905 - 22 + 230
    # = 390.73475, remainder -0.00525
    gbp = b.conservation.per_currency["GBP"]
    assert (D(gbp["expense_source_billable"]), D(gbp["expense_held"])) == (D("346.88"), D("50.00"))
    assert (D(gbp["drafted_expenses"]), D(gbp["expense_billed_value"]), D(gbp["expense_rounding_remainder"])) == (
        D("390.74"), D("390.73475"), D("-0.00525"))
    assert D(gbp["drafted_total"]) == D("590.74")
    assert b.conservation.counts["expense_billable"] == 6 and b.conservation.counts["expense_quarantined"] == 3


def test_expense_tax_jurisdiction_and_no_discount_on_expenses():
    # a client with a 10 % discount; expenses taxed under their own code (zero-rated disbursements)
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp", "discount_percent": "10"}],
                 tax={"codes": {"GB": {"tax_type": "OUTPUT2", "rate_percent": "20"},
                                "DISB": {"tax_type": "ZERORATEDOUTPUT", "rate_percent": "0"}},
                      "default_jurisdiction": "GB"},
                 expenses={"tax_jurisdiction": "DISB", "use_source_markup": False})
    b = bill([entry(1, hours="1", rate="100")],
             ent, expenses=[expense("x1", category="Courier", cost="12.34", markup="50")])
    # time 100.00 (VAT 20.00); courier 12.34 at cost (source markup ignored, entity markup 0), VAT 0;
    # the discount is 10 % of the time only: -10.00 (VAT -2.00). Subtotal 102.34, tax 18.00, total 120.34
    assert b.lines("1") == [(D("1.0000"), D("100.0000"), D("100.00")), (D("1"), D("12.3400"), D("12.34")),
                            (D("1"), D("-10.0000"), D("-10.00"))]
    assert list(b.drafts["tax_type"]) == ["OUTPUT2", "ZERORATEDOUTPUT", "OUTPUT2"]
    inv = b.invoices()["1"]
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (10234, 1800, 12034)


def test_conservation_catches_an_expense_left_off_or_billed_twice():
    from sync_pipeline.domain.billing import check_conservation

    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp"}])
    b = bill([entry(1)], ent, expenses=[expense("a", cost="10.00"), expense("b", category="Meals", cost="5.00")])

    def problems(drafts, raw_expenses=2):
        return check_conservation(1, b.clean, b.billables, drafts, raw_expense_count=raw_expenses,
                                  clean_expenses=b.clean_expenses, expense_billables=b.expense_billables).problems

    assert problems(b.drafts) == []
    meals = b.drafts["description"].str.contains("Meals")
    assert problems(b.drafts[~meals]) == [
        "billable expenses not on a line: ['b']; expense lines citing non-billable expenses: []",
        "GBP: expense lines carry 10.000000000000 of expenses but billable expenses total 15.000000"]
    twice = b.drafts.copy()
    twice.loc[meals, "source_entry_ids"] = "expense:a,expense:b"
    assert "an expense appears on more than one invoice line" in problems(twice)
    assert problems(b.drafts, raw_expenses=3) == ["3 raw expenses but 2 classified expenses"]


def test_an_expense_of_a_million_bills_exactly_instead_of_stopping_the_partition():
    # DuckDB kept total_cost (DECIMAL(18, 6)) x (100 + markup) at width 18: 1,000,000.00 overflowed
    b = bill([entry(1)], entity(expenses={"markup_percent": "12.5"}),
             expenses=[expense("big", cost="1000000.00"), expense("small", cost="10.00")])
    values = dict(zip(b.expense_billables["expense_id"], b.expense_billables["value"], strict=True))
    assert D(str(values["big"])) == D("1125000") and D(str(values["small"])) == D("11.25")
