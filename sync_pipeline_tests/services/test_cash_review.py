"""What a person (and a rule template) decides about cash-matching exceptions.

Decisions come from a real matching run over a small hand-made ledger (candidates as the pipeline writes them) or
are recorded by hand where a test needs an exact shape (an exception the cascade left with a shortfall).
"""

from __future__ import annotations

import pandas as pd
import pytest

from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.services import cash_reconcile, cash_review
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.operational import OperationalStore

POLICY = CashPolicy()
ENTITY, PERIOD = "acme-uk", "2026-03"
ACME, BETA, GAMMA = "C-ACME", "C-BETA", "C-GAMMA"
PAYMENT_COLUMNS = ["payment_id", "invoice_id", "amount_minor", "currency", "bank_amount_minor", "date", "reference"]


def _invoice(iid: str, contact_id: str, contact_name: str, due_minor: int) -> dict:
    return {"invoice_id": iid, "invoice_number": f"INV-{iid}", "reference": f"REF-{iid}", "contact_id": contact_id,
            "contact_name": contact_name, "currency": "GBP", "total_minor": due_minor, "amount_due_minor": due_minor,
            "date": "2026-02-10", "due_date": "2026-03-10"}


INVOICES = pd.DataFrame([
    _invoice("0001", ACME, "Acme Ltd", 120000), _invoice("0002", ACME, "Acme Ltd", 84550),
    _invoice("0003", BETA, "Beta Services", 50000),
    _invoice("0004", GAMMA, "Gamma Consulting", 30000), _invoice("0005", GAMMA, "Gamma Consulting", 30000),
])


def _line(lid: str, amount_minor: int, payer: str, text: str, day: str = "2026-03-05") -> dict:
    return {"line_id": f"090:{lid}", "account": "090", "date": day, "amount_minor": amount_minor, "currency": "GBP",
            "payer_name": payer, "description": text}


@pytest.fixture
def log(tmp_path) -> ml.MatchingLog:
    return ml.MatchingLog(OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}"))


def _match(log: ml.MatchingLog, lines: list[dict]) -> dict[str, dict]:
    """A real matching run over the hand-made ledger; the open decisions by line id."""
    cash_reconcile.match_period(pd.DataFrame(lines), INVOICES, pd.DataFrame(columns=PAYMENT_COLUMNS), entity=ENTITY,
                                period=PERIOD, log_=log, policy=POLICY, bank_currency="GBP", actor="test run")
    return {d["line_id"]: d for d in log.decisions(entity=ENTITY, limit=1000)}


def _record(log: ml.MatchingLog, lid: str, amount_minor: int, *, payer: str, allocations=(), candidates=(),
            outcome: str = "exception") -> int:
    """An open decision exactly as a matching run writes it (allocations and candidates as given)."""
    return log.record(ENTITY, PERIOD, [{
        "line_id": f"090:{lid}", "outcome": outcome, "rule": "exact_reference", "confidence": 1.0,
        "line_amount_minor": amount_minor, "line_currency": "GBP", "account": "090", "payer_name": payer,
        "description": "remittance", "line_date": "2026-03-05", "reason": "hand-made",
        "allocations": [{"invoice_id": i, "invoice_number": f"INV-{i}", "contact_name": "someone",
                         "applied_minor": due, "currency": "GBP", "line_share_minor": due} for i, due in allocations],
        "candidates": [{"invoice_id": i, "invoice_number": f"INV-{i}", "invoice_currency": "GBP", "amount_due_minor": due,
                        "remaining_due_minor": due, "expected_line_minor": due, "contact_id": cid,
                        "name_similarity": 0.5} for i, cid, due in candidates],
    }], actor="test run")[0]


def _template(log: ml.MatchingLog, kind: str, **params) -> int:
    return cash_review.create_template(log, kind, kind, params, actor="admin")


def _apply(log: ml.MatchingLog, tid: int) -> dict:
    return cash_review.apply_template(log, tid, ["090"], actor="alice", role="accountant", policy_for=lambda e: POLICY)


# -- candidates and aliases -------------------------------------------------------------------------------------
def test_every_candidate_names_its_invoices_contact(log):
    decisions = _match(log, [_line("b1", 84550, "NORTHWIND HOLDINGS", "remittance march"),
                             _line("b2", 29800, "Gamma Consulting", "payment", "2026-03-06")])
    contact_of = dict(zip(INVOICES["invoice_id"], INVOICES["contact_id"], strict=True))
    cands = [c for d in decisions.values() for c in d["candidates"]]
    assert len(cands) >= 3
    assert all(c["contact_id"] == contact_of[c["invoice_id"]] for c in cands)


def test_accepting_another_payers_receipt_teaches_the_alias_the_next_run_uses(log):
    first = _match(log, [_line("b1", 84550, "NORTHWIND HOLDINGS", "remittance march")])["090:b1"]
    assert first["status"] == ml.OPEN and first["candidates"][0]["invoice_id"] == "0002"
    cash_review.accept(log, first["decision_id"], actor="alice", role="accountant", policy=POLICY, invoice_id="0002")
    # kept as a keyed hash of the name's key (a payer may be a person), never in clear
    assert [(a["payer_name"], a["contact_id"]) for a in log.aliases(ENTITY)] == [(log.payer_hash("Northwind Holdings"),
                                                                                 ACME)]
    # the parent company pays Acme's other invoice, no reference: the alias makes it Acme's own receipt
    later = _match(log, [_line("b9", 120000, "NORTHWIND HOLDINGS", "payment", "2026-03-20")])["090:b9"]
    assert (later["status"], [a["invoice_id"] for a in later["allocations"]]) == (ml.TO_SETTLE, ["0001"])


def test_payer_alias_template_accepts_the_contacts_one_fitting_invoice_and_teaches_the_alias(log):
    decision = _match(log, [_line("b1", 84550, "NORTHWIND HOLDINGS", "remittance march")])["090:b1"]
    res = _apply(log, _template(log, "payer_alias", payer_contains="northwind", contact_id=ACME))
    assert res["accepted"] == [decision["decision_id"]]
    d = log.decision(decision["decision_id"])
    assert d["status"] == ml.TO_SETTLE and d["writeoff_minor"] == 0
    assert [(a["invoice_id"], a["applied_minor"]) for a in d["allocations"]] == [("0002", 84550)]
    assert log.history(d["decision_id"])[-1]["action"] == "rule_applied"
    assert [(a["payer_name"], a["contact_id"]) for a in log.aliases(ENTITY)] == [(log.payer_hash("NORTHWIND HOLDINGS"),
                                                                                 ACME)]


def test_payer_alias_template_never_accepts_another_contacts_invoice(log):
    other = _record(log, "x1", 50000, payer="NORTHWIND HOLDINGS", allocations=[("0003", 50000)],
                    candidates=[("0003", BETA, 50000)], outcome="proposed")
    res = _apply(log, _template(log, "payer_alias", payer_contains="northwind", contact_id=ACME))
    assert res["accepted"] == []
    assert "no candidate invoice of contact C-ACME" in res["skipped"][other]
    assert log.decision(other)["status"] == ml.OPEN


def test_payer_alias_template_leaves_two_fitting_invoices_to_a_person(log):
    decision = _match(log, [_line("b2", 30000, "GAMMA CONSULTING LIMITED", "payment", "2026-03-06")])["090:b2"]
    assert {c["invoice_id"] for c in decision["candidates"]} == {"0004", "0005"}
    res = _apply(log, _template(log, "payer_alias", payer_contains="gamma", contact_id=GAMMA))
    assert res["accepted"] == []
    assert "2 invoices of contact C-GAMMA fit" in res["skipped"][decision["decision_id"]]
    assert log.decision(decision["decision_id"])["status"] == ml.OPEN


def test_payer_alias_template_leaves_a_part_payment_to_a_person(log):
    short = _record(log, "x2", 60000, payer="NORTHWIND HOLDINGS", allocations=[("0001", 120000)],
                    candidates=[("0001", ACME, 120000)])
    res = _apply(log, _template(log, "payer_alias", payer_contains="northwind", contact_id=ACME))
    assert res["accepted"] == [] and "less than" in res["skipped"][short]
    assert log.decision(short)["status"] == ml.OPEN


# -- write-off template ---------------------------------------------------------------------------------------
def test_writeoff_template_never_settles_a_shortfall_as_a_part_payment(log):
    short = _record(log, "w1", 111673, payer="Acme Ltd", allocations=[("0001", 180000)],
                    candidates=[("0001", ACME, 180000)])
    res = _apply(log, _template(log, "writeoff_difference", max_amount="5.00", account="404"))
    assert res["accepted"] == []
    assert "683.27" in res["skipped"][short] and "above the template's 5.00" in res["skipped"][short]
    d = log.decision(short)
    assert d["status"] == ml.OPEN and [a["applied_minor"] for a in d["allocations"]] == [180000]


def test_writeoff_template_settles_only_differences_within_its_limit(log):
    fee = _record(log, "w2", 99700, payer="Acme Ltd", allocations=[("0001", 100000)],
                  candidates=[("0001", ACME, 100000)])
    surplus = _record(log, "w3", 50400, payer="Beta Services", allocations=[("0003", 50000)],
                      candidates=[("0003", BETA, 50000)])
    # 8.00 short is within the policy's tolerance (20.00 and 5 %) but above the template's 5.00
    above = _record(log, "w4", 84550 - 800, payer="Acme Ltd", allocations=[("0002", 84550)],
                    candidates=[("0002", ACME, 84550)])
    res = _apply(log, _template(log, "writeoff_difference", max_amount="5.00", account="6800"))
    assert sorted(res["accepted"]) == [fee, surplus]
    assert (log.decision(fee)["writeoff_minor"], log.decision(fee)["writeoff_account"]) == (-300, "6800")
    assert log.decision(fee)["allocations"][0]["applied_minor"] == 100000
    assert log.decision(surplus)["writeoff_minor"] == 400
    assert log.decision(above)["status"] == ml.OPEN and "8.00" in res["skipped"][above]


def test_writeoff_template_leaves_two_equal_candidates_to_a_person(log):
    # the model proposes the first of two invoices of the same amount; the runner-up fits just as well
    two = _record(log, "w5", 29800, payer="Gamma Consulting", allocations=[("0004", 30000)],
                  candidates=[("0004", GAMMA, 30000), ("0005", GAMMA, 30000)], outcome="proposed")
    # no proposal at all, two candidates: the amount alone never picks one
    none = _record(log, "w8", 29800, payer="Gamma Consulting",
                   candidates=[("0004", GAMMA, 30000), ("0005", GAMMA, 30000)])
    res = _apply(log, _template(log, "writeoff_difference", max_amount="5.00"))
    assert res["accepted"] == []
    assert "2 candidate invoices fit within 5.00 (INV-0004, INV-0005)" in res["skipped"][two]
    assert "proposes no invoice" in res["skipped"][none]
    assert {log.decision(i)["status"] for i in (two, none)} == {ml.OPEN}


def test_writeoff_template_leaves_a_combination_of_invoices_to_a_person(log):
    both = _record(log, "w6", 149800, payer="Acme Ltd", allocations=[("0001", 120000), ("0006", 30000)],
                   candidates=[("0001", ACME, 120000), ("0006", ACME, 30000)])
    res = _apply(log, _template(log, "writeoff_difference", max_amount="5.00"))
    assert res["accepted"] == [] and "2 invoices together" in res["skipped"][both]


@pytest.mark.parametrize("bad", ["", "abc", "-1", "inf", "nan", "1e400", "5.001"])
def test_writeoff_template_needs_a_plain_non_negative_amount(log, bad):
    with pytest.raises(cash_review.ReviewError, match="max_amount"):
        _template(log, "writeoff_difference", max_amount=bad)
    assert log.templates() == []


def test_a_person_accepting_a_combination_must_choose_an_invoice(log):
    both = _record(log, "w7", 140000, payer="Acme Ltd", allocations=[("0001", 120000), ("0006", 30000)],
                   candidates=[("0001", ACME, 120000), ("0006", ACME, 30000)])
    with pytest.raises(cash_review.ReviewError, match="2 invoices together"):
        cash_review.accept(log, both, actor="alice", role="accountant", policy=POLICY)
    assert log.decision(both)["status"] == ml.OPEN
