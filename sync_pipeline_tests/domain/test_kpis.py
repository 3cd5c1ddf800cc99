"""Each billing-health KPI on a small dataset computed by hand (formulas: docs/kpis.md)."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from sync_pipeline.domain.kpis import (
    BillableTime,
    Document,
    Kpi,
    Receivable,
    billing_corrections,
    close_to_invoice,
    days_sales_outstanding,
    sync_exceptions,
    touchless_billing,
)


def test_touchless_billing_share_of_billable_hours():
    entries = [
        BillableTime("1001", D("2.5"), billed=True),                            # touchless
        BillableTime("1002", D("3.0"), billed=True),                            # touchless
        BillableTime("1003", D("1.25"), billed=True, manual_step="corrected"),  # credited and rebilled
        BillableTime("1004", D("0.75"), billed=True, manual_step="released"),   # a person released the hold
        BillableTime("1008", D("2.5"), billed=False),                           # still held: not invoiced
    ]
    k = touchless_billing(entries)
    # billable 2.5 + 3.0 + 1.25 + 0.75 + 2.5 = 10.0 h; touchless 2.5 + 3.0 = 5.5 h; 5.5 / 10 = 0.55
    assert k.value == D("0.5500")
    assert k.parts == {"billable_hours": D("10.00"), "touchless_hours": D("5.5"), "other_hours": D("4.50"),
                       "entries_corrected": 1, "entries_released": 1}


def test_touchless_billing_without_billable_time_is_not_a_number():
    assert touchless_billing([]).value is None
    # a third: 1 / 3 = 0.33333 → 0.3333 (four places, half up)
    assert touchless_billing([BillableTime("a", D(1), True), BillableTime("b", D(2), False)]).value == D("0.3333")


def test_billing_corrections_per_invoice_issued():
    docs = [
        Document("invoice", 1, "AUTHORISED"),     # issued
        Document("invoice", 1, "PAID"),           # issued
        Document("invoice", 1, "AUTHORISED"),     # issued, later credited
        Document("credit_note", None, "AUTHORISED"),  # correction 1
        Document("invoice", 2, "AUTHORISED"),     # rebill: correction 2
        Document("invoice", 1, "VOIDED"),         # a withdrawn draft: neither issued nor a correction
    ]
    k = billing_corrections(docs)
    # (1 credit note + 1 rebill) / 3 invoices issued = 0.6667
    assert k.value == D("0.6667")
    assert k.parts == {"invoices_issued": 3, "credit_notes": 1, "rebills": 1}
    assert billing_corrections([]).value is None
    # a voided rebill still counts as a correction that happened; a revision-less invoice is an original
    assert billing_corrections([Document("invoice", None), Document("invoice", 3, "VOIDED")]).value == D("1.0000")


def test_close_to_invoice_median_days():
    closed = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)  # October closes at midnight into 1 November
    posted = [datetime(2026, 11, 3, 12, tzinfo=UTC),   # 2.5 days
              datetime(2026, 11, 2, 0, tzinfo=UTC),    # 1.0 day
              datetime(2026, 11, 11, 6, tzinfo=UTC),   # 10.25 days
              datetime(2026, 11, 5, 0, tzinfo=UTC)]    # 4.0 days
    k = close_to_invoice(closed, posted)
    # sorted 1.0, 2.5, 4.0, 10.25 → median (2.5 + 4.0) / 2 = 3.25 → 3.3 (one place, half up)
    assert k.value == D("3.3")
    assert k.parts == {"invoices": 4, "slowest_days": D("10.3"), "fastest_days": D("1.0")}
    assert close_to_invoice(closed, posted[:3]).value == D("2.5")  # odd count: the middle one
    assert close_to_invoice(closed, [datetime(2026, 10, 31, 12, tzinfo=UTC)]).value == D("-0.5")  # a draft
    assert close_to_invoice(closed, []).value is None


def test_days_sales_outstanding_from_payments_pulled_back():
    as_of = date(2026, 12, 31)
    receivables = [
        # 981.00 GBP dated 1 Nov, paid 500.00 on 11 Nov and 481.00 on 1 Dec:
        #   (50000 × 10 + 48100 × 30) / 98100 = (500000 + 1443000) / 98100 = 19.806…
        Receivable(date(2026, 11, 1), 98100, ((date(2026, 12, 1), 48100), (date(2026, 11, 11), 50000))),
        # 699.90 EUR dated 1 Nov, nothing paid: open 60 days at 31 Dec
        Receivable(date(2026, 11, 1), 69990),
        # 100.00 dated 1 Dec, 40.00 paid on 6 Dec (5 days), 60.00 still open (30 days):
        #   (4000 × 5 + 6000 × 30) / 10000 = 20
        Receivable(date(2026, 12, 1), 10000, ((date(2026, 12, 6), 4000),)),
        Receivable(date(2026, 12, 1), 0),  # a zero invoice has nothing outstanding: left out
    ]
    k = days_sales_outstanding(receivables, as_of)
    # mean (19.806 + 60 + 20) / 3 = 33.269 → 33.3
    assert k.value == D("33.3")
    # open 69990 + 6000 = 75990 of 98100 + 69990 + 10000 = 178090 → 0.4267
    assert k.parts == {"invoices": 3, "fully_paid": 1, "as_of": "2026-12-31", "share_still_open": D("0.4267")}


def test_dso_overpayment_and_early_payment_do_not_go_below_zero():
    k = days_sales_outstanding([Receivable(date(2026, 11, 10), 1000, ((date(2026, 11, 5), 1500),))],
                               date(2026, 12, 31))
    assert k.value == D("0.0") and k.parts["fully_paid"] == 1
    assert days_sales_outstanding([], date(2026, 12, 31)).value is None


def test_sync_exceptions_per_team():
    k = sync_exceptions({"quarantined_entries": 1, "held_entries": 1, "posting_failures": 2,
                         "reconciliation_differences": 3, "unreadable_documents": 0})
    # time tracking 1 + 1 = 2, billing 2, accounting 3 + 0 = 3; total 7
    assert k.value == D(7)
    assert {t: k.parts[f"team {t}"] for t in ("time tracking", "billing", "accounting")} == {
        "time tracking": 2, "billing": 2, "accounting": 3}
    assert sync_exceptions({}).value == D(0)
    with pytest.raises(ValueError, match="no team"):
        sync_exceptions({"lost_socks": 1})


def test_each_kpi_names_itself_and_its_unit_also_when_there_is_nothing_to_measure():
    as_of, closed = date(2026, 12, 31), datetime(2026, 11, 1, tzinfo=UTC)
    assert touchless_billing([]) == Kpi("touchless_billing", None, "share of billable hours",
                                        {"billable_hours": D(0), "touchless_hours": D(0), "other_hours": D(0)})
    assert billing_corrections([]) == Kpi("billing_corrections", None, "corrections per invoice issued",
                                          {"invoices_issued": 0, "credit_notes": 0, "rebills": 0})
    assert close_to_invoice(closed, []) == Kpi("close_to_invoice", None, "days (median)", {"invoices": 0})
    assert days_sales_outstanding([], as_of) == Kpi("days_sales_outstanding", None, "days",
                                                    {"invoices": 0, "as_of": "2026-12-31"})
    assert (sync_exceptions({}).name, sync_exceptions({}).unit) == ("sync_exceptions", "open exceptions")
    k = close_to_invoice(closed, [datetime(2026, 11, 2, tzinfo=UTC)])
    assert (k.name, k.unit) == ("close_to_invoice", "days (median)")
    k = days_sales_outstanding([Receivable(date(2026, 12, 1), 100)], as_of)
    assert (k.name, k.unit, k.value) == ("days_sales_outstanding", "days", D("30.0"))


def test_ratios_round_half_up_at_the_fourth_place():
    # 1 / 32 = 0.03125: half up 0.0313 (half even would give 0.0312)
    assert touchless_billing([BillableTime("a", D(1), True), BillableTime("b", D(31), False)]).value == D("0.0313")


def test_touchless_billing_counts_every_entry_of_each_manual_step():
    k = touchless_billing([BillableTime("a", D(1), True, "corrected"), BillableTime("b", D(1), True, "corrected"),
                           BillableTime("c", D(1), True, "posted_by_hand")])
    assert k.parts["entries_corrected"] == 2 and k.parts["entries_posted_by_hand"] == 1 and k.value == D("0.0000")


def test_withdrawn_originals_are_skipped_wherever_they_come_and_every_correction_counts():
    docs = [Document("invoice", 1, "DELETED"),          # withdrawn before it was sent
            Document("invoice", None, "VOIDED"),        # no revision: an original, withdrawn
            Document("invoice", 1, "AUTHORISED"),
            Document("credit_note", None, "AUTHORISED"), Document("credit_note", None, "PAID"),
            Document("invoice", 2, "AUTHORISED"), Document("invoice", 3, "AUTHORISED"),
            Document("invoice", 1, "AUTHORISED")]
    k = billing_corrections(docs)
    assert k.parts == {"invoices_issued": 2, "credit_notes": 2, "rebills": 2}
    assert k.value == D("2.0000")


def test_dso_edges_zero_and_one_minor_unit_refunds_and_invoices_dated_today():
    as_of = date(2026, 12, 31)
    # a zero invoice first is skipped, not the end of the list; one minor unit paid the same day is 0 days
    k = days_sales_outstanding([Receivable(date(2026, 12, 1), 0),
                                Receivable(date(2026, 12, 1), 1, ((date(2026, 12, 1), 1),))], as_of)
    assert (k.value, k.parts["invoices"], k.parts["fully_paid"]) == (D("0.0"), 1, 1)
    assert k.parts["share_still_open"] == 0  # fully paid: nothing open (not "no figure")
    # a refund (negative settlement) pays nothing: the whole 100 stays open 20 days
    refund = Receivable(date(2026, 12, 11), 100, ((date(2026, 12, 21), -50), (date(2026, 12, 21), 0)))
    assert days_sales_outstanding([refund], as_of).value == D("20.0")
    # dated on the as-of day and unpaid: outstanding 0 days
    assert days_sales_outstanding([Receivable(as_of, 100)], as_of).value == D("0.0")


def test_unknown_exception_kinds_are_all_named():
    with pytest.raises(ValueError, match=r"kind\(s\) lost_socks, odd_gloves have no team"):
        sync_exceptions({"odd_gloves": 1, "lost_socks": 1})
