"""QBO sandbox Customer / Item / Invoice: create, read, full and sparse update with SyncToken, the documented
faults with their exact shape, DocNumber numbering, US sales tax, ``requestid`` replay, ``minorversion``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline_tests.sandbox.conftest import QBO_REALM, QboApi, qbo_sandbox


@pytest.fixture(scope="module")
def catalog(qbo: QboApi) -> dict[str, str]:
    income = qbo.query("select * from Account where Name = 'Services'")["Account"][0]["Id"]
    item = qbo.ok("POST", "item", {"Name": "Consulting", "Type": "Service", "UnitPrice": 100,
                                   "IncomeAccountRef": {"value": income}})["Item"]
    cust = qbo.ok("POST", "customer", {"DisplayName": "Catalog Customer"})["Customer"]
    state = qbo.query("select * from TaxCode where Name = 'California'")["TaxCode"][0]["Id"]
    return {"income": income, "item": item["Id"], "customer": cust["Id"], "state_tax": state}


def _line(item: str, qty: str, price: str, tax: str = "NON") -> dict:
    amount = Decimal(qty) * Decimal(price)
    return {"Amount": amount, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": Decimal(qty), "UnitPrice": Decimal(price),
                                    "TaxCodeRef": {"value": tax}}}


def test_customer_create_read_and_envelope(qbo: QboApi) -> None:
    got = qbo.ok("POST", "customer", {"DisplayName": "Envelope Ltd", "PrimaryEmailAddr": {"Address": "a@b.c"}})
    assert set(got) == {"Customer", "time"} and got["time"].endswith(("-08:00", "-07:00"))
    c = got["Customer"]
    assert (c["SyncToken"], c["domain"], c["sparse"], c["Active"]) == ("0", "QBO", False, True)
    assert set(c["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    read = qbo.ok("GET", f"customer/{c['Id']}")["Customer"]
    assert read["DisplayName"] == "Envelope Ltd" and read["Balance"] == 0


def test_sparse_and_full_update_with_sync_token(qbo: QboApi) -> None:
    c = qbo.ok("POST", "customer", {"DisplayName": "Sparse Co", "CompanyName": "Sparse", "Notes": "n"})["Customer"]
    s = qbo.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "new"})["Customer"]
    assert (s["SyncToken"], s["Notes"], s["CompanyName"]) == ("1", "new", "Sparse")
    full = qbo.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "1", "DisplayName": "Sparse Co"})["Customer"]
    assert full["SyncToken"] == "2" and "CompanyName" not in full and "Notes" not in full  # cleared


def test_stale_sync_token_is_5010(qbo: QboApi) -> None:
    c = qbo.ok("POST", "customer", {"DisplayName": "Stale Co"})["Customer"]
    qbo.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})
    err = qbo.fault("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "y"})
    assert (err["code"], err["Message"], err["type"]) == ("5010", "Stale Object Error", "ValidationFault")
    missing = qbo.fault("POST", "customer", {"Id": c["Id"], "sparse": True, "Notes": "y"})
    assert (missing["code"], missing["element"]) == ("2020", "SyncToken")


def test_not_found_duplicate_name_and_unknown_property(qbo: QboApi) -> None:
    nf = qbo.fault("GET", "invoice/987654")
    assert (nf["code"], nf["Message"]) == ("610", "Object Not Found")
    qbo.ok("POST", "customer", {"DisplayName": "Twin"})
    dup = qbo.fault("POST", "customer", {"DisplayName": "twin"})
    assert (dup["code"], dup["Message"]) == ("6240", "Duplicate Name Exists Error")
    bad = qbo.fault("POST", "customer", {"DisplayName": "Typo", "DisplayNmae": "x"})
    assert (bad["code"], bad["element"]) == ("2010", "DisplayNmae")
    assert qbo.fault("POST", "customer", {"Notes": "no name"})["code"] == "2020"


def test_inactive_customers_are_renamed_and_never_deleted(qbo: QboApi) -> None:
    c = qbo.ok("POST", "customer", {"DisplayName": "Gone Ltd"})["Customer"]
    off = qbo.ok("POST", "customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})["Customer"]
    assert (off["Active"], off["DisplayName"]) == (False, "Gone Ltd (deleted)")
    assert qbo.ok("POST", "customer", {"DisplayName": "Gone Ltd"})["Customer"]["Id"] != c["Id"]
    err = qbo.fault("POST", "customer", {"Id": c["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert (err["code"], err["Message"]) == ("500", "Unsupported Operation")


def test_item_needs_an_existing_income_account(qbo: QboApi) -> None:
    assert qbo.fault("POST", "item", {"Name": "No Account", "Type": "Service"})["element"] == "IncomeAccountRef"
    err = qbo.fault("POST", "item", {"Name": "Bad Account", "Type": "Service", "IncomeAccountRef": {"value": "999"}})
    assert (err["code"], err["Message"]) == ("2500", "Invalid Reference Id")


def test_invoice_totals_us_sales_tax_and_auto_numbers(qbo: QboApi, catalog: dict[str, str]) -> None:
    body = {"CustomerRef": {"value": catalog["customer"]}, "TxnDate": "2026-11-02",
            "Line": [_line(catalog["item"], "2", "100", "TAX"), _line(catalog["item"], "1.5", "10.10")],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": catalog["state_tax"]}}}
    inv = qbo.ok("POST", "invoice", body)["Invoice"]
    assert inv["Line"][-1] == {"Amount": Decimal("215.15"), "DetailType": "SubTotalLineDetail",
                               "SubTotalLineDetail": {}}
    assert inv["TxnTaxDetail"]["TotalTax"] == Decimal("16.00")  # 8 % of the TAX line only
    assert (inv["TotalAmt"], inv["Balance"]) == (Decimal("231.15"), Decimal("231.15"))
    assert inv["DueDate"] == "2026-11-02" and inv["CustomerRef"]["name"] == "Catalog Customer"
    second = qbo.ok("POST", "invoice", {**body, "TxnTaxDetail": {}})["Invoice"]
    assert int(second["DocNumber"]) == int(inv["DocNumber"]) + 1 and second["TxnTaxDetail"]["TotalTax"] == 0
    assert "ExchangeRate" not in inv and "HomeTotalAmt" not in inv  # single-currency company


def test_invoice_rules(qbo: QboApi, catalog: dict[str, str]) -> None:
    line = _line(catalog["item"], "1", "10")
    assert qbo.fault("POST", "invoice", {"Line": [line]})["element"] == "CustomerRef"
    assert qbo.fault("POST", "invoice", {"CustomerRef": {"value": catalog["customer"]}})["element"] == "Line"
    wrong = {**line, "Amount": Decimal("11")}
    err = qbo.fault("POST", "invoice", {"CustomerRef": {"value": catalog["customer"]}, "Line": [wrong]})
    assert err["code"] == "6000" and "UnitPrice * Qty" in err["Detail"]
    err = qbo.fault("POST", "invoice", {"CustomerRef": {"value": "424242"}, "Line": [line]})
    assert (err["code"], err["element"]) == ("2500", "CustomerRef")
    vat = {**line, "SalesItemLineDetail": {**line["SalesItemLineDetail"], "TaxCodeRef": {"value": "7"}}}
    assert qbo.fault("POST", "invoice", {"CustomerRef": {"value": catalog["customer"]}, "Line": [vat]})[
        "code"] == "2500"  # a US line is TAX or NON
    eur = qbo.fault("POST", "invoice", {"CustomerRef": {"value": catalog["customer"]}, "Line": [line],
                                        "CurrencyRef": {"value": "EUR"}})
    assert eur["code"] == "6000" and "Multicurrency" in eur["Detail"]


def test_doc_number_duplicates_and_length(qbo: QboApi, catalog: dict[str, str]) -> None:
    body = {"CustomerRef": {"value": catalog["customer"]}, "DocNumber": "SYNC-0001",
            "Line": [_line(catalog["item"], "1", "10")]}
    first = qbo.ok("POST", "invoice", body)["Invoice"]
    assert first["DocNumber"] == "SYNC-0001"
    dup = qbo.fault("POST", "invoice", body)
    assert (dup["code"], dup["Message"]) == ("6140", "Duplicate Document Number Error")
    assert f"TxnId={first['Id']}" in dup["Detail"]
    allowed = qbo.ok("POST", "invoice", body, params={"include": "allowduplicatedocnum"})["Invoice"]
    assert allowed["DocNumber"] == "SYNC-0001" and allowed["Id"] != first["Id"]
    long = qbo.fault("POST", "invoice", {**body, "DocNumber": "X" * 22})
    assert (long["code"], long["element"]) == ("2050", "DocNumber")


def test_void_and_delete_invoice(qbo: QboApi, catalog: dict[str, str]) -> None:
    body = {"CustomerRef": {"value": catalog["customer"]}, "Line": [_line(catalog["item"], "1", "10")]}
    inv = qbo.ok("POST", "invoice", body)["Invoice"]
    voided = qbo.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]},
                    params={"operation": "void"})["Invoice"]
    assert (voided["TotalAmt"], voided["Balance"], voided["PrivateNote"]) == (0, 0, "Voided")
    other = qbo.ok("POST", "invoice", body)["Invoice"]
    gone = qbo.ok("POST", "invoice", {"Id": other["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert gone["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": other["Id"]}
    assert qbo.fault("GET", f"invoice/{other['Id']}")["code"] == "610"


def test_requestid_replays_the_first_answer_without_a_second_write(qbo: QboApi) -> None:
    before = qbo.query("select count(*) from Customer")["totalCount"]
    a = qbo.ok("POST", "customer", {"DisplayName": "Once Only"}, params={"requestid": "rid-0001"})
    b = qbo.ok("POST", "customer", {"DisplayName": "Once Only"}, params={"requestid": "rid-0001"})
    assert a == b
    assert qbo.query("select count(*) from Customer")["totalCount"] == before + 1
    # a failed request replays as the same failure
    f1 = qbo.call("POST", "customer", {"DisplayName": "Once Only"}, params={"requestid": "rid-0002"})
    f2 = qbo.call("POST", "customer", {"DisplayName": "Once Only"}, params={"requestid": "rid-0002"})
    assert f1.status_code == f2.status_code == 400 and f1.json() == f2.json()
    err = qbo.fault("POST", "customer", {"DisplayName": "Long Id"}, params={"requestid": "r" * 51})
    assert err["code"] == "6000" and "50 characters" in err["Detail"]


def test_minorversion(qbo: QboApi) -> None:
    assert qbo.ok("GET", "preferences", params={"minorversion": "4"})["Preferences"]  # ignored, served as 75
    assert qbo.fault("GET", "preferences", params={"minorversion": "latest"})["element"] == "minorversion"


def test_documents_requestids_and_numbers_survive_a_restart(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3")
    sb.add_company(QBO_REALM, "Restart Co")
    with SandboxServer(sb) as server:
        api = QboApi(sb, server.url)
        made = api.ok("POST", "customer", {"DisplayName": "Kept"}, params={"requestid": "keep-1"})
        api.close()
    again = qbo_sandbox(tmp_path / "q.sqlite3")
    with SandboxServer(again) as server:
        api = QboApi(again, server.url)
        assert api.ok("POST", "customer", {"DisplayName": "Kept"}, params={"requestid": "keep-1"}) == made
        assert api.query("select * from Customer")["Customer"][0]["DisplayName"] == "Kept"
        api.close()


def test_json_must_be_asked_for(qbo: QboApi) -> None:
    r = qbo.http.get(f"/v3/company/{QBO_REALM}/preferences", headers={"Authorization": f"Bearer {qbo.token}"})
    assert r.status_code == 400 and r.json()["Fault"]["Error"][0]["element"] == "Accept"


def test_sparse_line_change_recomputes_tax_and_total(qbo: QboApi, catalog: dict[str, str]) -> None:
    body = {"CustomerRef": {"value": catalog["customer"]}, "Line": [_line(catalog["item"], "1", "100", "TAX")],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": catalog["state_tax"]}}}
    inv = qbo.ok("POST", "invoice", body)["Invoice"]
    assert inv["TotalAmt"] == Decimal("108.00")
    upd = qbo.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"], "sparse": True,
                                     "Line": [_line(catalog["item"], "2", "100", "TAX")]})["Invoice"]
    assert (upd["TxnTaxDetail"]["TotalTax"], upd["TotalAmt"], upd["Balance"]) == (
        Decimal("16.00"), Decimal("216.00"), Decimal("216.00"))
    assert upd["DocNumber"] == inv["DocNumber"] and upd["TxnTaxDetail"]["TxnTaxCodeRef"] == {
        "value": catalog["state_tax"]}
