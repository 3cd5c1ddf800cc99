"""The cascade's rules on hand-made lines: amounts judged, write-offs, partials, combinations, duplicates."""

from decimal import Decimal

from sync_pipeline.domain import cash_matching as cm

POLICY = cm.CashPolicy()


def _line(amount, ccy="GBP", lid="L1"):
    return {"line_id": lid, "line_amount_minor": amount, "line_currency": ccy}


def _row(inv, due, *, by_ref=False, by_amount=False, ccy="GBP", expected=None, same=True, sim=1.0, contact="C1",
         days=10, fuzzy=False, digits=False):
    return {"line_id": "L1", "invoice_id": inv, "by_ref": by_ref, "by_amount": by_amount, "by_fuzzy": fuzzy,
            "by_name": True, "digits_hit": digits, "invoice_currency": ccy, "line_currency": "GBP",
            "amount_due_minor": due, "expected_line_minor": due if expected is None else expected,
            "same_counterparty": same, "name_similarity": sim, "contact_id": contact, "days_after_invoice": days}


def test_amounts_are_judged_exact_writeoff_fx_partial_over():
    assert cm.assess_amount(10000, 10000, True, POLICY).kind == "exact"
    assert cm.assess_amount(9850, 10000, True, POLICY) == cm.Assessment("writeoff", -150)  # a 1.50 bank fee
    assert cm.assess_amount(10030, 10000, True, POLICY) == cm.Assessment("writeoff", 30)
    assert cm.assess_amount(5000, 10000, True, POLICY).kind == "partial"
    assert cm.assess_amount(20000, 10000, True, POLICY).kind == "over"
    assert cm.assess_amount(8530, 8600, False, POLICY).kind == "fx"
    # the tolerance is the smaller of 20.00 and 5 %: 3.00 short on 40.00 due is a short payment, not a fee
    assert cm.assess_amount(3700, 4000, True, POLICY).kind == "partial"


def test_reference_with_fee_is_settled_with_a_writeoff():
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    d = cm.decide_reference(_line(9850), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert (d.outcome, d.rule, d.writeoff_minor) == ("auto_settled", "exact_reference", -150)
    assert d.allocations == [cm.Allocation("I1", 10000, "GBP", 10000)]
    assert ledger.due["I1"] == 0


def test_instalments_consume_what_is_due_in_turn():
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    first = cm.decide_reference(_line(4000), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert first.outcome == "auto_settled" and first.allocations[0].applied_minor == 4000
    second = cm.decide_reference(_line(6000, lid="L2"), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert second.allocations[0].applied_minor == 6000 and second.amount_kind == "exact"
    assert ledger.due["I1"] == 0
    # a third payment naming it finds nothing open: not settled again
    assert cm.decide_reference(_line(6000, lid="L3"), [_row("I1", 10000, by_ref=True)], ledger, POLICY) is None


def test_one_payment_for_several_invoices_by_reference_and_by_subset():
    ledger = cm.Ledger({"I1": 10000, "I2": 25050, "I3": 7000}, dict.fromkeys(("I1", "I2", "I3"), "GBP"))
    d = cm.decide_reference(_line(35050), [_row("I1", 10000, by_ref=True), _row("I2", 25050, by_ref=True)], ledger,
                            POLICY)
    assert d.outcome == "auto_settled" and sorted(d.invoice_ids) == ["I1", "I2"]
    ledger = cm.Ledger({"I1": 10000, "I2": 25050, "I3": 7000}, dict.fromkeys(("I1", "I2", "I3"), "GBP"))
    rows = [_row("I1", 10000), _row("I2", 25050), _row("I3", 7000)]
    d = cm.decide_subset(_line(17000), rows, ledger, POLICY)
    assert d.rule == "amount_subset" and sorted(d.invoice_ids) == ["I1", "I3"]


def test_ambiguous_subsets_are_left_to_a_person():
    ledger = cm.Ledger({"I1": 5000, "I2": 5000, "I3": 5000}, dict.fromkeys(("I1", "I2", "I3"), "GBP"))
    rows = [_row("I1", 5000), _row("I2", 5000), _row("I3", 5000)]
    assert cm.decide_subset(_line(10000), rows, ledger, POLICY) is None


def test_overpayment_is_an_exception_with_context():
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    d = cm.decide_reference(_line(15000), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert d.outcome == "exception" and "refund the customer" in d.reason
    assert ledger.due["I1"] == 10000  # nothing consumed


def test_fx_payment_is_settled_in_full_with_the_bank_amount():
    ledger = cm.Ledger({"E1": 100000}, {"E1": "EUR"})
    row = _row("E1", 100000, by_ref=True, ccy="EUR", expected=86000)
    d = cm.decide_reference(_line(85500), [row], ledger, POLICY)
    assert (d.outcome, d.amount_kind, d.writeoff_minor) == ("auto_settled", "fx", 0)
    assert d.allocations == [cm.Allocation("E1", 100000, "EUR", 85500)]


def test_near_reference_needs_the_payer_and_the_amount():
    ledger = cm.Ledger({"I1": 10000, "I2": 9000}, {"I1": "GBP", "I2": "GBP"})
    rows = [_row("I1", 10000, fuzzy=True), _row("I2", 9000, fuzzy=True)]
    d = cm.decide_near_reference(_line(10000), rows, ledger, POLICY)
    assert d.rule == "near_reference" and d.invoice_ids == ["I1"]
    other_payer = [_row("I1", 10000, fuzzy=True, same=False, sim=0.4)]
    assert cm.decide_near_reference(_line(10000), other_payer, cm.Ledger({"I1": 10000}, {"I1": "GBP"}), POLICY) is None


def test_scored_candidates_settle_only_when_one_stands_out():
    def scored(inv, w):
        return {**_row(inv, 10000), "match_probability": 0.99, "match_weight": w, "weights": {}}

    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_scored(_line(10000), [scored("I1", 12.0), scored("I2", 1.0)], ledger, POLICY)
    assert d.outcome == "auto_settled" and d.confidence > 0.99
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_scored(_line(10000), [scored("I1", 12.0), scored("I2", 11.5)], ledger, POLICY)
    assert d.outcome == "proposed" and "two candidates are close" in d.reason
    assert [c["invoice_id"] for c in d.candidates] == ["I1", "I2"]


def test_money_never_floats():
    assert isinstance(cm.CashPolicy().writeoff_max_ratio, Decimal)


def test_a_typo_that_lands_on_another_customers_invoice_is_read_as_the_payers_own():
    # "INV-000679" for INV-000079: 679 exists, but it is someone else's and does not fit; 079 is one typo away
    ledger = cm.Ledger({"I679": 89037, "I79": 244265}, {"I679": "GBP", "I79": "GBP"})
    rows = [_row("I679", 89037, by_ref=True, same=False, sim=0.4, contact="C9"),
            _row("I79", 244265, fuzzy=True)]
    d = cm.decide_named(_line(244265), rows, ledger, POLICY)
    assert (d.outcome, d.rule, d.invoice_ids) == ("auto_settled", "near_reference", ["I79"])
    assert ledger.due == {"I679": 89037, "I79": 0}


def test_one_payment_for_several_invoices_with_one_number_mistyped():
    ledger = cm.Ledger({"I1": 10000, "I2": 5000, "I3": 7000}, dict.fromkeys(("I1", "I2", "I3"), "GBP"))
    rows = [_row("I1", 10000, by_ref=True), _row("I2", 5000, fuzzy=True),
            _row("I3", 7000, by_ref=True, same=False, sim=0.3, contact="C9")]  # the typo's landing place
    d = cm.decide_named(_line(15000), rows, ledger, POLICY)
    assert d.rule == "near_reference" and sorted(d.invoice_ids) == ["I1", "I2"] and d.outcome == "auto_settled"
    # two combinations that fit: nobody can tell which one, so no automatic decision
    ledger = cm.Ledger({"I1": 10000, "I2": 5000, "I4": 5000}, dict.fromkeys(("I1", "I2", "I4"), "GBP"))
    rows = [_row("I1", 10000, by_ref=True), _row("I2", 5000, fuzzy=True), _row("I4", 5000, digits=True)]
    assert cm.decide_near_reference(_line(15000), rows, ledger, POLICY) is None


def test_part_payment_of_the_one_invoice_the_text_names_by_its_digits():
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    d = cm.decide_near_reference(_line(4000), [_row("I1", 10000, digits=True)], ledger, POLICY)
    assert d.outcome == "auto_settled" and d.allocations[0].applied_minor == 4000 and ledger.due["I1"] == 6000
    # not from someone else
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    assert cm.decide_near_reference(_line(4000), [_row("I1", 10000, digits=True, same=False, sim=0.5)], ledger,
                                    POLICY) is None


def test_differences_without_a_reference_must_have_an_explanation():
    ok = cm.explained_difference
    assert ok(9850, 10000, True, POLICY)  # a 1.50 bank charge
    assert ok(10040, 10000, True, POLICY)  # 0.40 over: rounding, a small over-payment
    assert not ok(9873, 10000, True, POLICY)  # 1.27 short: not a tariff
    assert not ok(10500, 10000, True, POLICY)
    assert ok(98200, 100000, False, POLICY)  # converted 1.8 % below the reference rate
    assert not ok(95000, 100000, False, POLICY)  # 5 %: more than a spread and a charge (2 % + 20.00)
    assert not ok(101000, 100000, False, POLICY)  # more than converted at the reference rate


def test_amount_tolerance_takes_the_one_explained_fit_from_the_payer_only():
    def rows(*extra):
        return [_row("I1", 10000, days=12), *extra]

    ledger = cm.Ledger({"I1": 10000, "I2": 9900}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_amount_tolerance(_line(9850), rows(), ledger, POLICY)
    assert (d.rule, d.amount_kind, d.writeoff_minor, d.invoice_ids) == ("amount_tolerance", "writeoff", -150, ["I1"])
    ledger = cm.Ledger({"I1": 10000, "I2": 9900}, {"I1": "GBP", "I2": "GBP"})
    assert cm.decide_amount_tolerance(_line(9850), rows(_row("I2", 9900, days=5)), ledger, POLICY) is None  # 2 fit
    assert cm.decide_amount_tolerance(_line(9850), [_row("I1", 10000, days=-3)], ledger, POLICY) is None  # before
    assert cm.decide_amount_tolerance(_line(9850), [_row("I1", 10000, same=False, sim=0.7)], ledger, POLICY) is None
    named = {**_line(9850), "names_invoice": True}  # the text names an invoice that is none of the payer's
    assert cm.decide_amount_tolerance(named, rows(), ledger, POLICY) is None


def test_subset_searches_the_payers_whole_open_ledger():
    # 40 open invoices of one contact (amounts whose subset sums are all different); the line pays two of them
    ids = [f"I{i}" for i in range(40)]
    amounts = {iid: 1000 * 2 ** i for i, iid in enumerate(ids)}
    ledger = cm.Ledger(amounts, dict.fromkeys(ids, "GBP"))
    rows = [_row(iid, amounts[iid], days=i) for i, iid in enumerate(ids)]
    d = cm.decide_subset(_line(amounts["I3"] + amounts["I30"]), rows, ledger, POLICY)
    assert d.rule == "amount_subset" and sorted(d.invoice_ids) == ["I3", "I30"]
    d = cm.decide_subset(_line(amounts["I1"] + amounts["I5"] + amounts["I9"] + amounts["I12"]), rows, ledger, POLICY)
    assert sorted(d.invoice_ids) == ["I1", "I12", "I5", "I9"]


# -- amounts at their boundaries ----------------------------------------------------------------------------------

def test_the_writeoff_tolerance_is_the_smaller_of_the_cap_and_the_ratio_inclusive():
    # 5 % of 100.00 = 5.00 < 20.00: a 5.00 difference is written off, 5.01 is not
    assert cm.assess_amount(9500, 10000, True, POLICY) == cm.Assessment("writeoff", -500)
    assert cm.assess_amount(9499, 10000, True, POLICY) == cm.Assessment("partial", -501)
    assert cm.assess_amount(10501, 10000, True, POLICY) == cm.Assessment("over", 501)
    # on 1,000.00 the cap of 20.00 is the smaller
    assert cm.assess_amount(102000, 100000, True, POLICY) == cm.Assessment("writeoff", 2000)
    assert cm.assess_amount(102001, 100000, True, POLICY) == cm.Assessment("over", 2001)


def test_the_fx_tolerance_is_three_percent_plus_the_writeoff_cap_inclusive():
    # 3 % of 100.00 = 3.00, + 20.00 = 23.00
    assert cm.assess_amount(7700, 10000, False, POLICY) == cm.Assessment("fx", -2300)
    assert cm.assess_amount(12300, 10000, False, POLICY) == cm.Assessment("fx", 2300)
    assert cm.assess_amount(7699, 10000, False, POLICY) == cm.Assessment("partial", -2301)
    assert cm.assess_amount(12301, 10000, False, POLICY) == cm.Assessment("over", 2301)
    assert cm.assess_amount(10000, 10000, False, POLICY) == cm.Assessment("exact", 0)


def test_an_explained_difference_is_a_round_fee_a_small_residue_or_a_bank_rate():
    assert cm.explained_difference(10100, 10000, True, POLICY)  # 1.00 over: a residue
    assert cm.explained_difference(9900, 10000, True, POLICY)
    assert not cm.explained_difference(10101, 10000, True, POLICY)
    assert cm.explained_difference(99850, 100000, True, POLICY)  # 1.50: a multiple of 0.50 under the cap
    assert not cm.explained_difference(99830, 100000, True, POLICY)  # 1.70: not a round charge
    assert cm.explained_difference(98000, 100000, True, POLICY)  # 20.00: the cap itself
    assert not cm.explained_difference(97950, 100000, True, POLICY)  # 20.50: over the cap
    assert not cm.explained_difference(100150, 100000, True, POLICY)  # a charge is never an over-payment
    # another currency: up to 2 % + 20.00 short
    assert cm.explained_difference(96000, 100000, False, POLICY)  # 40.00 = 2 % of 1,000 + 20
    assert not cm.explained_difference(95999, 100000, False, POLICY)
    assert not cm.explained_difference(100101, 100000, False, POLICY)


def test_a_part_of_a_line_converts_back_at_the_pairs_implied_rate():
    assert cm._to_invoice_minor(5000, 10000, 10000) == 5000
    assert cm._to_invoice_minor(5000, 11000, 10000) == 4545  # 4545.45 → 4545
    assert cm._to_invoice_minor(5500, 11000, 10001) == 5001  # 5000.5 → 5001 (half up)


# -- settling -----------------------------------------------------------------------------------------------------

def test_an_fx_payment_is_spread_over_its_invoices_in_proportion():
    ledger = cm.Ledger({"I1": 10000, "I2": 30000}, {"I1": "EUR", "I2": "EUR"})
    rows = [_row("I1", 10000, ccy="EUR", expected=8600, by_ref=True), _row("I2", 30000, ccy="EUR", expected=25800,
                                                                          by_ref=True)]
    d = cm.decide_reference(_line(34000), rows, ledger, POLICY)
    assert (d.outcome, d.amount_kind, d.writeoff_minor) == ("auto_settled", "fx", 0)
    assert d.allocations == [cm.Allocation("I1", 10000, "EUR", 8500), cm.Allocation("I2", 30000, "EUR", 25500)]
    assert d.reason == ("paid in another currency; difference of -400 minor units at the day's reference rate is a "
                        "realised FX gain/loss (exact reference)")
    assert d.explanation["expected_minor"] == 34400 and d.explanation["difference_minor"] == -400
    assert ledger.due == {"I1": 0, "I2": 0} and ledger.decided == {"L1"}


def test_spreading_gives_the_last_invoice_what_is_left():
    allocs = [cm.Allocation("a", 1, "EUR", 1), cm.Allocation("b", 1, "EUR", 1), cm.Allocation("c", 1, "EUR", 1)]
    assert [a.line_share_minor for a in cm._spread(100, allocs)] == [33, 33, 34]
    assert [a.line_share_minor for a in cm._spread(7, [cm.Allocation("a", 1, "EUR", 0)])] == [7]


def test_exact_and_writeoff_reasons_name_the_rule():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_reference(_line(10000), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert (d.reason, d.confidence, d.rule, d.line_currency, d.line_amount_minor) == (
        "amount equals the amount due (exact reference)", 1.0, "exact_reference", "GBP", 10000)
    w = cm.decide_reference(_line(10020, lid="L2"), [_row("I2", 10000, by_ref=True)], ledger, POLICY)
    assert w.reason == "difference of 20 minor units written off (within tolerance) (exact reference)"
    assert w.explanation == {"referenced": ["I2"], "name_similarity": [1.0], "expected_minor": 10000,
                             "difference_minor": 20}


def test_over_and_short_payments_become_exceptions_that_say_what_to_do():
    ledger = cm.Ledger({"I1": 10000, "I2": 5000}, {"I1": "GBP", "I2": "GBP"})
    over = cm.decide_reference(_line(20000), [_row("I1", 10000, by_ref=True)], ledger, POLICY)
    assert (over.outcome, over.amount_kind) == ("exception", "over")
    assert over.reason == ("pays more than the amount due (20000 vs 10000 minor units, difference 10000) and is above "
                           "the write-off tolerance: refund the customer or apply the rest to another invoice")
    assert over.allocations == [cm.Allocation("I1", 10000, "GBP", 10000)] and ledger.due["I1"] == 10000
    assert over.candidates == [{"invoice_id": "I1", "invoice_currency": "GBP", "amount_due_minor": 10000,
                                "expected_line_minor": 10000, "name_similarity": 1.0, "days_after_invoice": 10,
                                "by_ref": True, "by_fuzzy": False, "by_name": True, "by_amount": False,
                                "remaining_due_minor": 10000}]
    stranger = cm.decide_reference(_line(4000), [_row("I1", 10000, by_ref=True, same=False, sim=0.5)], ledger, POLICY)
    assert stranger.reason.endswith(": confirm it is a part payment, or write the difference off")
    both = cm.decide_reference(_line(9000), [_row("I1", 10000, by_ref=True), _row("I2", 5000, by_ref=True)], ledger,
                               POLICY)
    assert both.reason == ("references 2 invoices but pays less than the amount due (9000 vs 15000 minor units, "
                           "difference -6000) and is above the write-off tolerance: decide how to allocate it")
    no_partials = cm.CashPolicy(auto_partial=False)
    assert cm.decide_reference(_line(4000), [_row("I1", 10000, by_ref=True)], ledger, no_partials).outcome == \
        "exception"


def test_a_part_payment_in_another_currency_applies_its_converted_share():
    ledger = cm.Ledger({"I1": 10000}, {"I1": "EUR"})
    d = cm.decide_reference(_line(4300), [_row("I1", 10000, ccy="EUR", expected=8600, by_ref=True)], ledger, POLICY)
    assert (d.outcome, d.amount_kind) == ("auto_settled", "partial")
    assert d.allocations == [cm.Allocation("I1", 5000, "EUR", 4300)]
    assert d.reason == "part payment: 4300 of 8600 due (minor units); the rest stays open"
    # the rest, later, is expected at the same implied rate: 5000 EUR left = 4300 GBP
    rest = cm.decide_reference(_line(4300, lid="L2"), [_row("I1", 10000, ccy="EUR", expected=8600, by_ref=True)],
                               ledger, POLICY)
    assert (rest.amount_kind, rest.allocations[0].applied_minor, ledger.due["I1"]) == ("exact", 5000, 0)


def test_the_ledger_consumes_only_automatic_settlements():
    ledger = cm.Ledger({"I1": 100}, {"I1": "GBP"})
    proposal = cm.Decision("L1", "proposed", "fellegi_sunter", 0.7, 100, "GBP", [cm.Allocation("I1", 100, "GBP", 100)])
    assert ledger.apply(proposal) is proposal and ledger.due == {"I1": 100} and ledger.open("I1")
    ledger.apply(cm.Decision("L2", "auto_settled", "x", 1, 100, "GBP", [cm.Allocation("I1", 100, "GBP", 100)]))
    assert ledger.due == {"I1": 0} and not ledger.open("I1") and not ledger.open("nope")
    assert ledger.decided == {"L1", "L2"} and proposal.invoice_ids == ["I1"]


# -- existing payments --------------------------------------------------------------------------------------------

def _pay(pid="P1", *, by_ref=False, same=True, sim=1.0, has_ref=False, unique=True):
    return {"payment_id": pid, "invoice_id": "I1", "invoice_currency": "GBP", "amount_minor": 10000,
            "line_amount_minor": 10000, "by_ref": by_ref, "same_counterparty": same, "name_similarity": sim,
            "line_has_reference": has_ref, "unique_to_line": unique, "days_after_payment": 2}


def test_a_recorded_payment_is_reconciled_never_applied_again():
    ledger = cm.Ledger({"I1": 0}, {"I1": "GBP"})
    d = cm.decide_existing_payment(_line(10000), [_pay(by_ref=True)], ledger, by_reference=True)
    assert (d.outcome, d.rule, d.confidence, d.payment_id, d.amount_kind) == (
        "reconciled_payment", "existing_payment", 1.0, "P1", "exact")
    assert d.allocations == [cm.Allocation("I1", 10000, "GBP", 10000)]
    assert d.explanation == {"by_reference": True, "same_counterparty": True, "days_after_payment": 2}
    assert d.reason == "the payment is already recorded in the accounting system; reconciled to it, not applied again"
    by_payer = cm.decide_existing_payment(_line(10000, lid="L2"), [_pay(same=False, sim=0.9)], ledger,
                                          by_reference=False)
    assert (by_payer.outcome, by_payer.confidence) == ("reconciled_payment", 0.995)


def test_a_recorded_payment_found_without_a_reference_must_be_unambiguous():
    ledger = cm.Ledger({}, {})
    assert cm.decide_existing_payment(_line(1), [_pay(sim=0.89, same=False)], ledger, by_reference=False) is None
    assert cm.decide_existing_payment(_line(1), [_pay(has_ref=True)], ledger, by_reference=False) is None
    assert cm.decide_existing_payment(_line(1), [_pay(unique=False)], ledger, by_reference=False) is None
    assert cm.decide_existing_payment(_line(1), [_pay()], ledger, by_reference=False, competing=True) is None
    assert cm.decide_existing_payment(_line(1), [_pay()], ledger, by_reference=True) is None
    two = cm.decide_existing_payment(_line(1), [_pay(by_ref=True), _pay("P2", by_ref=True)], ledger,
                                     by_reference=True)
    assert (two.outcome, two.confidence, two.amount_kind, len(two.candidates)) == ("exception", 0.5, "n/a", 2)
    assert two.reason == "matches 2 payments already recorded with this amount: pick the one it is"


def test_references_only_to_settled_invoices_are_a_typo_or_a_duplicate():
    ledger = cm.Ledger({"I1": 0, "I2": 5}, {})
    assert cm.references_only_settled([_row("I1", 10, by_ref=True), _row("I2", 5)], ledger)
    assert not cm.references_only_settled([_row("I1", 10, by_ref=True), _row("I2", 5, by_ref=True)], ledger)
    assert not cm.references_only_settled([_row("I2", 5)], ledger)


# -- amount rules -------------------------------------------------------------------------------------------------

def test_amount_and_counterparty_need_exactly_one_open_invoice_still_wholly_due():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_amount_counterparty(_line(10000), [_row("I1", 10000, by_amount=True)], ledger, POLICY)
    assert (d.rule, d.confidence, d.explanation["days_after_invoice"]) == ("amount_counterparty", 0.995, 10)
    two = [_row("I2", 10000, by_amount=True), _row("I3", 10000, by_amount=True)]
    ledger2 = cm.Ledger({"I2": 10000, "I3": 10000}, {})
    assert cm.decide_amount_counterparty(_line(10000), two, ledger2, POLICY) is None
    part = cm.Ledger({"I1": 5000}, {})
    assert cm.decide_amount_counterparty(_line(5000), [_row("I1", 10000, by_amount=True)], part, POLICY) is None
    assert cm.decide_amount_counterparty(_line(10000), [_row("I2", 10000, by_amount=True, same=False, sim=0.92)],
                                         ledger, POLICY) is None
    assert cm.decide_amount_counterparty(_line(10000), [_row("I2", 10000, by_amount=True, same=False, sim=0.93)],
                                         ledger, POLICY) is not None


def test_subsets_find_index_tuples_summing_exactly():
    assert cm._subsets([1, 2, 3, 4], 5, 2) == [(1, 2), (0, 3)]
    assert cm._subsets([1, 2, 3, 4], 5, 2, limit=1) == [(1, 2)]
    assert cm._subsets([1, 2, 3, 4], 9, 3) == [(1, 2, 3)]  # each index once
    assert cm._subsets([1, 2, 3, 4], 10, 4) == [(0, 1, 2, 3)]
    assert cm._subsets([5, 5, 5], 10, 2) == [(0, 1), (0, 2)]
    assert cm._subsets([1, 1], 5, 2) == [] and cm._subsets([1, 1, 1], 5, 3) == [] and cm._subsets([1] * 4, 5, 4) == []


def test_group_by_keeps_order_within_each_group():
    rows = [{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "a", "n": 3}]
    assert cm.group_by(rows, "k") == {"a": [rows[0], rows[2]], "b": [rows[1]]}


# -- the model's view ---------------------------------------------------------------------------------------------

def _scored(inv, weight, prob, **kw):
    r = _row(inv, 10000, **kw)
    r.update(match_weight=weight, match_probability=prob, weights={"amount": 3.0})
    return r


def test_no_plausible_candidate_is_an_exception_without_a_rule():
    d = cm.decide_scored(_line(10000), [], cm.Ledger({}, {}), POLICY)
    assert (d.outcome, d.rule, d.confidence, d.amount_kind) == ("exception", "none", 0.0, "n/a")
    assert d.reason == ("no open invoice is a plausible match (no reference, amount or payer in common): is it a "
                        "receipt for something else?")


def test_a_clear_named_winner_is_settled_by_the_model():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_scored(_line(10000), [_scored("I2", 1.0, 0.6), _scored("I1", 20.0, 0.999, fuzzy=True)], ledger,
                         POLICY)
    assert (d.outcome, d.rule, d.allocations[0].invoice_id) == ("auto_settled", "fellegi_sunter", "I1")
    p1 = 2.0 ** 20 / (1 + 2.0 ** 20 + 2.0)
    assert d.confidence == p1
    assert d.explanation["runner_up_posterior"] == 2.0 / (1 + 2.0 ** 20 + 2.0)
    assert d.explanation["candidates_scored"] == 2 and d.explanation["weights"] == {"amount": 3.0}


def test_a_likely_candidate_without_a_name_or_explained_difference_is_proposed_or_questioned():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    odd = cm.decide_scored(_line(9300), [_scored("I1", 20.0, 0.999)], ledger, POLICY)
    assert odd.outcome == "proposed" and odd.reason.startswith("best candidate's probability is 1.000, but the text "
                                                               "names no invoice and the difference of -700 minor")
    assert odd.allocations == [cm.Allocation("I1", 10000, "GBP", 9300)] and ledger.due["I1"] == 10000
    close = cm.decide_scored(_line(10000), [_scored("I1", 1.0, 0.6), _scored("I2", 0.5, 0.5)], ledger, POLICY)
    assert close.outcome == "exception" and close.reason.endswith(": two candidates are close, pick the right one")
    assert close.allocations == [] and len(close.candidates) == 2
    # with 60 bits the odds are capped: the runner-up still counts
    capped = cm.decide_scored(_line(10000), [_scored("I1", 500.0, 1.0, by_ref=True)], ledger, POLICY)
    assert capped.confidence == 2.0 ** 60 / (1 + 2.0 ** 60)


def _odds_share(w: float, *others: float) -> float:
    """A candidate's posterior among all: its odds 2**w over one plus every candidate's odds."""
    return 2.0 ** w / (1 + 2.0 ** w + sum(2.0 ** o for o in others))


def test_a_model_settlement_is_recorded_whole():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    best = _scored("I1", 10.0, 0.999, by_ref=True)
    del best["weights"]  # a candidate scored without per-comparison weights: none shown
    d = cm.decide_scored(_line(10000), [best], ledger, POLICY)
    p1 = _odds_share(10.0)
    assert d == cm.Decision(
        line_id="L1", outcome="auto_settled", rule="fellegi_sunter", confidence=p1, line_amount_minor=10000,
        line_currency="GBP", allocations=[cm.Allocation("I1", 10000, "GBP", 10000)], amount_kind="exact",
        reason="amount equals the amount due (fellegi sunter)",
        explanation={"match_probability": 0.999, "match_weight": 10.0, "posterior_among_candidates": p1,
                     "weights": {}, "runner_up_posterior": 0.0, "candidates_scored": 1, "expected_minor": 10000,
                     "difference_minor": 0})
    assert ledger.due["I1"] == 0


def test_the_model_settles_a_candidate_named_by_reference_typo_or_digits_alike():
    for named in ({"by_ref": True}, {"fuzzy": True}, {"digits": True}):
        ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
        d = cm.decide_scored(_line(9300), [_scored("I1", 20.0, 0.999, **named)], ledger, POLICY)
        assert (d.outcome, d.amount_kind) == ("exception", "partial"), named  # named, but short: never a part payment
        assert d.candidates == [{**cm._candidate(_scored("I1", 20.0, 0.999, **named)), "remaining_due_minor": 10000}]


def test_a_model_exception_lists_the_three_best_open_candidates():
    ledger = cm.Ledger({f"I{i}": 10000 for i in range(1, 6)} | {"I0": 0}, {})
    scored = [_scored("I0", 30.0, 0.9999), _scored("I4", 2.0, 0.5), _scored("I1", 4.0, 0.7), _scored("I3", 3.0, 0.6),
              _scored("I2", 1.0, 0.4)]
    d = cm.decide_scored(_line(10000), scored, ledger, POLICY)
    p1, p2 = _odds_share(4.0, 3.0, 2.0, 1.0), _odds_share(3.0, 4.0, 2.0, 1.0)
    assert d == cm.Decision(
        line_id="L1", outcome="proposed", rule="fellegi_sunter", confidence=p1, line_amount_minor=10000,
        line_currency="GBP", allocations=[cm.Allocation("I1", 10000, "GBP", 10000)], amount_kind="n/a",
        reason=f"best candidate's probability is {p1:.3f} (runner-up {p2:.3f}), below the automatic threshold 0.99"
               ": two candidates are close, pick the right one",
        explanation={"match_probability": 0.7, "match_weight": 4.0, "posterior_among_candidates": p1,
                     "weights": {"amount": 3.0}, "runner_up_posterior": p2, "candidates_scored": 4},
        candidates=[{**cm._candidate(r), "remaining_due_minor": 10000} for r in (scored[2], scored[3], scored[1])])
    assert ledger.due["I1"] == 10000  # a proposal waits for a person


def test_a_settlement_refused_after_the_model_chose_lists_the_three_best():
    ledger = cm.Ledger({f"I{i}": 10000 for i in range(1, 5)}, {})
    scored = [_scored(f"I{i}", w, 0.9, by_ref=True) for i, w in ((1, 30.0), (2, 3.0), (3, 2.0), (4, 1.0))]
    d = cm.decide_scored(_line(20000), scored, ledger, POLICY)  # over-paid: an exception, not a settlement
    assert (d.outcome, d.rule, d.amount_kind) == ("exception", "fellegi_sunter", "over")
    assert [c["invoice_id"] for c in d.candidates] == ["I1", "I2", "I3"]
    assert all(c["remaining_due_minor"] == 10000 for c in d.candidates)


def test_the_model_thresholds_are_inclusive():
    p1 = _odds_share(20.0)
    at_auto = cm.CashPolicy(auto_threshold=p1)
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    d = cm.decide_scored(_line(9300), [_scored("I1", 20.0, 0.9)], ledger, at_auto)
    assert (d.outcome, d.amount_kind, d.confidence) == ("proposed", "n/a", p1)
    assert d.reason == (f"best candidate's probability is {p1:.3f}, but the text names no invoice and the difference "
                        "of -700 minor units is neither a bank charge, rounding nor an FX conversion: confirm it")
    settled = cm.decide_scored(_line(10000), [_scored("I1", 20.0, 0.9, by_ref=True)], ledger, at_auto)
    assert settled.outcome == "auto_settled"
    p1 = _odds_share(1.0)
    at_propose = cm.CashPolicy(propose_threshold=p1)
    ledger = cm.Ledger({"I1": 10000}, {"I1": "GBP"})
    assert cm.decide_scored(_line(10000), [_scored("I1", 1.0, 0.5)], ledger, at_propose).outcome == "proposed"
    above = cm.CashPolicy(propose_threshold=p1 + 1e-9)
    assert cm.decide_scored(_line(10000), [_scored("I1", 1.0, 0.5)], ledger, above).outcome == "exception"


def test_candidates_are_close_when_the_runner_up_has_more_than_a_quarter_of_the_best_odds():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    quarter = cm.decide_scored(_line(10000), [_scored("I1", 2.0, 0.6), _scored("I2", 0.0, 0.5)], ledger, POLICY)
    assert quarter.reason == "best candidate's probability is 0.667 (runner-up 0.167), below the automatic threshold 0.99"
    more = cm.decide_scored(_line(10000), [_scored("I1", 2.0, 0.6), _scored("I2", 0.1, 0.5)], ledger, POLICY)
    assert more.reason.endswith("0.99: two candidates are close, pick the right one")


def test_the_odds_are_capped_at_60_bits():
    ledger = cm.Ledger({"I1": 10000, "I2": 10000}, {"I1": "GBP", "I2": "GBP"})
    d = cm.decide_scored(_line(10000), [_scored("I1", 500.0, 1.0), _scored("I2", 59.0, 0.9)], ledger, POLICY)
    assert d.confidence == 2.0 ** 60 / (1 + 2.0 ** 60 + 2.0 ** 59)  # 2/3: 61 bits would give 4/5


# -- amount_subset: the pool, its sizes, the decision ------------------------------------------------------------

def _ledger(**due):
    return cm.Ledger(due, dict.fromkeys(due, "GBP"))


def test_a_subset_settlement_is_recorded_whole():
    d = cm.decide_subset(_line(10000), [_row("I1", 3000), _row("I2", 7000)], _ledger(I1=3000, I2=7000), POLICY,
                         required=frozenset({"I1", "I2"}))  # the text named both: the combination is exactly them
    assert d == cm.Decision(
        line_id="L1", outcome="auto_settled", rule="amount_subset", confidence=0.99, line_amount_minor=10000,
        line_currency="GBP", allocations=[cm.Allocation("I1", 3000, "GBP", 3000), cm.Allocation("I2", 7000, "GBP", 7000)],
        amount_kind="exact", reason="amount equals the amount due (amount subset)",
        explanation={"invoices": ["I1", "I2"], "named_in_text": ["I1", "I2"], "expected_minor": 10000,
                     "difference_minor": 0})


def test_the_subset_pool_is_the_payers_open_invoices_in_the_line_currency_each_once():
    pair = [_row("I1", 3000), _row("I2", 7000)]
    def settles(rows):
        due = _ledger(I1=3000, I2=7000, I3=10000, I4=7000, I5=5000)
        return cm.decide_subset(_line(10000), rows, due, POLICY) is not None

    assert settles(pair)
    assert settles(pair + [_row("I3", 10000, contact="C2")])  # as much as the line: not part of a combination
    assert settles(pair + [_row("I5", 5000, same=False, sim=1.0, contact="C2")])  # another payer, by name only
    assert settles(pair + [_row("I4", 7000, ccy="EUR")])  # another currency
    assert not settles([_row("I5", 5000), _row("I5", 5000)])  # one invoice read twice is not a pair
    assert not settles([_row("I1", 3000), _row("I2", 7000, contact="C2")])  # two contacts
    by_name = [_row("I1", 3000, same=False, sim=0.93), _row("I2", 7000, same=False, sim=0.93)]
    assert settles(by_name)  # no exact payer: names at least as similar as counterparty_min_similarity
    assert not settles([_row("I1", 3000, same=False, sim=0.929), _row("I2", 7000, same=False, sim=0.93)])


def test_the_subset_window_is_inclusive_at_both_ends():
    due = _ledger(I1=3000, I2=7000)
    edges = [_row("I1", 3000, days=-7), _row("I2", 7000, days=180)]
    assert cm.decide_subset(_line(10000), edges, due, POLICY).invoice_ids == ["I1", "I2"]
    assert cm.decide_subset(_line(10000), [_row("I1", 3000, days=-8), _row("I2", 7000)], due, POLICY) is None
    assert cm.decide_subset(_line(10000), [_row("I1", 3000, days=181), _row("I2", 7000)], due, POLICY) is None


def test_pairs_come_from_three_times_triples_one_and_a_half_quadruples_once_the_candidate_count():
    # the pool sorted by distance in days; one = max_subset_candidates
    far_pair = [_row("A", 1, days=1), _row("B", 2, days=2), _row("C", 4, days=3), _row("D", 100, days=4)]
    due = _ledger(A=1, B=2, C=4, D=100)
    one = cm.CashPolicy(max_subset_candidates=1)
    near_d = far_pair[:3] + [{**far_pair[3], "days_after_invoice": 0}]
    assert cm.decide_subset(_line(101), near_d, due, one).invoice_ids == ["D", "A"]
    assert cm.decide_subset(_line(104), far_pair, _ledger(A=1, B=2, C=4, D=100), one) is None  # D 4th: beyond 3 x 1
    two = cm.CashPolicy(max_subset_candidates=2)
    assert cm.decide_subset(_line(7), far_pair, _ledger(A=1, B=2, C=4, D=100), two).invoice_ids == ["A", "B", "C"]
    assert cm.decide_subset(_line(107), far_pair, _ledger(A=1, B=2, C=4, D=100), POLICY).invoice_ids == [
        "A", "B", "C", "D"]


# -- amount_tolerance --------------------------------------------------------------------------------------------

def test_an_amount_tolerance_settlement_is_recorded_whole():
    d = cm.decide_amount_tolerance(_line(9850), [_row("I1", 10000, sim=0.93456, days=180)], _ledger(I1=10000), POLICY)
    assert d == cm.Decision(
        line_id="L1", outcome="auto_settled", rule="amount_tolerance", confidence=0.99, line_amount_minor=9850,
        line_currency="GBP", allocations=[cm.Allocation("I1", 10000, "GBP", 10000)], writeoff_minor=-150,
        amount_kind="writeoff", reason="difference of -150 minor units written off (within tolerance) (amount tolerance)",
        explanation={"name_similarity": 0.935, "days_after_invoice": 180, "expected_minor": 10000,
                     "difference_minor": -150})
    assert cm.decide_amount_tolerance(_line(9850), [_row("I1", 10000, days=0)], _ledger(I1=10000), POLICY) is not None
    assert cm.decide_amount_tolerance(_line(9850), [_row("I1", 10000, days=181)], _ledger(I1=10000), POLICY) is None


def test_amount_tolerance_judges_a_same_currency_difference_as_a_charge_not_a_conversion():
    # 1.27 short on a pound invoice: no tariff; as a conversion it would fit
    assert cm.decide_amount_tolerance(_line(9873), [_row("I1", 10000)], _ledger(I1=10000), POLICY) is None


def test_amount_tolerance_leaves_a_line_whose_text_names_another_of_the_payers_invoices():
    def decided(line, rows):
        return cm.decide_amount_tolerance(line, rows, _ledger(I1=10000, I2=0), POLICY) is not None

    hit = _row("I1", 10000)
    for named in ({"fuzzy": True}, {"digits": True}, {"by_ref": True}):
        assert not decided(_line(9850), [hit, _row("I2", 5000, **named)]), named
    assert decided(_line(9850), [hit, _row("I2", 5000, fuzzy=True, contact="C2")])  # another payer's invoice
    assert decided(_line(9850), [_row("I1", 10000, by_ref=True)])  # the text names the fitting invoice itself
    names = {**_line(9850), "names_invoice": True}
    assert decided(names, [_row("I1", 10000, fuzzy=True)]) and decided(names, [_row("I1", 10000, digits=True)])


# -- the named invoices: as written, repaired, or judged ---------------------------------------------------------

def test_named_invoices_that_fit_as_written_are_settled_by_reference():
    rows = [_row("I1", 10000, by_ref=True), _row("I2", 10000, fuzzy=True)]
    d = cm.decide_named(_line(10000), rows, _ledger(I1=10000, I2=10000), POLICY)
    assert d == cm.decide_reference(_line(10000), rows, _ledger(I1=10000, I2=10000), POLICY)
    assert (d.rule, d.invoice_ids) == ("exact_reference", ["I1"])


def test_named_invoices_that_do_not_fit_are_repaired_or_judged_as_written():
    rows = [_row("I1", 3000, by_ref=True), _row("I2", 7000, fuzzy=True)]
    d = cm.decide_named(_line(10000), rows, _ledger(I1=3000, I2=7000), POLICY)
    assert (d.rule, d.invoice_ids) == ("near_reference", ["I1", "I2"])
    over = cm.decide_named(_line(50000), [_row("I1", 3000, by_ref=True)], _ledger(I1=3000), POLICY)
    assert over == cm.decide_reference(_line(50000), [_row("I1", 3000, by_ref=True)], _ledger(I1=3000), POLICY)
    assert (over.outcome, over.rule, over.amount_kind) == ("exception", "exact_reference", "over")


def test_a_repaired_reading_is_recorded_whole():
    rows = [_row("I1", 3000, by_ref=True), _row("I2", 7000, fuzzy=True, digits=True, sim=0.93456),
            _row("I3", 500, digits=True)]
    d = cm.decide_near_reference(_line(10000), rows, _ledger(I1=3000, I2=7000, I3=500), POLICY)
    assert d == cm.Decision(
        line_id="L1", outcome="auto_settled", rule="near_reference", confidence=0.99, line_amount_minor=10000,
        line_currency="GBP", allocations=[cm.Allocation("I1", 3000, "GBP", 3000), cm.Allocation("I2", 7000, "GBP", 7000)],
        amount_kind="exact", reason="amount equals the amount due (near reference)",
        explanation={"invoices": ["I1", "I2"], "named_exactly": ["I1"], "one_typo_away": ["I2"], "digits": ["I2"],
                     "name_similarity": [1.0, 0.935], "expected_minor": 10000, "difference_minor": 0})


def test_one_named_invoice_that_fits_alone_is_taken_over_combinations():
    rows = [_row("I1", 3000, by_ref=True), _row("I2", 7000, fuzzy=True), _row("I3", 9900, digits=True)]
    d = cm.decide_near_reference(_line(9850), rows, _ledger(I1=3000, I2=7000, I3=9900), POLICY)
    assert (d.invoice_ids, d.amount_kind) == (["I3"], "writeoff")  # not I1 + I2 (short by 150 too)
    big = [_row("I1", 20000, by_ref=True), _row("I3", 9900, digits=True)]
    d = cm.decide_near_reference(_line(9850), big, _ledger(I1=20000, I3=9900), POLICY)
    assert d.invoice_ids == ["I3"]  # not a part payment of the first named


def test_repaired_combinations_are_of_two_three_or_four_named_invoices_exactly_named_first():
    def near(amount, rows, policy=POLICY):
        due = {r["invoice_id"]: r["amount_due_minor"] for r in rows}
        return cm.decide_near_reference(_line(amount), rows, _ledger(**due), policy)

    four = [_row("A", 1, fuzzy=True), _row("B", 2, fuzzy=True), _row("C", 4, fuzzy=True), _row("D", 8, fuzzy=True)]
    assert near(7, four).invoice_ids == ["A", "B", "C"]
    assert near(15, four).invoice_ids == ["A", "B", "C", "D"]
    assert near(16, four + [_row("E", 1, fuzzy=True, contact="C2")]) is None  # D + A + ... no: contacts differ
    two = cm.CashPolicy(max_subset_candidates=2)
    named_far = [_row("A", 1, by_ref=True, days=50), _row("B", 2, fuzzy=True, days=1), _row("C", 4, fuzzy=True, days=2)]
    assert near(3, named_far, two).invoice_ids == ["A", "B"]  # the exactly named invoice kept in the pool first


def test_an_automatic_settlement_of_an_unknown_invoice_leaves_it_owing_the_negative():
    ledger = cm.Ledger({}, {})
    d = cm.Decision("L1", "auto_settled", "exact_reference", 1.0, 500, "GBP", [cm.Allocation("X", 500, "GBP", 500)])
    assert ledger.apply(d) is d and ledger.due == {"X": -500} and ledger.decided == {"L1"}
