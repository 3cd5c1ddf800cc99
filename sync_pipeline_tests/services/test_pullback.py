"""The pull-back reads Xero's documents strictly: a document with one odd field is left out and named, the pull of
the others goes on (it used to stop the whole pull with a MoneyError, KeyError or InvalidOperation, or to read
``"12.50"`` as 12.50)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from sync_pipeline.connectors.xero import XeroTarget
from sync_pipeline.services.pullback import pull_accounting
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse

REF = "SP-acme-uk-2026-10-C{n}-R1"


def invoice(n: int, **changes: Any) -> dict[str, Any]:
    doc = {"InvoiceID": f"00000000-0000-4000-8000-{n:012d}", "InvoiceNumber": f"INV-{n}", "Reference": REF.format(n=n),
           "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111"}, "CurrencyCode": "GBP",
           "Status": "AUTHORISED", "Date": "/Date(1793491200000+0000)/", "DateString": "2026-10-31T00:00:00",
           "SubTotal": Decimal("100.00"), "TotalTax": Decimal("20.00"), "Total": Decimal("120.00"),
           "AmountPaid": Decimal("0.00"), "AmountCredited": Decimal("0.00"), "AmountDue": Decimal("120.00"),
           "UpdatedDateUTC": "/Date(1793491200000+0000)/", "CreditNotes": [], "Prepayments": [], "Overpayments": []}
    doc.update(changes)
    return doc


@dataclass
class _Http:
    request_count: int = 0
    limiter: Any = None
    breaker: Any = None


@dataclass
class FakeXero:
    """Answers list_all from canned documents and records what it was asked."""

    docs: dict[str, list[Any]]
    tenant_id: str = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"
    http: _Http = field(default_factory=_Http)
    asked: list[str] = field(default_factory=list)

    def list_all(self, collection: str, **_: Any) -> list[Any]:
        self.asked.append(collection)
        self.http.request_count += 1
        return list(self.docs.get(collection, []))


ODD = [("Total", "120.00"), ("Total", True), ("CurrencyCode", None), ("CurrencyCode", "gbp"), ("InvoiceID", None),
       ("InvoiceID", "INV-1"), ("Status", "PAYED"), ("AmountPaid", Decimal("0.005")), ("Total", Decimal("NaN")),
       ("Contact", "Acme"), ("UpdatedDateUTC", "yesterday"), ("Prepayments", [{"AppliedAmount": "300"}])]


@pytest.mark.parametrize(("field_name", "value"), ODD, ids=[f"{f}={v!r}" for f, v in ODD])
def test_an_odd_xero_document_is_left_out_and_named_and_the_pull_goes_on(tmp_path, field_name, value):
    xero = FakeXero({"Invoices": [invoice(1), invoice(2, **{field_name: value}), invoice(3)]})
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    res = pull_accounting(XeroTarget(xero), store, Warehouse(tmp_path / "wh"), "acme-uk", "2026-10")  # type: ignore[arg-type]
    docs = res.frames["accounting_invoices"]
    assert sorted(docs["reference"]) == [REF.format(n=1), REF.format(n=3)]
    assert set(docs["total_minor"]) == {12000}
    q = res.quarantine
    assert res.quarantined == 1 and set(q["source"]) == {"xero Invoices"}
    record = "00000000-0000-4000-8000-000000000002" if field_name != "InvoiceID" else "position 2"
    assert set(q["record"]) == {record}
    assert all(f == field_name or f.startswith(field_name + ".") for f in q["field"]) and q["problem"].all()
