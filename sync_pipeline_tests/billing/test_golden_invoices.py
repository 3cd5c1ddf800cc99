"""Golden datasets: hand-written entries, expected invoices computed by hand in the comments.

Every dataset runs the three billing steps (SQL models + line finalization) with each output validated by its
pandera contract, and the conservation law must hold (asserted inside ``bill``). Unless a test says otherwise:
entity acme-uk, Europe/London, base GBP, period October 2026, invoice date 2026-10-31, tax 20 % (OUTPUT2)
rounded per line, amounts exclusive, line amount = round(quantity x unit amount) half-up.
"""

from datetime import date
from decimal import Decimal as D

from sync_pipeline_tests.billing.helpers import bill, ecb, entity, entry

CLIENT_1 = {"source_id": "1", "name": "Acme Corp"}


def test_rounding_edges_three_times_twenty_minutes_at_a_rate_that_does_not_divide():
    # Project-level time rules; every entry 0.333333 h (20 min as the source stores it) at 100.00/h.
    ent = entity(clients=[CLIENT_1], projects=[
        {"source_id": "50", "client": "1", "name": "Exact"},  # no time rounding
        {"source_id": "51", "client": "1", "name": "Minute", "rounding": {"increment_minutes": 1, "scope": "entry"}},
        {"source_id": "52", "client": "1", "name": "SixUp",
         "rounding": {"increment_minutes": 6, "mode": "up", "scope": "entry"}},
        {"source_id": "53", "client": "1", "name": "QuarterLine",
         "rounding": {"increment_minutes": 15, "mode": "up", "scope": "line"}},
        {"source_id": "54", "client": "1", "name": "Third", "rounding": {"increment_minutes": 1, "scope": "entry"}},
        {"source_id": "55", "client": "1", "name": "HalfDay",
         "rounding": {"increment_minutes": 30, "mode": "up", "scope": "day"}},
        {"source_id": "56", "client": "1", "name": "Minimum", "rounding": {"minimum_minutes": 15}},
    ])
    third = "0.333333"
    rows = [entry(i, project=p, hours=third) for i, p in enumerate(["50"] * 3 + ["51"] * 3 + ["52"] * 3 + ["53"] * 3)]
    rows += [entry(20, project="54", hours=third),
             entry(21, project="55", hours="0.166667", date="2026-10-05"),
             entry(22, project="55", hours="0.166667", date="2026-10-05"),
             entry(23, project="55", hours="0.666667", date="2026-10-06"),
             entry(24, project="56", hours="0.05")]
    b = bill(rows, ent)
    assert b.lines("1") == [
        # 50 exact: 3 x 0.333333 = 0.999999 h → quantity 1.0000 (4 dp) → 100.00 (billed value 99.9999)
        (D("1.0000"), D("100.0000"), D("100.00")),
        # 51 per entry to the nearest minute: 19.99998 min → 20 min, x3 = 60 min → 1 h → 100.00 (exact)
        (D("1.0000"), D("100.0000"), D("100.00")),
        # 52 per entry up to 6 min: 20 → 24 min, x3 = 72 min = 1.2 h → 120.00
        (D("1.2000"), D("100.0000"), D("120.00")),
        # 53 per line up to 15 min: 59.99994 min → 60 min → 100.00
        (D("1.0000"), D("100.0000"), D("100.00")),
        # 54 one 20-min entry: 1/3 h → quantity 0.3333 → 0.3333 x 100 = 33.33 (billed value 33.333333333333)
        (D("0.3333"), D("100.0000"), D("33.33")),
        # 55 per person-day up to 30 min: 5 Oct 10 + 10 min → 30 min; 6 Oct 40 min → 60 min; 1.5 h → 150.00
        (D("1.5000"), D("100.0000"), D("150.00")),
        # 56 minimum 15 min per entry: 3 min → 15 min = 0.25 h → 25.00
        (D("0.2500"), D("100.0000"), D("25.00")),
    ]
    inv = b.invoices()["1"]
    # tax per line: 20 + 20 + 24 + 20 + 6.67 (33.33 x 0.2 = 6.666) + 30 + 5 = 125.67
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (62833, 12567, 75400)
    gbp = b.conservation.per_currency["GBP"]
    # source = 4 x 99.9999 + 33.3333 + 100.0001 + 5.00 = 538.3330; billed = 99.9999 + 100 + 120 + 100
    # + 33.333333333333 + 150 + 25 = 628.333233333333; remainder = billed - 628.33 = -0.0001 + 0.003333333333
    assert D(gbp["source_billable"]) == D("538.3330")
    assert D(gbp["billed_value"]) == D("628.333233333333")
    assert D(gbp["rounding_remainder"]) == D("0.003233333333")
    # per-entry money rounding would have said 3 x 33.33 = 99.99: we round money once per line instead
    assert D(gbp["drafted_time"]) == D("628.33")


def test_multi_currency_spot_contract_and_yen_without_minor_unit():
    # ECB reference rates of Friday 30 Oct 2026 (the last publication on or before the invoice date 31 Oct)
    rates = ecb([("GBP", "2026-10-30", "0.8338"), ("USD", "2026-10-30", "1.1172"), ("JPY", "2026-10-30", "175.68")])
    ent = entity(
        clients=[{"source_id": "5", "name": "Initech US", "currency": "GBP"},  # USD rates, invoiced in GBP (spot)
                 {"source_id": "6", "name": "Globex GmbH"},  # EUR invoice
                 {"source_id": "7", "name": "Contract Co", "currency": "GBP",
                  "fx": {"policy": "contract", "contract_rate": "0.75", "contract_base": "USD",
                         "agreed_on": "2026-01-01"}},
                 {"source_id": "8", "name": "Nippon KK"}],  # JPY invoice
        projects=[{"source_id": p, "client": c} for p, c in [("61", "5"), ("62", "6"), ("63", "7"), ("64", "8")]])
    b = bill([entry(501, client="5", currency="USD", project="61", hours="10", rate="150"),
              entry(601, client="6", currency="EUR", project="62", hours="4", rate="110"),
              entry(701, client="7", currency="USD", project="63", hours="8", rate="100"),
              entry(801, client="8", currency="JPY", project="64", hours="0.1", rate="12345")], ent, rates=rates)
    inv = b.invoices()
    # USD→GBP = 0.8338 / 1.1172 = 0.74633011099... → 0.7463301110; unit 150 x that = 111.94951665 → 111.9495;
    # 10.0000 x 111.9495 = 1119.495 → 1119.50 GBP (billed value 1119.4951665, remainder -0.0048335); VAT 223.90
    assert inv["5"]["currency"] == "GBP"
    assert b.lines("5") == [(D("10.0000"), D("111.9495"), D("1119.50"))]
    assert inv["5"]["total_tax_minor"] == 22390
    # EUR stays EUR: 4 x 110 = 440.00, VAT 88.00; in base GBP 440.00 x 0.8338 = 366.872 → 366.87
    assert inv["6"]["currency"] == "EUR" and b.lines("6") == [(D("4.0000"), D("110.0000"), D("440.00"))]
    # contract rate 1 USD = 0.75 GBP: unit 75.0000, 8 h → 600.00 GBP, VAT 120.00
    assert b.lines("7") == [(D("8.0000"), D("75.0000"), D("600.00"))]
    # JPY has no minor unit: 0.1 h x ¥12345 = ¥1234.5 → ¥1235 (half up); VAT ¥247 (1235 x 0.2 = 247)
    assert inv["8"]["currency"] == "JPY" and b.lines("8") == [(D("0.1000"), D("12345.0000"), D("1235"))]
    assert (inv["8"]["subtotal_minor"], inv["8"]["total_tax_minor"], inv["8"]["total_minor"]) == (1235, 247, 1482)

    d = b.drafts.set_index("client_id")
    # every converted amount carries its rate, rate date, source and retrieval time
    assert (d.loc["5", "fx_rate"], d.loc["5", "fx_rate_date"], d.loc["5", "fx_rate_source"],
            d.loc["5", "fx_retrieved_at"]) == (D("0.7463301110"), "2026-10-30", "ecb-test", "2026-11-02T09:00:00+00:00")
    assert (d.loc["7", "fx_rate"], d.loc["7", "fx_rate_date"], d.loc["7", "fx_rate_source"]) == (
        D("0.75"), "2026-01-01", "contract:7")
    assert (d.loc["6", "base_rate"], d.loc["6", "line_amount_base_minor"]) == (D("0.8338"), 36687)
    # ¥1235 in GBP: JPY→GBP = 0.8338 / 175.68 = 0.0047461293 (10 dp); 1235 x that = 5.8614696855 → 5.86
    assert (d.loc["8", "base_rate"], d.loc["8", "line_amount_base_minor"]) == (D("0.0047461293"), 586)
    per = b.conservation.per_currency
    assert D(per["GBP"]["rounding_remainder"]) == D("-0.004833500000")  # 1119.4951665 - 1119.50 (+0 for 600.00)
    assert D(per["USD"]["source_billable"]) == D("2300")  # 10 x 150 + 8 x 100, carried whole by the lines


def test_time_zones_local_date_of_the_entity_across_dst():
    # London: BST (UTC+1) until 01:00 UTC on Sun 25 Oct 2026, GMT after.
    ent = entity()
    b = bill([
        # 30 Sep 23:30 UTC is 1 Oct 00:30 BST → October, whatever the source's spent_date says
        entry(901, date="2026-09-30", started_at="2026-09-30T23:30:00Z"),
        # 31 Oct 23:30 UTC is 31 Oct 23:30 GMT (after the change) → October although spent_date says 1 Nov
        entry(902, date="2026-11-01", started_at="2026-10-31T23:30:00Z"),
        # 31 Oct 23:30 at UTC-1 is 1 Nov 00:30 GMT → November: outside this period
        entry(903, date="2026-10-31", started_at="2026-10-31T23:30:00-01:00"),
        # the repeated hour of 25 Oct: 00:30 UTC = 01:30 BST and 01:30 UTC = 01:30 GMT, both 25 Oct
        entry(904, date="2026-10-25", started_at="2026-10-25T00:30:00Z"),
        entry(905, date="2026-10-25", started_at="2026-10-25T01:30:00Z"),
    ], ent)
    c = b.clean.set_index("entry_id")
    assert list(c.loc[["901", "902", "904", "905"], "spent_date"]) == ["2026-10-01", "2026-10-31", "2026-10-25",
                                                                      "2026-10-25"]
    assert b.disposition("903") == ("quarantined",
                                    "local date 2026-11-01 (Europe/London) outside billing period 2026-10")
    # the same instant belongs to October for a New York entity (EDT until 06:00 UTC on 1 Nov)
    ny = entity(key="acme-us", timezone="America/New_York", base_currency="USD")
    b2 = bill([entry(906, date="2026-11-01", started_at="2026-11-01T03:30:00Z", currency="USD")], ny)
    assert b2.disposition("906") == ("billable", None)
    assert b2.clean.iloc[0]["spent_date"] == "2026-10-31"
    assert b.lines("1") == [(D("4.0000"), D("100.0000"), D("400.00"))]  # 901, 902, 904, 905


def test_quarantine_hold_and_non_billable_reasons_and_approvals_travelling_with_lines():
    ent = entity(locked_through="2026-10-04", clients=[CLIENT_1, {"source_id": "3", "name": "In", "internal": True}],
                 projects=[{"source_id": "11", "client": "1", "name": "Web"}, {"source_id": "31", "client": "3"}],
                 tasks=[{"source_id": "9", "billable": False}])
    today = date(2026, 10, 20)  # the period is still open
    rows = [
        entry("q01", hours="0"), entry("q02", hours="-1.5"),
        entry("q03", user="9", hours="20", date="2026-10-14"), entry("q04", user="9", hours="5", date="2026-10-14"),
        entry("q05", project="99"), entry("q06", client="42"), entry("q07", client=None),
        entry("q08", rate=None), entry("q09", currency="XXX"), entry("q10", date="2026-10-25"),
        entry("q11", date="2026-10-03"), entry("q12", date="not-a-date"),
        entry("h01", approved=False),
        entry("n01", billable=False), entry("n02", client="3", project="31"), entry("n03", task="9"),
        entry("b01", hours="2", approved_by="Mia Manager", approved_at="2026-10-16T09:00:00Z", date="2026-10-12"),
        entry("b02", hours="1", approved_by="Olu Owner", approved_at="2026-10-17T10:00:00Z", date="2026-10-13"),
    ]
    b = bill(rows, ent, today=today)
    expected = {
        "q01": ("quarantined", "non-positive hours 0.000000"),
        "q02": ("quarantined", "non-positive hours -1.500000"),
        "q03": ("held", "person-day over 24 h held for review: user 9 on 2026-10-14 has 25.000000 h; release or "
                        "quarantine it: sync-pipeline hours decide"),
        "q04": ("held", "person-day over 24 h held for review: user 9 on 2026-10-14 has 25.000000 h; release or "
                        "quarantine it: sync-pipeline hours decide"),
        "q05": ("quarantined", "unknown project 99: add it to the mapping's projects"),
        "q06": ("quarantined", "unknown client 42: add it (or an alias) to the mapping's clients"),
        "q07": ("quarantined", "unknown client (no client on the entry)"),
        "q08": ("quarantined", "missing rate: no rate card matches and the project system gave no rate"),
        "q09": ("quarantined", "unknown currency XXX"),
        "q10": ("quarantined", "future date 2026-10-25"),
        "q11": ("quarantined", "locked period: entries up to 2026-10-04 are closed"),
        "q12": ("quarantined", "invalid spent_date not-a-date"),
        "h01": ("held", "awaiting approval"),
        "n01": ("non_billable", "marked non-billable in the project system"),
        "n02": ("non_billable", "internal client (mapping: clients.internal)"),
        "n03": ("non_billable", "internal task (mapping: tasks.billable = false)"),
        "b01": ("billable", None), "b02": ("billable", None),
    }
    assert {e: b.disposition(e) for e in expected} == expected
    assert b.conservation.counts == {"quarantined": 10, "non_billable": 3, "held": 3, "billable": 2}
    # the held entries' value is reported beside the billed value (1 h x 100 + the held day's 25 h x 100)
    assert D(b.conservation.per_currency["GBP"]["held"]) == D("2600")
    line = b.invoices()["1"]["lines"][0]
    assert (line["quantity"], line["line_amount"], line["source_entry_ids"]) == (D("3.0000"), D("300.00"), "b01,b02")
    assert (line["approved_by"], line["approved_at"], line["rate_source"]) == (
        "Mia Manager,Olu Owner", "2026-10-17T10:00:00Z", "source_system")


def test_rate_precedence_with_effective_dates_and_partially_billable_rates():
    ent = entity(
        clients=[CLIENT_1, {"source_id": "2", "name": "Globex"}],
        projects=[{"source_id": "11", "client": "1", "name": "Web"}, {"source_id": "12", "client": "1", "name": "Sup"},
                  {"source_id": "21", "client": "2", "name": "Data"}],
        rate_cards=[
            {"rate": "80"},                                                                   # 0 entity default
            {"client": "1", "rate": "90"},                                                    # 1 client
            {"project": "11", "rate": "100", "valid_to": "2026-10-15"},                       # 2 project, 1st half
            {"project": "11", "rate": "110", "valid_from": "2026-10-16"},                     # 3 project, 2nd half
            {"project": "11", "user": "2", "rate": "120"},                                    # 4 user on project
            {"project": "11", "task": "2", "rate": "150"},                                    # 5 task on project
            {"task": "3", "rate": "60", "billable_percent": "50"},                            # 6 task anywhere, 50 %
        ])
    b = bill([
        entry("r1", user="1", task="1", date="2026-10-10", rate="999"),  # project card 100 (cards beat Harvest)
        entry("r2", user="1", task="1", date="2026-10-20", rate="999"),  # project card 110 from 16 Oct
        entry("r3", user="2", task="1", date="2026-10-20", rate="999"),  # user on project 120
        entry("r4", user="2", task="2", date="2026-10-20", rate="999"),  # task 150 beats user 120
        entry("r5", user="1", task="3", hours="2", date="2026-10-20"),   # task 60 x 50 % = 30/h → 60.00
        entry("r6", project="12", rate="999"),                           # client card 90
        entry("r7", client="2", project="21", rate="77"),                # no card: Harvest's rate 77
        entry("r8", client="2", project="21", rate=None),                # nothing else: entity default 80
    ], ent)
    src = b.clean.set_index("entry_id")["rate_source"].to_dict()
    assert src == {"r1": "project:2", "r2": "project:3", "r3": "user_project:4", "r4": "task:5", "r5": "task:6",
                   "r6": "client:1", "r7": "source_system", "r8": "entity_default:0"}
    assert b.lines("1") == [
        (D("1.0000"), D("100.0000"), D("100.00")), (D("1.0000"), D("110.0000"), D("110.00")),
        (D("1.0000"), D("120.0000"), D("120.00")), (D("1.0000"), D("150.0000"), D("150.00")),
        (D("2.0000"), D("30.0000"), D("60.00")), (D("1.0000"), D("90.0000"), D("90.00")),
    ]
    assert b.lines("2") == [(D("1.0000"), D("77.0000"), D("77.00")), (D("1.0000"), D("80.0000"), D("80.00"))]
    r5 = b.drafts[b.drafts["source_entry_ids"] == "r5"].iloc[0]
    assert (r5["list_rate"], r5["billable_percent"], r5["source_rate"]) == (D("60"), D("50"), D("30"))


def test_retainer_drawdown_fixed_fee_milestones_discount_and_day_units():
    ent = entity(
        clients=[{"source_id": "1", "name": "Acme Corp", "discount_percent": "10"},
                 {"source_id": "2", "name": "Days Ltd", "units": {"unit": "days", "hours_per_day": "7.5"}}],
        projects=[
            {"source_id": "71", "client": "1", "name": "Care", "billing": "retainer",
             "retainer": {"fee": "1000", "hours": "10"}},
            {"source_id": "72", "client": "1", "name": "Rebuild", "billing": "fixed_fee", "milestones": [
                {"name": "Discovery", "amount": "2500", "on": "2026-10-15"},
                {"name": "Build", "amount": "5000", "on": "2026-11-15"}]},
            {"source_id": "81", "client": "2", "name": "Audit"},
        ])
    b = bill([
        # retainer: 10 h included; 4 + 4 + 4 h worked at 120 → 4, 4 and 2 h drawn down, 2 h overage
        entry("t1", project="71", hours="4", rate="120", date="2026-10-02"),
        entry("t2", project="71", hours="4", rate="120", date="2026-10-03"),
        entry("t3", project="71", hours="4", rate="120", date="2026-10-04"),
        entry("f1", project="72", hours="5", rate="120"),  # fixed fee: time is tracked, not billed
        entry("d1", client="2", project="81", hours="15", rate="100"),
        entry("d2", client="2", project="81", hours="1", rate="100", date="2026-10-06"),
    ], ent)
    assert b.disposition("f1") == ("non_billable", "fixed-fee project: billed by milestones, not by time")
    assert b.lines("1") == [
        (D("2.0000"), D("120.0000"), D("240.00")),      # overage 2 h x 120
        (D("1"), D("1000.0000"), D("1000.00")),         # retainer fee
        (D("1"), D("2500.0000"), D("2500.00")),         # Discovery milestone (Build is due in November)
        (D("1"), D("-374.0000"), D("-374.00")),         # 10 % of 3740.00
    ]
    inv = b.invoices()["1"]
    # tax per line: 48.00 + 200.00 + 500.00 - 74.80 = 673.20; subtotal 3366.00; total 4039.20
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (336600, 67320, 403920)
    assert "10 h covered by the retainer" in inv["lines"][0]["description"]
    # days of 7.5 h at a day rate of 100 x 7.5 = 750: 16 h = 2.1333... days → quantity 2.1333;
    # 2.1333 x 750 = 1599.975 → 1599.98: Xero's arithmetic wins, 0.02 short of 1600.00 is the remainder
    assert b.lines("2") == [(D("2.1333"), D("750.0000"), D("1599.98"))]
    days = b.drafts[b.drafts["client_id"] == "2"].iloc[0]
    assert (days["unit"], days["billed_value"], days["rounding_remainder"]) == ("days", D("1600"), D("0.02"))


def test_large_invoice_two_thousand_entries():
    ent = entity()
    rows = [entry(f"L{i:05d}", user=str(i % 50), date=f"2026-10-{1 + i % 28:02d}", task="1", hours="0.25",
                  rate="150") for i in range(1000)]
    rows += [entry(f"M{i:05d}", user=str(i % 50), date=f"2026-10-{1 + i % 28:02d}", task="2", hours="1.5",
                   rate="137.50") for i in range(1000)]
    b = bill(rows, ent)
    # 1000 x 0.25 h = 250 h x 150 = 37,500.00; 1000 x 1.5 h = 1500 h x 137.50 = 206,250.00
    assert b.lines("1") == [(D("250.0000"), D("150.0000"), D("37500.00")),
                            (D("1500.0000"), D("137.5000"), D("206250.00"))]
    inv = b.invoices()["1"]
    # VAT 7,500.00 + 41,250.00 = 48,750.00; total 292,500.00
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (24375000, 4875000, 29250000)
    assert list(b.drafts["entry_count"]) == [1000, 1000]


def test_inclusive_tax_line_versus_invoice_rounding():
    from sync_pipeline.domain.billing import invoice_headers, invoice_level_tax

    ent = entity(tax={"amounts": "inclusive", "rounding": "line"})
    b = bill([entry(1, task="1", rate="10"), entry(2, task="2", rate="10"), entry(3, task="3", rate="10")], ent)
    inv = b.invoices()["1"]
    # three lines of 10.00 including 20 % VAT: per line 10 x 20/120 = 1.666.. → 1.67, x3 = 5.01;
    # the invoice total is 30.00 including tax, so the net subtotal is 24.99
    assert (inv["line_amount_types"], inv["total_minor"], inv["total_tax_minor"], inv["subtotal_minor"]) == (
        "Inclusive", 3000, 501, 2499)
    # rounded once per invoice instead: 30.00 x 20/120 = 5.00, so the net subtotal is 25.00
    assert invoice_level_tax(b.drafts, "inclusive") == {inv["invoice_key"]: 500}
    once = invoice_headers(b.drafts, tax_rounding="invoice")[0]
    assert (once["total_minor"], once["total_tax_minor"], once["subtotal_minor"]) == (3000, 500, 2500)


def test_refunds_and_corrections_are_never_netted_silently():
    # a negative correction entry is quarantined with its reason (the adjustment flow issues a credit note),
    # never subtracted from this month's time; a discount is a negative line whose tax is negative too
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp", "discount_percent": "2.5"}])
    b = bill([entry("x1", hours="8", rate="95.50"), entry("x2", hours="-2", rate="95.50")], ent)
    assert b.disposition("x2") == ("quarantined", "non-positive hours -2.000000")
    # 8 x 95.50 = 764.00; discount 2.5 % = 19.10 → -19.10; VAT 152.80 - 3.82 = 148.98; total 893.88
    assert b.lines("1") == [(D("8.0000"), D("95.5000"), D("764.00")), (D("1"), D("-19.1000"), D("-19.10"))]
    inv = b.invoices()["1"]
    assert (inv["subtotal_minor"], inv["total_tax_minor"], inv["total_minor"]) == (74490, 14898, 89388)
