"""Sync reconciliation by document and by client, project, tax code, account and currency."""

from decimal import Decimal

import pandas as pd

from sync_pipeline.contracts.warehouse import SyncReconciliation
from sync_pipeline.domain.reconciliation import reconcile_documents


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


def _inv(ref, client, ccy, lines, status="AUTHORISED", number="INV-1"):
    items = [{"LineAmount": Decimal(a), "TaxType": t, "AccountCode": acc} for a, t, acc in lines]
    return {"Reference": ref, "InvoiceNumber": number, "Status": status, "CurrencyCode": ccy,
            "Contact": {"ContactNumber": f"HARVEST-{client}", "Name": f"Client {client}"},
            "SubTotal": sum((i["LineAmount"] for i in items), Decimal(0)), "LineItems": items}


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
