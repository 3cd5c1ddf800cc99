"""Candidate generation (the SQL models) on hand-made ledgers: learned payer aliases, typo'd numbers, retainers."""

import pandas as pd

from sync_pipeline.services.cash_matching import CashInputs, match_cash


def _invoices(*rows):
    return pd.DataFrame([{"invoice_id": i, "invoice_number": n, "reference": f"SP-acme-2026-01-C1-R{k}",
                          "contact_id": c, "contact_name": name, "currency": "GBP", "total_minor": amt,
                          "amount_due_minor": amt, "date": d, "due_date": d}
                         for k, (i, n, c, name, amt, d) in enumerate(rows)])


def _lines(*rows):
    return pd.DataFrame([{"line_id": lid, "account": "090", "date": d, "amount_minor": amt, "currency": "GBP",
                          "payer_name": payer, "description": text} for lid, d, amt, payer, text in rows])


def _by_line(run):
    return {d.line_id: d for d in run.decisions}


def test_a_parent_company_paying_with_a_reference_teaches_its_name_for_payments_without_one():
    inv = _invoices(("I1", "INV-000001", "C1", "Acme Widgets Ltd", 120000, "2026-01-05"),
                    ("I2", "INV-000002", "C1", "Acme Widgets Ltd", 87654, "2026-01-20"),
                    ("I3", "INV-000003", "C2", "Zenith Foods plc", 87654, "2026-01-21"))
    lines = _lines(("L1", "2026-01-25", 120000, "GLOBEX HOLDINGS", "INV-000001"),
                   ("L2", "2026-02-10", 87654, "GLOBEX HOLDINGS", "BACS PAYMENT"))
    d = _by_line(match_cash(CashInputs(lines, inv)))
    assert (d["L1"].outcome, d["L1"].invoice_ids) == ("auto_settled", ["I1"])
    # the same amount is due from another customer too: only the learned alias says it is Acme's
    assert (d["L2"].outcome, d["L2"].rule, d["L2"].invoice_ids) == ("auto_settled", "amount_counterparty", ["I2"])


def test_without_the_lesson_the_payment_is_not_guessed():
    inv = _invoices(("I2", "INV-000002", "C1", "Acme Widgets Ltd", 87654, "2026-01-20"),
                    ("I3", "INV-000003", "C2", "Zenith Foods plc", 87654, "2026-01-21"))
    lines = _lines(("L2", "2026-02-10", 87654, "GLOBEX HOLDINGS", "BACS PAYMENT"))
    assert _by_line(match_cash(CashInputs(lines, inv)))["L2"].outcome != "auto_settled"


def test_a_typo_in_a_leading_zero_is_one_typo_away():
    inv = _invoices(("I416", "INV-000416", "C1", "Orion Health LLP", 61612, "2026-02-21"),
                    ("I700", "INV-700416", "C2", "Quarry Media Ltd", 99000, "2026-02-01"))
    lines = _lines(("L1", "2026-03-19", 61612, "ORION HEALTH LLP", "INV-700416"))
    d = _by_line(match_cash(CashInputs(lines, inv)))["L1"]
    assert (d.outcome, d.rule, d.invoice_ids) == ("auto_settled", "near_reference", ["I416"])


def test_an_invoice_numbered_by_quickbooks_is_named_exactly_by_its_bare_number():
    # QuickBooks Online numbers invoices 1001, 1002, ...: no prefix, so the number as the target wrote it is the
    # reference; another customer owes the same amount, and the payer's name is not the contact's
    inv = _invoices(("Q1", "1001", "C1", "Acme Widgets Inc", 87654, "2026-01-20"),
                    ("Q2", "1002", "C1", "Acme Widgets Inc", 50000, "2026-01-21"),
                    ("Q3", "1003", "C2", "Zenith Foods LLC", 50000, "2026-01-21"))
    lines = _lines(("L1", "2026-02-10", 50000, "GLOBEX HOLDINGS", "Payment 1002"))
    d = _by_line(match_cash(CashInputs(lines, inv)))["L1"]
    assert (d.outcome, d.rule, d.invoice_ids) == ("auto_settled", "exact_reference", ["Q2"])


def test_a_bare_number_that_is_no_invoice_number_names_no_invoice():
    inv = _invoices(("Q2", "1002", "C1", "Acme Widgets Inc", 50000, "2026-01-21"),
                    ("Q3", "1003", "C2", "Zenith Foods LLC", 50000, "2026-01-21"))
    lines = _lines(("L1", "2026-02-10", 50000, "GLOBEX HOLDINGS", "Payment 4711"))
    assert _by_line(match_cash(CashInputs(lines, inv)))["L1"].outcome != "auto_settled"
