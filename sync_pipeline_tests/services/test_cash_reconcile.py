"""Cash reconciliation reads Xero's invoices and payments strictly: an odd document is left out of matching and
named (it used to stop the run with a KeyError, MoneyError or InvalidOperation, or to be matched at a guessed
amount); the others are matched as before."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_pipeline.connectors.strict import Rejected
from sync_pipeline.connectors.xero.target import read_listing
from sync_pipeline.domain.cash_matching import name_key
from sync_pipeline.services import cash_reconcile
from sync_pipeline.services.cash_matching import _run_macros
from sync_pipeline_tests.services.test_pullback import invoice


def read_receivables(invoices: list, payments: list, bank_currency: str, rejected: list | None = None):
    """Xero's answers (as the API sends them) read by the Xero connector, then turned into the matcher's frames."""
    return cash_reconcile.read_receivables(read_listing("invoice", invoices), read_listing("payment", payments),
                                           bank_currency, rejected)


def payment(n: int, invoice_n: int, **changes: Any) -> dict[str, Any]:
    doc = {"PaymentID": f"00000000-0000-4000-9000-{n:012d}", "Amount": Decimal("50.00"), "Status": "AUTHORISED",
           "Invoice": {"InvoiceID": f"00000000-0000-4000-8000-{invoice_n:012d}"}, "IsReconciled": False,
           "Date": "/Date(1793491200000+0000)/", "UpdatedDateUTC": "/Date(1793491200000+0000)/", "Reference": "BACS"}
    doc.update(changes)
    return doc


ODD = [("Invoices", "Total", "120.00"), ("Invoices", "Total", True), ("Invoices", "CurrencyCode", None),
       ("Invoices", "InvoiceID", None), ("Invoices", "AmountDue", Decimal("0.005")), ("Invoices", "Contact", "Acme"),
       ("Payments", "Amount", "50"), ("Payments", "Amount", None), ("Payments", "PaymentID", 5),
       ("Payments", "Invoice", "INV-1"), ("Payments", "IsReconciled", "false")]


@pytest.mark.parametrize(("collection", "field_name", "value"), ODD, ids=[f"{c}.{f}={v!r}" for c, f, v in ODD])
def test_an_odd_document_is_left_out_of_matching_and_named(collection, field_name, value):
    invoices = [invoice(1), invoice(2), invoice(3)]
    payments = [payment(1, 1), payment(2, 2), payment(3, 3)]
    (invoices if collection == "Invoices" else payments)[1].update({field_name: value})
    rejected: list[Rejected] = []
    inv, pays = read_receivables(invoices, payments, "GBP", rejected)
    [r] = rejected
    assert r.source == f"xero {collection}" and {p.field.split(".")[0] for p in r.problems} == {field_name}
    if collection == "Invoices":
        assert len(inv) == 2 and "00000000-0000-4000-8000-000000000002" not in set(inv["invoice_id"])
        assert len(pays) == 2  # its payment has no invoice to settle among those read
    else:
        assert len(inv) == 3 and sorted(pays["payment_id"]) == ["00000000-0000-4000-9000-000000000001",
                                                                "00000000-0000-4000-9000-000000000003"]


def test_contact_names_travel_to_matching():
    inv, _ = read_receivables([invoice(1, Contact={"ContactID": "11111111-1111-4111-8111-111111111111",
                                                   "Name": "Acme Corp"})], [], "GBP")
    assert inv.loc[0, "contact_name"] == "Acme Corp" and inv.loc[0, "total_minor"] == 12000


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=40))
def test_the_alias_name_key_is_the_sql_macros_key(name):
    """Payer aliases are kept as a keyed hash of ``domain.cash_matching.name_key``: any payer name a statement may
    carry gives the key ``cash_name_key`` (dbt_like_sql/macros) gives it, so an alias hashes what the SQL compares."""
    con = duckdb.connect()
    _run_macros(con)
    assert name_key(name) == con.execute("SELECT cash_name_key(?)", [name]).fetchone()[0]
