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
