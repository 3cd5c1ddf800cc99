"""Bank statement files (CSV, OFX) and the matching log."""

import pytest

from sync_pipeline.connectors.bank_statements import StatementError, read_csv, read_ofx, read_statements, write_csv, write_ofx
from sync_pipeline.store.matching_log import MatchingLog
from sync_pipeline.store.operational import OperationalStore

ROWS = [
    {"date": "2026-03-02", "amount": "1200.50", "currency": "GBP", "payer": "ACME CORP", "description": "INV-000123",
     "bank_reference": "FP1"},
    {"date": "2026-03-03", "amount": "-15.00", "currency": "GBP", "payer": "BANK", "description": "FEE",
     "bank_reference": "FP2"},
]


def test_csv_and_ofx_give_the_same_lines(tmp_path):
    csv_lines = read_csv(write_csv(ROWS, tmp_path / "s.csv"), account="090", default_currency="GBP").lines
    ofx_lines = read_ofx(write_ofx(ROWS, tmp_path / "s.ofx", account="090", currency="GBP"), account="090").lines
    cols = ["line_id", "date", "amount_minor", "currency", "payer_name", "description"]
    assert csv_lines[cols].to_dict("records") == ofx_lines[cols].to_dict("records")
    assert list(csv_lines["amount_minor"]) == [120050, -1500]
    both = read_statements([tmp_path / "s.csv", tmp_path / "s.ofx"], account="090", default_currency="GBP")
    assert len(both.lines) == 2  # the same transactions in two files are one line each


def test_bad_rows_are_kept_with_a_reason_and_bad_files_say_what_to_do(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("date,amount,payer\n2026-03-02,12.345,X\nyesterday,1.00,Y\n2026-03-04,2.00,Z\n")
    st = read_csv(p, account="090", default_currency="GBP")
    assert len(st.lines) == 1
    assert [r["row"] for r in st.rejects.to_dict("records")] == [2, 3]
    assert "more decimals than GBP allows" in st.rejects.iloc[0]["reason"]
    (tmp_path / "nohead.csv").write_text("when,how much\n")
    with pytest.raises(StatementError, match="missing column"):
        read_csv(tmp_path / "nohead.csv", account="090", default_currency="GBP")


def test_matching_log_is_queryable_by_invoice_and_line_and_keeps_history(tmp_path):
    log = MatchingLog(OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}"))
    dec = {"line_id": "090:FP1", "outcome": "auto_settled", "rule": "exact_reference", "confidence": 1.0,
           "line_amount_minor": 120050, "line_currency": "GBP", "writeoff_minor": 0, "reason": "amount equals",
           "allocations": [{"invoice_id": "I-1", "invoice_number": "INV-000123", "contact_name": "Acme",
                            "applied_minor": 120050, "currency": "GBP", "line_share_minor": 120050}],
           "explanation": {"referenced": ["I-1"]}, "candidates": []}
    [first] = log.record("acme-uk", "2026-03", [dec], actor="run 1")
    assert log.by_invoice("INV-000123")[0]["decision_id"] == first
    assert log.by_invoice("I-1")[0]["explanation"] == {"referenced": ["I-1"]}
    # a later run re-decides an open line; the earlier open decision is superseded, not lost
    [open_id] = log.record("acme-uk", "2026-03", [{**dec, "line_id": "090:FP9", "outcome": "exception",
                                                   "allocations": []}], actor="run 1")
    [again] = log.record("acme-uk", "2026-03", [{**dec, "line_id": "090:FP9", "outcome": "exception",
                                                 "allocations": []}], actor="run 2")
    assert [d["status"] for d in log.by_line("090:FP9")] == ["superseded", "open"]
    assert log.final_lines("acme-uk") == {"090:FP1"}
    log.event(again, actor="alice", role="accountant", action="comment", text="called the customer")
    assert [e["action"] for e in log.history(again)] == ["decided", "comment"]
    assert open_id != again
