"""Strict reading of QuickBooks documents: what reads, what is rejected (never crashed on, never coerced)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.qbo.records import read_documents

META = {"CreateTime": "2026-11-01T09:00:00-07:00", "LastUpdatedTime": "2026-11-02T09:00:00-07:00"}


def invoice(**kw: Any) -> dict[str, Any]:
    return {"Id": "145", "SyncToken": "0", "DocNumber": "1037", "TxnDate": "2026-10-31", "DueDate": "2026-11-30",
            "PrivateNote": "sync-pipeline ref: SP-acme-2026-10-C1-R1", "CustomerRef": {"value": "58", "name": "A"},
            "CurrencyRef": {"value": "EUR", "name": "Euro"}, "ExchangeRate": Decimal("1.08"),
            "TotalAmt": Decimal("270.00"), "Balance": Decimal("270.00"), "MetaData": META,
            "TxnTaxDetail": {"TotalTax": Decimal("20.00"), "TxnTaxCodeRef": {"value": "3"}}, **kw}


def test_a_documented_invoice_reads() -> None:
    typed, deleted, rejected = read_documents("Invoice", [invoice()], "USD")
    assert (len(typed), deleted, rejected) == (1, [], [])
    assert typed[0]["TotalAmt"] == Decimal("270.00")


def test_a_cdc_tombstone_is_a_deletion_not_a_broken_document() -> None:
    gone = {"domain": "QBO", "status": "Deleted", "Id": "146", "MetaData": META}
    typed, deleted, rejected = read_documents("Invoice", [gone, invoice()], "USD")
    assert [d["Id"] for d in deleted] == ["146"] and len(typed) == 1 and rejected == []


def test_each_odd_document_is_rejected_alone_with_its_id_field_and_problem() -> None:
    docs = [invoice(TotalAmt="270.00"), invoice(Id=145), invoice(Balance=Decimal("1.005")),
            invoice(CurrencyRef={"value": "XXX"}), invoice(TotalAmt=270.0), invoice(), "junk",
            {k: v for k, v in invoice().items() if k != "MetaData"}]
    typed, _, rejected = read_documents("Invoice", docs, "USD")
    assert len(typed) == 1
    by_row = {r.position: r for r in rejected}
    assert by_row[1].record == "145" and by_row[1].problems[0].field == "TotalAmt"
    assert "expected a JSON number, got the string '270.00'" in by_row[1].summary
    assert by_row[2].record == "position 2" and by_row[2].summary == "Id: expected a string, got the number 145"
    assert "whole EUR minor units" in by_row[3].summary
    assert by_row[4].problems[0].field == "CurrencyRef.value"
    assert "binary float" in by_row[5].summary
    assert by_row[7].record == "position 7" and "expected an object" in by_row[7].summary
    assert by_row[8].problems[0].field == "MetaData" and "missing" in by_row[8].summary


def test_a_company_without_multicurrency_reads_in_its_home_currency() -> None:
    doc = {k: v for k, v in invoice(TotalAmt=Decimal("1000"), Balance=Decimal("1000")).items()
           if k != "CurrencyRef"}
    typed, _, rejected = read_documents("Invoice", [doc], "JPY")
    assert len(typed) == 1 and rejected == []
    _, _, rejected = read_documents("Invoice", [{**doc, "TotalAmt": Decimal("1000.5")}], "JPY")
    assert "whole JPY minor units" in rejected[0].summary


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                           | st.decimals(allow_nan=False, allow_infinity=False, places=3) | st.floats(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)
FIELDS = ["Id", "TxnDate", "CustomerRef", "CurrencyRef", "TotalAmt", "Balance", "MetaData", "LinkedTxn", "DocNumber",
          "PrivateNote", "TxnTaxDetail", "Line", "ExchangeRate", "UnappliedAmt", "RemainingCredit", "status"]


@given(st.sampled_from(["Invoice", "CreditMemo", "Payment", "Customer"]),
       st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4), st.booleans())
def test_any_record_reads_or_is_rejected_by_position_never_crashes(entity: str, changes: dict, whole: bool) -> None:
    doc = {**(invoice() if whole else {}), **changes}
    typed, deleted, rejected = read_documents(entity, [doc, invoice()], "USD")
    assert len(typed) + len(deleted) + len(rejected) == 2
    for r in rejected:
        assert r.problems and r.record and r.position in (1, 2)
    alone, _, _ = read_documents(entity, [doc], "USD")
    for k, v in (alone[0] if alone else {}).items():  # what reads is exactly what was sent: nothing coerced
        assert v == doc[k] and type(v) is type(doc[k])
