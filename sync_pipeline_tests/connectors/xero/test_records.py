"""Property-based test at the accounting boundary: whatever Xero sends in place of a field of an invoice, credit
note or payment, reading never raises; each document is typed or rejected with its record, field and problem; a
typed document carries exactly the amounts sent, in whole minor units of a known currency; good neighbours read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.xero.records import GUID, read_documents
from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline_tests.strict_records import json_values

ABSENT = object()
MONEY = {"Total", "AmountPaid", "AmountDue", "Amount", "CurrencyRate"}
AMOUNT_EDGES = [Decimal("0.5"), Decimal("0.05"), Decimal("0.005"), Decimal("1.25"), Decimal("1e14"), Decimal("1e13"),
                Decimal("-0.01"), 7, "7", True, Decimal("0.00001")]


def invoice(n: int) -> dict[str, Any]:
    return {"InvoiceID": f"00000000-0000-4000-8000-{n:012d}", "InvoiceNumber": f"INV-{n}", "Reference": f"SP-{n}",
            "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111"}, "CurrencyCode": "JPY" if n % 3 else "GBP",
            "Status": "AUTHORISED", "Date": "/Date(1793491200000+0000)/", "Total": Decimal(1200 + n),
            "AmountPaid": Decimal(0), "AmountDue": Decimal(1200 + n), "UpdatedDateUTC": "/Date(1793491200000+0000)/",
            "CreditNotes": [{"CreditNoteID": "22222222-2222-4222-8222-222222222222", "AppliedAmount": Decimal(1)}]}


def payment(n: int) -> dict[str, Any]:
    return {"PaymentID": f"00000000-0000-4000-9000-{n:012d}", "Amount": Decimal("10.50"), "Status": "AUTHORISED",
            "Invoice": {"InvoiceID": "00000000-0000-4000-8000-000000000001"}, "CurrencyRate": Decimal(1),
            "Date": "/Date(1793491200000+0000)/", "UpdatedDateUTC": "/Date(1793491200000+0000)/",
            "Account": {"Code": "090"}, "IsReconciled": False}


edges = st.sampled_from([Decimal("0.5"), Decimal("0.05"), Decimal("0.005"), Decimal("1e14"), Decimal("NaN"), "10.50",
                         True, None, "gbp", "GBP", "XXX", "PAYED", "DELETED", "/Date(1793491200000)/", "2026-10-31",
                         "not-a-guid", "00000000-0000-4000-8000-000000000009", {"ContactID": 5}, [{"Amount": "1"}]])


def documents(make, fields):
    change = st.sampled_from(fields).flatmap(lambda f: st.tuples(st.just(f), st.one_of(
        json_values, edges, st.sampled_from(AMOUNT_EDGES if f in MONEY else [ABSENT]), st.just(ABSENT))))
    one = st.tuples(st.integers(0, 999), st.lists(change, max_size=1))  # one field at a time: each one is seen

    def build(specs):
        docs, changes = [], []
        for i, (n, ch) in enumerate(specs):
            doc = make(n * 10 + i)
            for f, v in ch:
                doc.pop(f, None) if v is ABSENT else doc.__setitem__(f, v)
            docs.append(doc)
            changes.append(dict(ch))
        return docs, changes

    return st.lists(one, min_size=1, max_size=20).map(build)


def check(collection, id_key, docs, changes, amounts):
    typed, rejected = read_documents(collection, docs)
    assert len(typed) + len(rejected) == len(docs)
    assert all(r.problems and all(p.field and p.problem for p in r.problems) for r in rejected)
    by_id = {d[id_key]: d for d in typed}
    for n, (doc, changed) in enumerate(zip(docs, changes, strict=True), start=1):
        if not changed:
            assert doc[id_key] in by_id  # a good neighbour reads
        if isinstance(doc, dict) and isinstance(doc.get(id_key), str) and doc[id_key] in by_id:
            got = by_id[doc[id_key]]
            for f in amounts:
                if f in doc and doc[f] is not None:  # exactly as sent, in whole minor units
                    assert isinstance(got[f], Decimal) and got[f] == doc[f]
                    ccy = got.get("CurrencyCode", "GBP")
                    assert got[f] == got[f].quantize(Decimal(1).scaleb(-MINOR_UNITS[ccy]))
            assert GUID.fullmatch(got[id_key])
        else:
            names = {r.record for r in rejected}
            rid = doc.get(id_key)
            assert (isinstance(rid, str) and rid in names) or f"position {n}" in names


@given(documents(invoice, ["InvoiceID", "CurrencyCode", "Status", "Total", "AmountPaid", "AmountDue", "Contact",
                           "UpdatedDateUTC", "Date", "CreditNotes", "Reference"]))
def test_xero_invoices_are_typed_exactly_or_left_out_by_name(page):
    check("Invoices", "InvoiceID", *page, amounts=["Total", "AmountPaid", "AmountDue"])


@given(documents(payment, ["PaymentID", "Amount", "Status", "Invoice", "CurrencyRate", "Date", "UpdatedDateUTC",
                           "Account", "IsReconciled"]))
def test_xero_payments_are_typed_exactly_or_left_out_by_name(page):
    check("Payments", "PaymentID", *page, amounts=[])
