"""Sync reconciliation by document and by client, project, tax code, account and currency."""

from decimal import Decimal

import pandas as pd

from sync_pipeline.contracts.payloads.accounting import Document, DocumentLineV1
from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.domain.reconciliation import COLUMNS, _align, _fmt, client_of_contact, reconcile_documents
from sync_pipeline.domain.reconciliation import _Line as _L


def _drafts():
    rows = [
        # reference, client, project, line, amount minor, ccy, tax, account
        ("SP-e-2026-10-C1-R1", "1", "11", 1, 30000, "GBP", "OUTPUT2", "200"),
        ("SP-e-2026-10-C1-R1", "1", "12", 2, 6750, "GBP", "OUTPUT2", "200"),
        ("SP-e-2026-10-C2-R1", "2", "21", 1, 44000, "EUR", "OUTPUT2", "200"),
        ("SP-e-2026-10-C3-R1", "3", "31", 1, 10000, "GBP", "NONE", "260"),
    ]
    return pd.DataFrame([{"reference": r, "client_id": c, "project_id": p, "line_no": n, "line_amount_minor": a,
                          "currency": ccy, "tax_type": t, "account_code": acc}
                         for r, c, p, n, a, ccy, t, acc in rows])


def _inv(ref, client, ccy, lines, status="AUTHORISED", number="INV-1", subtotal=None):
    """An accounting system's invoice, as a neutral document."""
    items = [DocumentLineV1(line_amount=Decimal(a), tax_type=t, account_code=acc) for a, t, acc in lines]
    return Document(kind="invoice", id=f"id-{number}", reference=ref, number=number, status=status, currency=ccy,
                    contact_number=f"HARVEST-{client}", contact_name=f"Client {client}", lines=items,
                    subtotal=sum((i.line_amount for i in items), Decimal(0)) if subtotal is None else subtotal)


def test_all_match_gives_no_breach_and_totals_per_dimension():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C2-R1", 2, "EUR", [("440.00", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C3-R1", 3, "GBP", [("100.00", "NONE", "260")])]
    df = reconcile_documents("e", "2026-10", _drafts(), target)
    SyncReconciliation.validate(df)
    assert not df["breach"].any()
    assert set(df["status"]) == {"match"}
    by = {(r.level, r.key, r.currency): (r.source_count, r.target_count, r.source_minor) for r in df.itertuples()}
    assert by[("currency", "GBP", "GBP")] == (2, 2, 46750)
    assert by[("currency", "EUR", "EUR")] == (1, 1, 44000)
    assert by[("client", "1", "GBP")] == (1, 1, 36750)
    assert by[("project", "12", "GBP")] == (1, 1, 6750)
    assert by[("tax_code", "OUTPUT2", "GBP")] == (2, 2, 36750)
    assert by[("tax_code", "NONE", "GBP")] == (1, 1, 10000)
    assert by[("account", "260", "GBP")] == (1, 1, 10000)


def test_missing_extra_and_mismatched_documents_are_listed_with_keys_and_details():
    target = [
        # line 2 changed by hand in the accounting system: 67.50 → 77.50, and a tax code changed
        _inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("77.50", "EXEMPTOUTPUT", "200")]),
        # C2 voided (so missing), C3 absent, an extra invoice under our prefix
        _inv("SP-e-2026-10-C2-R1", 2, "EUR", [("440.00", "OUTPUT2", "200")], status="VOIDED"),
        _inv("SP-e-2026-10-C9-R1", 9, "GBP", [("5.00", "OUTPUT2", "200")]),
    ]
    df = reconcile_documents("e", "2026-10", _drafts(), target)
    SyncReconciliation.validate(df)
    docs = df[df["level"] == "document"].set_index("key")
    assert docs.loc["SP-e-2026-10-C1-R1", "status"] == "mismatch"
    assert docs.loc["SP-e-2026-10-C1-R1", "diff_minor"] == 1000
    assert "line 2: 67.50 OUTPUT2 200 in the source, 77.50 EXEMPTOUTPUT 200" in docs.loc["SP-e-2026-10-C1-R1", "detail"]
    assert docs.loc["SP-e-2026-10-C2-R1", "status"] == "missing"
    assert docs.loc["SP-e-2026-10-C3-R1", "status"] == "missing"
    assert docs.loc["SP-e-2026-10-C9-R1", "status"] == "extra"
    assert docs["breach"].all()
    tax = df[(df["level"] == "tax_code") & (df["key"] == "EXEMPTOUTPUT")].iloc[0]
    assert (tax["source_count"], tax["target_count"], tax["target_minor"]) == (0, 1, 7750)


def test_amount_differences_within_tolerance_do_not_breach():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.01", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C2-R1", 2, "EUR", [("440.00", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C3-R1", 3, "GBP", [("100.00", "NONE", "260")])]
    strict = reconcile_documents("e", "2026-10", _drafts(), target)
    assert strict["breach"].any()
    lenient = reconcile_documents("e", "2026-10", _drafts(), target, tolerance_minor=1)
    assert not lenient["breach"].any()
    assert (lenient["status"] == "mismatch").sum() > 0  # still reported, just not failing


def test_lines_returned_in_another_order_still_match_and_keep_their_projects():
    # after a draft update the accounting system may list a document's lines in another order
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("67.50", "OUTPUT2", "200"), ("300.00", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C2-R1", 2, "EUR", [("440.00", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C3-R1", 3, "GBP", [("100.00", "NONE", "260")])]
    df = reconcile_documents("e", "2026-10", _drafts(), target)
    assert not df["breach"].any(), df[df["breach"]].to_dict("records")
    by = {(r.level, r.key, r.currency): (r.source_minor, r.target_minor) for r in df.itertuples()}
    assert by[("project", "11", "GBP")] == (30000, 30000)
    assert by[("project", "12", "GBP")] == (6750, 6750)


def test_a_changed_line_in_a_reordered_document_is_named_against_its_counterpart():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("77.50", "OUTPUT2", "200"), ("300.00", "OUTPUT2", "200")])]
    df = reconcile_documents("e", "2026-10", _drafts(), target)
    doc = df[(df["level"] == "document") & (df["key"] == "SP-e-2026-10-C1-R1")].iloc[0]
    assert doc["status"] == "mismatch" and doc["diff_minor"] == 1000
    assert "line 2: 67.50 OUTPUT2 200 in the source, 77.50 OUTPUT2 200" in doc["detail"]
    assert "line 1" not in doc["detail"]


def _rows(df, level):
    return {r.key: r._asdict() for r in df[df["level"] == level].itertuples(index=False)}


def test_every_column_of_a_missing_an_extra_and_a_matching_document():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C9-R1", 9, "USD", [("5.00", "OUTPUT2", "200")])]
    docs = _rows(reconcile_documents("e", "2026-10", _drafts(), target), "document")
    assert docs["SP-e-2026-10-C1-R1"] == {
        "entity": "e", "period": "2026-10", "level": "document", "key": "SP-e-2026-10-C1-R1", "currency": "GBP",
        "source_count": 2, "target_count": 2, "source_minor": 36750, "target_minor": 36750, "diff_minor": 0,
        "status": "match", "breach": False, "detail": ""}
    assert docs["SP-e-2026-10-C2-R1"] == {
        "entity": "e", "period": "2026-10", "level": "document", "key": "SP-e-2026-10-C2-R1", "currency": "EUR",
        "source_count": 1, "target_count": 0, "source_minor": 44000, "target_minor": 0, "diff_minor": -44000,
        "status": "missing", "breach": True,
        "detail": "drafted but not in the accounting system (voided, deleted or never posted): post it again or void "
                  "the draft"}
    assert docs["SP-e-2026-10-C9-R1"] == {
        "entity": "e", "period": "2026-10", "level": "document", "key": "SP-e-2026-10-C9-R1", "currency": "USD",
        "source_count": 0, "target_count": 1, "source_minor": 0, "target_minor": 500, "diff_minor": 500,
        "status": "extra", "breach": True,
        "detail": "in the accounting system under our reference but not drafted for this period: void it or find its "
                  "source"}


def test_a_document_in_another_currency_or_for_another_contact_always_breaches():
    target = [_inv("SP-e-2026-10-C1-R1", 7, "EUR", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")],
                   status="DELETED"),
              _inv("SP-e-2026-10-C1-R1", 7, "EUR", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")])]
    df = reconcile_documents("e", "2026-10", _drafts().iloc[:2], target, tolerance_minor=10**9)
    [doc] = _rows(df, "document").values()
    assert doc["status"] == "mismatch" and doc["breach"]
    assert doc["detail"] == ("currency GBP in the source, EUR in the accounting system; "
                             "client 1 in the source, contact of client 7 in the accounting system")


def test_line_count_and_subtotal_differences_are_described_in_money():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200"),
                                                   ("0.01", "OUTPUT2", "200")])]
    df = reconcile_documents("e", "2026-10", _drafts().iloc[:2], target, tolerance_minor=5)
    [doc] = _rows(df, "document").values()
    assert doc["detail"] == ("subtotal 367.50 in the source, 367.51 in the accounting system; "
                             "2 line(s) in the source, 3 in the accounting system")
    assert doc["breach"]  # another line count is never within tolerance
    proj = _rows(df, "project")
    assert proj["(unattributed)"]["target_minor"] == 1 and proj["(unattributed)"]["source_count"] == 0
    acct = _rows(df, "account")["200"]
    assert (acct["source_count"], acct["target_count"], acct["status"], acct["breach"]) == (2, 3, "mismatch", True)
    assert acct["detail"] == "2 vs 3 line(s), 367.50 vs 367.51"


def test_tolerance_is_inclusive_per_line_and_per_subtotal():
    def breach(amount: str, tol: int) -> bool:
        target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [(amount, "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")])]
        df = reconcile_documents("e", "2026-10", _drafts().iloc[:2], target, tolerance_minor=tol)
        return bool(df["breach"].any())

    assert not breach("300.02", 2) and breach("300.03", 2) and breach("299.97", 2) and not breach("299.98", 2)
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "NONE", "200")])]
    df = reconcile_documents("e", "2026-10", _drafts().iloc[:2], target, tolerance_minor=10**6)
    assert _rows(df, "document")["SP-e-2026-10-C1-R1"]["breach"]  # another tax code is never within tolerance
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "201")])]
    df = reconcile_documents("e", "2026-10", _drafts().iloc[:2], target, tolerance_minor=10**6)
    assert _rows(df, "document")["SP-e-2026-10-C1-R1"]["breach"]


def test_dimension_rows_are_ordered_by_level_then_key_and_currency():
    target = [_inv("SP-e-2026-10-C1-R1", 1, "GBP", [("300.00", "OUTPUT2", "200"), ("67.50", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C2-R1", 2, "EUR", [("440.00", "OUTPUT2", "200")]),
              _inv("SP-e-2026-10-C3-R1", 3, "GBP", [("100.00", "NONE", "260")])]
    df = reconcile_documents("e", "2026-10", _drafts(), target)
    assert list(df["level"].drop_duplicates()) == ["document", "currency", "client", "project", "tax_code", "account"]
    assert list(df[df["level"] == "currency"]["key"]) == ["EUR", "GBP"]
    assert list(df[df["level"] == "tax_code"][["key", "currency"]].itertuples(index=False, name=None)) == [
        ("NONE", "GBP"), ("OUTPUT2", "EUR"), ("OUTPUT2", "GBP")]


def test_contacts_name_their_source_client_by_number_else_by_name():
    assert client_of_contact("HARVEST-12", "Acme") == "12"
    assert client_of_contact("REDMINE-a-b") == "a-b"
    assert client_of_contact("C42", "Acme") == "C42"
    assert client_of_contact(None, "Acme") == "Acme"
    assert client_of_contact(None) == "(unattributed)"


def test_documents_without_a_reference_or_lines_and_unknown_currencies():
    inv = _inv(None, 1, "USD", [], subtotal=Decimal(5))
    df = reconcile_documents("e", "2026-10", None, [inv])
    [doc] = _rows(df, "document").values()
    assert (doc["key"], doc["currency"], doc["target_count"], doc["status"]) == ("(no reference) INV-1", "USD", 0,
                                                                                "extra")
    assert reconcile_documents("e", "2026-10", pd.DataFrame(), []).empty
    assert list(reconcile_documents("e", "2026-10", pd.DataFrame(), []).columns) == COLUMNS


def test_amounts_in_a_currency_without_minor_units_table_are_shown_as_minor_units():
    assert _fmt(1234, "GBP") == "12.34" and _fmt(1234, "JPY") == "1234"
    assert _fmt(1234, "XTS") == "1234 minor units" and _fmt(5, None) == "5 minor units"


def test_target_lines_pair_with_source_lines_by_content_then_in_order():
    src = [_L("GBP", 100, "1", "p1", "T", "200"), _L("GBP", 200, "1", "p2", "T", "200"),
           _L("GBP", 300, "1", "p3", "T", "200")]
    tgt = [_L("GBP", 300, "1", "(unattributed)", "T", "200"), _L("GBP", 999, "1", "(unattributed)", "T", "200"),
           _L("GBP", 100, "1", "(unattributed)", "T", "200"), _L("GBP", 5, "1", "(unattributed)", "X", "1")]
    out = _align(src, tgt)
    assert [(li.amount_minor, li.project) for li in out] == [(100, "p1"), (999, "p2"), (300, "p3"),
                                                             (5, "(unattributed)")]
    assert [(li.amount_minor, li.project) for li in _align(src[:1], [])] == []
    assert [li.project for li in _align([], tgt[:1])] == ["(unattributed)"]
