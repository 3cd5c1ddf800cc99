"""Sync reconciliation reads Xero's invoices strictly: an invoice that does not read is a breaching row naming the
document, the field and the problem, never "missing" with the advice to post it again (which would bill twice)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from sync_pipeline.connectors.xero.target import read_listing
from sync_pipeline.domain.periods import Period
from sync_pipeline.services import reconcile
from sync_pipeline_tests.services.test_pullback import REF, invoice

P = Period.parse("2026-10")


def reconcile_target(drafts, *, target, **kw):
    """Xero's answer (``target``, as the API sends it) read by the Xero connector, then reconciled."""
    return reconcile.reconcile_target(drafts, target=read_listing("invoice", target), system="Xero", **kw)


def drafts(*clients: int) -> pd.DataFrame:
    return pd.DataFrame([{"reference": REF.format(n=n), "client_id": str(n), "project_id": "11", "line_no": 1,
                          "line_amount_minor": 10000, "currency": "GBP", "tax_type": "OUTPUT2", "account_code": "200"}
                         for n in clients])


def posted(n: int, **changes: Any) -> dict[str, Any]:
    doc = invoice(n, LineItems=[{"LineAmount": Decimal("100.00"), "TaxType": "OUTPUT2", "AccountCode": "200"}])
    doc["Contact"] = {"ContactID": "11111111-1111-4111-8111-111111111111", "ContactNumber": f"HARVEST-{n}"}
    doc.update(changes)
    return doc


ODD = [("SubTotal", "100.00"), ("SubTotal", True), ("CurrencyCode", None), ("Status", "PAYED"),
       ("Total", Decimal("120.005")), ("Contact", "Acme"), ("InvoiceID", None)]


@pytest.mark.parametrize(("field_name", "value"), ODD, ids=[f"{f}={v!r}" for f, v in ODD])
def test_an_unreadable_invoice_breaches_by_name_and_is_never_missing(field_name, value):
    target = [posted(1), posted(2, **{field_name: value}), posted(3)]
    df = reconcile_target(drafts(1, 2, 3), entity="acme-uk", period=P, target=target)
    docs = df[df["level"] == "document"].set_index("key")
    assert "missing" not in set(docs["status"])
    row = docs.loc[REF.format(n=2)]
    assert row["status"] == "mismatch" and bool(row["breach"])
    assert field_name in row["detail"] and "does not read" in row["detail"] and "post it again" not in row["detail"]
    ident = "00000000-0000-4000-8000-000000000002" if field_name != "InvoiceID" else "position 2"
    assert ident in row["detail"]
    assert list(docs.loc[[REF.format(n=1), REF.format(n=3)], "status"]) == ["match", "match"]


def test_an_unreadable_invoice_without_a_readable_reference_is_named_by_its_id():
    target = [posted(1), posted(2, Reference=7, SubTotal="100.00")]
    df = reconcile_target(drafts(1), entity="acme-uk", period=P, target=target)
    docs = df[df["level"] == "document"].set_index("key")
    row = docs.loc["xero Invoices 00000000-0000-4000-8000-000000000002"]
    assert row["status"] == "mismatch" and bool(row["breach"]) and "Reference" in row["detail"]
    assert docs.loc[REF.format(n=1), "status"] == "match"


def test_readable_invoices_reconcile_as_before():
    df = reconcile_target(drafts(1, 2), entity="acme-uk", period=P, target=[posted(1)])
    docs = df[df["level"] == "document"].set_index("key")
    assert dict(docs["status"]) == {REF.format(n=1): "match", REF.format(n=2): "missing"}
