"""The sandbox refuses what Xero's official spec refuses: types, lengths, enums, envelopes, query values.

Each request here is deliberately outside the spec (so it is sent without the conftest's request check);
the answer must be Xero's 400 ``ValidationException`` (never a 5xx, never a 200 that stores the value).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sync_pipeline.contracts import xero_spec
from sync_pipeline.contracts.codec import loads
from sync_pipeline_tests.sandbox.conftest import XeroApi


def _refused(api: XeroApi, method: str, path: str, body: Any = None, **kw: Any) -> list[str]:
    r = api.call(method, path, body, validate=False, **kw)
    assert r.status_code == 400, (r.status_code, r.text[:500])
    err = loads(r.content)
    assert err["Type"] == "ValidationException" and err["ErrorNumber"] == 10, err
    return [m["Message"] for e in err["Elements"] for m in e["ValidationErrors"]]


def _contact(api: XeroApi, **fields: Any) -> dict[str, Any]:
    return api.ok("PUT", "Contacts", {"Contacts": [{"Name": "Acme", **fields}]})["Contacts"][0]


def _invoice(**line: Any) -> dict[str, Any]:
    return {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Acme"}, "Date": "2026-10-31",
                          "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": 10,
                                         "AccountCode": "200", "TaxType": "OUTPUT2", **line}]}]}


def test_an_enormous_unit_amount_is_a_validation_error_not_a_server_error(api: XeroApi) -> None:
    msgs = _refused(api, "PUT", "Invoices", _invoice(UnitAmount=Decimal("1e26")))
    assert any("too large" in m for m in msgs)
    msgs = _refused(api, "PUT", "Invoices", _invoice(Quantity=Decimal("999999"), UnitAmount=Decimal("99999999")))
    assert any("too large" in m for m in msgs)


def test_a_blank_order_lists_in_the_default_order(api: XeroApi) -> None:
    r = api.call("GET", "Accounts", params={"order": " "})
    assert r.status_code == 200 and r.json()["Accounts"]


def test_a_tax_component_that_is_not_an_object_is_refused(api: XeroApi) -> None:
    msgs = _refused(api, "PUT", "TaxRates", {"TaxRates": [{"Name": "Odd", "TaxComponents": [1]}]})
    assert msgs == ["TaxRates[0].TaxComponents[0]: must be an object, not a number"]


@pytest.mark.parametrize(("path", "envelope", "item", "field", "limit"), [
    ("Contacts", "Contacts", {"Name": "A"}, "Name", 255),
    ("Contacts", "Contacts", {"Name": "B"}, "ContactNumber", 50),
    ("Contacts", "Contacts", {"Name": "C"}, "EmailAddress", 255),
    ("Invoices", "Invoices", _invoice()["Invoices"][0], "InvoiceNumber", 255),
    ("Accounts", None, {"Code": "777", "Type": "REVENUE", "Name": "x"}, "Name", 150),
])
def test_strings_longer_than_the_spec_allows_are_refused(api: XeroApi, path: str, envelope: str | None,
                                                         item: dict[str, Any], field: str, limit: int) -> None:
    def body(n: int) -> Any:
        it = {**item, field: "x" * n}
        return {envelope: [it]} if envelope else it

    msgs = _refused(api, "PUT", path, body(limit + 1))
    assert msgs == [f"{envelope + '[0].' if envelope else ''}{field}: must be at most {limit} characters long "
                    f"(it has {limit + 1})"]
    ok = api.ok("PUT", path, body(limit))
    assert ok[envelope or path][0][field] == "x" * limit
    assert xero_spec.max_length({"Contacts": "Contact", "Invoices": "Invoice", "Accounts": "Account"}[path],
                                field) == limit


@pytest.mark.parametrize(("path", "body", "message"), [
    ("Contacts", {"Contacts": [{"Name": "A", "IsSupplier": "yes"}]},
     "Contacts[0].IsSupplier: must be a boolean, not a string"),
    ("Contacts", {"Contacts": [{"Name": "A", "IsCustomer": 7}]},
     "Contacts[0].IsCustomer: must be a boolean, not a number"),
    ("TaxRates", {"TaxRates": [{"Name": 5, "TaxComponents": [{"Name": "T", "Rate": 5}]}]},
     "TaxRates[0].Name: must be a string, not a number"),
    ("Invoices", {"Invoices": [{**_invoice()["Invoices"][0], "Status": ""}]},
     "Invoices[0].Status: '' is not one of DRAFT, SUBMITTED, DELETED, AUTHORISED, PAID, VOIDED"),
    ("Invoices", {"Invoices": [{**_invoice()["Invoices"][0], "Contact": {"ContactID": "not-a-guid"}}]},
     "Invoices[0].Contact.ContactID: 'not-a-guid' is not a GUID"),
])
def test_wrong_types_and_values_are_refused_not_stored(api: XeroApi, path: str, body: Any, message: str) -> None:
    assert _refused(api, "PUT", path, body) == [message]
    assert api.ok("GET", path)[path] == [] or path == "TaxRates"


def test_fields_the_spec_does_not_declare_are_neither_stored_nor_echoed(api: XeroApi) -> None:
    made = api.ok("PUT", "Contacts", {"Contacts": [{"Name": "Acme", "Colour": "red",
                                                    "Addresses": [{"City": "Leeds", "Planet": "Earth"}]}]},
                  validate=False)["Contacts"][0]
    assert "Colour" not in made and made["Addresses"] == [{"City": "Leeds"}]
    got = api.ok("GET", f"Contacts/{made['ContactID']}")["Contacts"][0]
    assert "Colour" not in got and got["Addresses"] == [{"City": "Leeds"}]


def test_a_body_without_its_envelope_is_refused_even_when_errors_are_not_summarized(api: XeroApi) -> None:
    r = api.call("PUT", "BankTransactions", {"Type": "SPEND", "Reference": "x"},
                 params={"summarizeErrors": "false"}, validate=False)
    assert r.status_code == 400, r.text
    assert api.ok("GET", "BankTransactions")["BankTransactions"] == []


@pytest.mark.parametrize(("path", "params", "message"), [
    ("Invoices", {"unitdp": ""}, "unitdp: must be a whole number, not ''"),
    ("Invoices", {"summaryOnly": "null"}, "summaryOnly: must be true or false, not 'null'"),
    ("Contacts", {"IDs": "abc"}, "IDs: 'abc' is not a GUID"),
    ("Invoices", {"page": "two"}, "page: must be a whole number, not 'two'"),
])
def test_mistyped_query_values_are_refused(api: XeroApi, path: str, params: dict[str, str], message: str) -> None:
    assert _refused(api, "GET", path, params=params) == [message]


def test_every_currency_the_spec_lists_can_be_enabled_and_invoiced(api: XeroApi) -> None:
    codes = xero_spec.schema("CurrencyCode")["enum"]
    assert len(codes) == 168
    for code in codes:  # (the spec check of each call is the same; one is enough)
        assert api.ok("PUT", "Currencies", {"Code": code}, validate=code == "XOF")["Currencies"][0]["Code"] == code
    enabled = {c["Code"] for c in api.ok("GET", "Currencies")["Currencies"]}
    assert enabled >= set(codes)
    inv = api.ok("PUT", "Invoices", {"Invoices": [{**_invoice(UnitAmount=Decimal("1.2345"))["Invoices"][0],
                                                   "CurrencyCode": "BHD"}]})["Invoices"][0]
    assert inv["SubTotal"] == Decimal("1.235")  # three decimals in Bahraini dinars


def test_not_found_is_xeros_plain_text(api: XeroApi) -> None:
    r = api.call("GET", "Invoices/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "The resource you're looking for cannot be found"


def test_the_tax_amount_tolerance_is_the_sandboxs_own_rule_and_configurable(api: XeroApi) -> None:
    # 10.00 at 20%: the calculated tax is 2.00; a given TaxAmount replaces it (Xero's spec), within the tolerance
    assert api.ok("PUT", "Invoices", _invoice(TaxAmount=Decimal("2.01")))["Invoices"][0]["TotalTax"] == Decimal("2.01")
    msgs = _refused(api, "PUT", "Invoices", _invoice(TaxAmount=Decimal("2.05")))
    assert msgs == ["Line 1: the tax amount 2.05 is not a rounding of the calculated 2.00 (OUTPUT2 on 10.00)"]
    api.sb.tax_amount_tolerance = None  # Xero documents no bound: any override is taken
    assert api.ok("PUT", "Invoices", _invoice(TaxAmount=Decimal("2.05")))["Invoices"][0]["TotalTax"] == Decimal("2.05")
