"""Neutral documents as QuickBooks JSON: numbers, names, unit prices, tax models."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sync_pipeline.connectors.qbo.payloads import (
    DOC_NUMBER_MAX,
    PayloadError,
    QboSettings,
    display_name,
    doc_number,
    reference_note,
    reference_of,
    sales_document,
    sales_lines,
    tag_of,
    unit_price,
    untagged,
)
from sync_pipeline.contracts.payloads.accounting import InvoiceDraftV1, InvoiceLineV1


def test_doc_numbers_fit_21_characters_and_are_stable() -> None:
    ref = "SP-acme-uk-2026-10-C12345-R1"
    assert len(doc_number(ref)) == DOC_NUMBER_MAX and doc_number(ref) == doc_number(ref)
    assert doc_number(ref) != doc_number(ref + "-CN1") and doc_number("SP-a-2026-10-C1-R1") == "SP-a-2026-10-C1-R1"


def test_display_names_end_with_the_tag_and_drop_what_quickbooks_refuses() -> None:
    assert display_name("Acme: Ltd\tEurope", "[HV-1]") == "Acme Ltd Europe [HV-1]"
    assert display_name("A:\nB", "[HV-1]") == "A B [HV-1]"
    long = display_name("x" * 600, "[HV-1 EUR]")
    assert len(long) == 500 and tag_of(long) == "[HV-1 EUR]"
    assert tag_of("no tag") is None
    assert untagged("Acme Corp [HV-1 EUR]") == "Acme Corp" and untagged("Plain [x] name") == "Plain [x] name"
    assert reference_of({"PrivateNote": reference_note("SP-a-2026-10-C1-R1")}) == "SP-a-2026-10-C1-R1"


@pytest.mark.parametrize(("qty", "unit", "amount", "sent"), [
    ("2.5", "100", "250.00", "100"),
    ("1.25", "120.50", "150.63", "120.50"),  # half up, as QuickBooks multiplies
    ("1.25", "120.50", "150.62", "120.4960000"),  # our half-even amount: the rate that multiplies out
    ("3", "0.01", "0.04", "0.0133333"),
    ("300000", "0.01", "0.01", None),  # no rate of 7 places multiplies out: the amount alone
])
def test_unit_prices_always_multiply_out_to_the_amount_we_bill(qty, unit, amount, sent) -> None:
    got = unit_price(Decimal(qty), Decimal(unit), Decimal(amount))
    assert got == (Decimal(sent) if sent else None)


def _draft(tax: str = "OUTPUT2") -> InvoiceDraftV1:
    return InvoiceDraftV1(reference="SP-a-2026-10-C1-R1", contact_id="58", currency="EUR", date=date(2026, 10, 31),
                          due_date=date(2026, 11, 30),
                          lines=[InvoiceLineV1(description="d", quantity=Decimal(1), unit_amount=Decimal(10),
                                               line_amount=Decimal(10), account_code="200", tax_type=tax)])


def _doc(settings: QboSettings, draft: InvoiceDraftV1) -> dict:
    lines = sales_lines(draft.lines, lambda code: "7", settings, lambda li: li.line_amount, lambda name: "42")
    return sales_document(draft, customer_id="58", lines=lines, settings=settings, due=True,
                          tax_id=lambda name: "42")


def test_us_tax_marks_lines_taxable_and_names_the_rate_on_the_document() -> None:
    s = QboSettings(realm_id="1", tax_model="us", tax_codes={"OUTPUT2": "TAX"}, us_sales_tax_code="California")
    doc = _doc(s, _draft())
    assert doc["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}
    assert doc["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "42"}} and "GlobalTaxCalculation" not in doc
    assert "DocNumber" not in doc and doc["CurrencyRef"] == {"value": "EUR"}


def test_non_us_tax_names_a_code_per_line_and_custom_numbers_send_a_docnumber() -> None:
    s = QboSettings(realm_id="1", home_currency="GBP", tax_codes={"OUTPUT2": "20.0% S"}, custom_doc_numbers=True)
    doc = _doc(s, _draft())
    assert doc["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "42"}
    assert doc["GlobalTaxCalculation"] == "TaxExcluded" and doc["DocNumber"] == "SP-a-2026-10-C1-R1"
    with pytest.raises(PayloadError, match="no QuickBooks tax code for tax type 'OUTPUT9'.*qbo.tax_codes"):
        _doc(s, _draft("OUTPUT9"))


def test_settings_refuse_what_quickbooks_cannot_hold() -> None:
    with pytest.raises(ValueError, match="TAX or NON"):
        QboSettings(realm_id="1", tax_model="us", tax_codes={"OUTPUT2": "20.0% S"})
    with pytest.raises(ValueError, match="home currency"):
        QboSettings(realm_id="1", home_currency="usd")
