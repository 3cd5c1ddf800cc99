"""Xero sandbox resources: every call here is checked against the official OpenAPI spec (when present)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync_pipeline_tests.sandbox.conftest import XeroApi


def _contact(api: XeroApi, name: str = "Acme Corp", number: str = "C-1", currency: str = "GBP") -> str:
    body = api.ok("PUT", "Contacts", {"Contacts": [{"Name": name, "ContactNumber": number,
                                                    "DefaultCurrency": currency}]})
    return body["Contacts"][0]["ContactID"]


def _invoice(api: XeroApi, contact_id: str, ref: str = "R-1", amount: str = "100", status: str = "AUTHORISED",
             currency: str = "GBP", tax: str = "OUTPUT2", date: str = "2026-10-31") -> dict:
    body = api.ok("PUT", "Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Date": date, "DueDate": "2026-11-30",
        "Reference": ref, "CurrencyCode": currency, "Status": status, "LineAmountTypes": "Exclusive",
        "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": Decimal(amount), "AccountCode": "200",
                       "TaxType": tax}]}]})
    return body["Invoices"][0]


def test_invoice_create_read_and_spec_envelope(api: XeroApi) -> None:
    cid = _contact(api)
    inv = _invoice(api, cid, amount="100.00")
    assert inv["Status"] == "AUTHORISED"
    assert (inv["SubTotal"], inv["TotalTax"], inv["Total"], inv["AmountDue"]) == (
        Decimal("100.00"), Decimal("20.00"), Decimal("120.00"), Decimal("120.00"))
    assert inv["InvoiceNumber"] == "INV-00001"
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert got["InvoiceID"] == inv["InvoiceID"] and got["Contact"]["Name"] == "Acme Corp"
    # Xero also takes an InvoiceNumber in place of the id (the spec types the path parameter as a uuid)
    by_number = api.ok("GET", "Invoices/INV-00001", validate=False)
    assert by_number["Invoices"][0]["InvoiceID"] == inv["InvoiceID"]
    r = api.call("GET", "Invoices/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404


def test_tax_rates_come_from_the_tenant_and_unknown_tax_types_are_rejected(api: XeroApi) -> None:
    rates = {t["TaxType"]: t for t in api.ok("GET", "TaxRates")["TaxRates"]}
    assert rates["OUTPUT2"]["EffectiveRate"] == Decimal("20")
    created = api.ok("PUT", "TaxRates", {"TaxRates": [{"Name": "Sandbox 7.5%", "TaxComponents": [
        {"Name": "Tax", "Rate": Decimal("7.5"), "IsCompound": False, "IsNonRecoverable": False}]}]})["TaxRates"][0]
    assert created["EffectiveRate"] == Decimal("7.5")
    cid = _contact(api)
    inv = _invoice(api, cid, amount="200", tax=created["TaxType"])
    assert inv["TotalTax"] == Decimal("15.00")
    assert api.ok("GET", f"TaxRates/{created['TaxType']}")["TaxRates"][0]["Name"] == "Sandbox 7.5%"
    bad = api.call("PUT", "Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2026-10-31", "LineItems": [
            {"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200", "TaxType": "NOPE"}]}]})
    assert bad.status_code == 400
    assert "TaxType code NOPE" in bad.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_accounts_and_currencies(api: XeroApi) -> None:
    accounts = api.ok("GET", "Accounts", params={"where": 'Type=="BANK"'})["Accounts"]
    assert {a["Code"] for a in accounts} >= {"090", "091"}
    new = api.ok("PUT", "Accounts", {"Code": "095", "Name": "CHF Bank", "Type": "BANK", "CurrencyCode": "CHF",
                                     "BankAccountNumber": "CH-1"})["Accounts"][0]
    assert new["Class"] == "ASSET" and new["EnablePaymentsToAccount"] is True
    dup = api.call("PUT", "Accounts", {"Code": "095", "Name": "Again", "Type": "BANK"})
    assert dup.status_code == 400 and "unique Code" in dup.text
    assert api.ok("GET", f"Accounts/{new['AccountID']}")["Accounts"][0]["Code"] == "095"
    upd = api.ok("POST", f"Accounts/{new['AccountID']}", {"Accounts": [{"Name": "Swiss Franc Account"}]})
    assert upd["Accounts"][0]["Name"] == "Swiss Franc Account"
    codes = [c["Code"] for c in api.ok("GET", "Currencies")["Currencies"]]
    assert {"USD", "EUR", "GBP", "JPY", "CHF"} <= set(codes)
    api.ok("PUT", "Currencies", {"Code": "SGD", "Description": "Singapore Dollar"})
    assert "SGD" in [c["Code"] for c in api.ok("GET", "Currencies", params={"where": 'Code=="SGD"'})["Currencies"]]
    assert api.call("PUT", "Currencies", {"Code": "XXQ"}, validate=False).status_code == 400  # not ISO 4217


def test_payments_partial_full_and_deleted(api: XeroApi) -> None:
    cid = _contact(api)
    inv = _invoice(api, cid, amount="100")  # 120.00 with VAT
    p1 = api.ok("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                                  "Account": {"Code": "090"}, "Date": "2026-11-05",
                                                  "Amount": Decimal("50.00"), "Reference": "part 1"}]})["Payments"][0]
    assert p1["PaymentType"] == "ACCRECPAYMENT" and p1["Status"] == "AUTHORISED"
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert (got["AmountPaid"], got["AmountDue"], got["Status"]) == (Decimal("50.00"), Decimal("70.00"), "AUTHORISED")
    too_much = api.call("POST", "Payments", {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"},
                                             "Date": "2026-11-06", "Amount": Decimal("70.01")})
    assert too_much.status_code == 400 and "exceeds the amount outstanding" in too_much.text
    p2 = api.ok("POST", "Payments", {"Invoice": {"InvoiceNumber": inv["InvoiceNumber"]}, "Account": {"Code": "090"},
                                     "Date": "2026-11-06", "Amount": Decimal("70.00")})["Payments"][0]
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert got["Status"] == "PAID" and got["AmountDue"] == 0 and got["FullyPaidOnDate"]
    assert len(got["Payments"]) == 2
    deleted = api.ok("POST", f"Payments/{p2['PaymentID']}", {"Status": "DELETED"})["Payments"][0]
    assert deleted["Status"] == "DELETED"
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert (got["Status"], got["AmountDue"]) == ("AUTHORISED", Decimal("70.00"))
    listed = api.ok("GET", "Payments", params={"where": 'Status=="AUTHORISED"'})["Payments"]
    assert [p["PaymentID"] for p in listed] == [p1["PaymentID"]]
    by_invoice = api.ok("GET", "Payments", params={"where": f'Invoice.InvoiceID==guid("{inv["InvoiceID"]}")'})
    assert len(by_invoice["Payments"]) == 2
    draft = _invoice(api, cid, ref="R-2", status="DRAFT")
    r = api.call("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": draft["InvoiceID"]},
                                                   "Account": {"Code": "090"}, "Amount": 1}]})
    assert r.status_code == 400 and "AUTHORISED invoices" in r.text
    r = api.call("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                                   "Account": {"Code": "200"}, "Amount": 1}]})
    assert r.status_code == 400 and "not a bank account" in r.text


def test_foreign_currency_payment_into_base_account_has_bank_amount(api: XeroApi) -> None:
    cid = _contact(api, currency="EUR")
    inv = _invoice(api, cid, amount="100", currency="EUR", tax="NONE")
    assert inv["CurrencyRate"] == Decimal("1.16")
    pay = api.ok("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                                   "Account": {"Code": "090"}, "Amount": Decimal("100.00"),
                                                   "CurrencyRate": Decimal("1.25"), "Date": "2026-11-02"}]})
    p = pay["Payments"][0]
    assert p["BankAmount"] == Decimal("80.00") and p["CurrencyRate"] == Decimal("1.25")
    eur_account = next(a for a in api.ok("GET", "Accounts")["Accounts"] if a.get("CurrencyCode") == "EUR")
    inv2 = _invoice(api, cid, ref="R-EUR-2", amount="10", currency="EUR", tax="NONE")
    p2 = api.ok("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": inv2["InvoiceID"]},
                                                  "Account": {"AccountID": eur_account["AccountID"]},
                                                  "Amount": Decimal("10.00")}]})["Payments"][0]
    assert p2["BankAmount"] == Decimal("10.00")


def test_credit_note_allocation_reduces_amount_due(api: XeroApi) -> None:
    cid = _contact(api)
    inv = _invoice(api, cid, amount="100")
    cn = api.ok("PUT", "CreditNotes", {"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": cid}, "Date": "2026-11-01", "Status": "AUTHORISED",
        "Reference": "credit R-1", "LineAmountTypes": "Exclusive",
        "LineItems": [{"Description": "Refund 2h", "Quantity": 2, "UnitAmount": Decimal("25"), "AccountCode": "200",
                       "TaxType": "OUTPUT2"}]}]})["CreditNotes"][0]
    assert cn["CreditNoteNumber"] == "CN-00001" and cn["Total"] == Decimal("60.00")
    assert cn["RemainingCredit"] == Decimal("60.00")
    alloc = api.ok("PUT", f"CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [
        {"Amount": Decimal("40.00"), "Date": "2026-11-02", "Invoice": {"InvoiceID": inv["InvoiceID"]}}]})
    aid = alloc["Allocations"][0]["AllocationID"]
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert (got["AmountCredited"], got["AmountDue"]) == (Decimal("40.00"), Decimal("80.00"))
    cn_now = api.ok("GET", f"CreditNotes/{cn['CreditNoteID']}")["CreditNotes"][0]
    assert cn_now["RemainingCredit"] == Decimal("20.00") and cn_now["Status"] == "AUTHORISED"
    over = api.call("PUT", f"CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [
        {"Amount": Decimal("20.01"), "Date": "2026-11-02", "Invoice": {"InvoiceID": inv["InvoiceID"]}}]})
    assert over.status_code == 400 and "remaining credit" in over.text
    api.ok("PUT", f"CreditNotes/{cn['CreditNoteID']}/Allocations", {"Allocations": [
        {"Amount": Decimal("20.00"), "Date": "2026-11-03", "Invoice": {"InvoiceNumber": inv["InvoiceNumber"]}}]})
    assert api.ok("GET", f"CreditNotes/{cn['CreditNoteID']}")["CreditNotes"][0]["Status"] == "PAID"
    # refund part of a credit note: first free some credit by deleting an allocation
    r = api.http.delete(f"/api.xro/2.0/CreditNotes/{cn['CreditNoteID']}/Allocations/{aid}",
                        headers={"Authorization": f"Bearer {api.token}", "Xero-Tenant-Id": api.tenant})
    assert r.status_code == 200 and r.json()["IsDeleted"] is True
    cn_now = api.ok("GET", f"CreditNotes/{cn['CreditNoteID']}")["CreditNotes"][0]
    assert cn_now["Status"] == "AUTHORISED" and cn_now["RemainingCredit"] == Decimal("40.00")
    refund = api.ok("PUT", "Payments", {"Payments": [{"CreditNote": {"CreditNoteID": cn["CreditNoteID"]},
                                                      "Account": {"Code": "090"}, "Amount": Decimal("40.00"),
                                                      "Date": "2026-11-04", "Reference": "refund"}]})
    assert refund["Payments"][0]["PaymentType"] == "ARCREDITPAYMENT"
    assert api.ok("GET", f"CreditNotes/{cn['CreditNoteID']}")["CreditNotes"][0]["Status"] == "PAID"
    got = api.ok("GET", f"Invoices/{inv['InvoiceID']}")["Invoices"][0]
    assert got["AmountDue"] == Decimal("100.00")


def test_bank_transactions(api: XeroApi) -> None:
    cid = _contact(api)
    body = api.ok("PUT", "BankTransactions", {"BankTransactions": [
        {"Type": "RECEIVE", "Contact": {"ContactID": cid}, "BankAccount": {"Code": "090"}, "Date": "2026-11-03",
         "Reference": "ACME PAYMENT INV-00001", "IsReconciled": False, "LineAmountTypes": "NoTax",
         "LineItems": [{"Description": "receipt", "Quantity": 1, "UnitAmount": Decimal("119.50"),
                        "AccountCode": "200"}]},
        {"Type": "SPEND", "BankAccount": {"Code": "090"}, "Date": "2026-11-03", "Reference": "Bank fee",
         "LineAmountTypes": "NoTax",
         "LineItems": [{"Description": "fee", "Quantity": 1, "UnitAmount": Decimal("0.50"), "AccountCode": "404"}]},
    ]})
    rec, fee = body["BankTransactions"]
    assert rec["Total"] == Decimal("119.50") and rec["BankAccount"]["Code"] == "090" and rec["Status"] == "AUTHORISED"
    assert fee["Type"] == "SPEND"
    def full(bt: dict, **changes) -> dict:  # the spec requires Type, BankAccount and LineItems on updates too
        return {"BankTransactions": [{"Type": bt["Type"], "BankAccount": {"Code": bt["BankAccount"]["Code"]},
                                      "LineItems": bt["LineItems"], **changes}]}

    api.ok("POST", f"BankTransactions/{rec['BankTransactionID']}", full(rec, IsReconciled=True))
    got = api.ok("GET", f"BankTransactions/{rec['BankTransactionID']}")["BankTransactions"][0]
    assert got["IsReconciled"] is True
    spend = api.ok("GET", "BankTransactions", params={"where": 'Type=="SPEND"'})["BankTransactions"]
    assert [b["Reference"] for b in spend] == ["Bank fee"]
    api.ok("POST", f"BankTransactions/{fee['BankTransactionID']}", full(fee, Status="DELETED"))
    locked = api.call("POST", f"BankTransactions/{rec['BankTransactionID']}", full(rec, Reference="changed"))
    assert locked.status_code == 400 and "reconciled" in locked.text
    live = api.ok("GET", "BankTransactions", params={"where": 'Status=="AUTHORISED"'})["BankTransactions"]
    assert len(live) == 1
    bad = api.call("PUT", "BankTransactions", {"BankTransactions": [
        {"Type": "RECEIVE", "BankAccount": {"Code": "200"}, "LineItems": [{"Description": "x", "UnitAmount": 1}]}]})
    assert bad.status_code == 400 and "BANK account" in bad.text


def test_where_order_paging_and_if_modified_since(api: XeroApi) -> None:
    cid = _contact(api)
    other = _contact(api, "Globex", "C-2")
    for n in range(1, 8):
        _invoice(api, cid if n % 2 else other, ref=f"SP-2026-10-{n:02d}", amount=str(n * 10),
                 date=f"2026-10-{n:02d}", status="AUTHORISED" if n < 6 else "DRAFT")
    _invoice(api, cid, ref="OTHER-1")
    prefixed = api.ok("GET", "Invoices", params={"where": 'Reference.StartsWith("SP-2026-10-")',
                                                 "order": "Reference DESC"})["Invoices"]
    assert [i["Reference"] for i in prefixed][:2] == ["SP-2026-10-07", "SP-2026-10-06"] and len(prefixed) == 7
    q = ('Status=="AUTHORISED" AND Date>=DateTime(2026,10,02) AND Date<DateTime(2026,10,05) '
         f'AND Contact.ContactID==guid("{cid}")')
    assert [i["Reference"] for i in api.ok("GET", "Invoices", params={"where": q})["Invoices"]] == ["SP-2026-10-03"]
    # a mix of indexed and other fields (Total is not indexed; evaluated in Python)
    q = 'Reference.StartsWith("SP-") AND Total > 70'
    assert len(api.ok("GET", "Invoices", params={"where": q})["Invoices"]) == 2
    q = 'Reference=="SP-2026-10-01" OR Reference=="SP-2026-10-02"'
    assert len(api.ok("GET", "Invoices", params={"where": q})["Invoices"]) == 2
    p1 = api.ok("GET", "Invoices", params={"page": 1, "pageSize": 3, "order": "InvoiceNumber"})
    p3 = api.ok("GET", "Invoices", params={"page": 3, "pageSize": 3, "order": "InvoiceNumber"})
    assert p1["pagination"] == {"page": 1, "pageSize": 3, "pageCount": 3, "itemCount": 8}
    assert [i["InvoiceNumber"] for i in p1["Invoices"]] == ["INV-00001", "INV-00002", "INV-00003"]
    assert [i["InvoiceNumber"] for i in p3["Invoices"]] == ["INV-00007", "INV-00008"]
    assert len(api.ok("GET", "Invoices", params={"page": 1})["Invoices"]) == 8
    statuses = api.ok("GET", "Invoices", params={"Statuses": "DRAFT"})["Invoices"]
    assert len(statuses) == 2
    numbers = api.ok("GET", "Invoices", params={"InvoiceNumbers": "INV-00001,INV-00004"})["Invoices"]
    assert {i["InvoiceNumber"] for i in numbers} == {"INV-00001", "INV-00004"}
    latest = api.ok("GET", "Invoices", params={"order": "UpdatedDateUTC DESC"})["Invoices"][0]
    since = latest["UpdatedDateUTC"]
    ms = int(since[6:since.index("+")])
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    modified = api.ok("GET", "Invoices", headers={"If-Modified-Since": stamp})["Invoices"]
    assert [i["InvoiceID"] for i in modified] == [latest["InvoiceID"]]
    assert api.ok("GET", "Invoices", headers={"If-Modified-Since": "2999-01-01T00:00:00Z"})["Invoices"] == []
    bad = api.call("GET", "Invoices", params={"where": 'Reference=="x" AND'}, validate=False)
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"
    contacts = api.ok("GET", "Contacts", params={"where": 'ContactNumber=="C-2"'})["Contacts"]
    assert [c["Name"] for c in contacts] == ["Globex"]


def test_summarize_errors_false_returns_per_item_errors(api: XeroApi) -> None:
    cid = _contact(api)
    good = {"Type": "ACCREC", "Contact": {"ContactID": cid}, "Date": "2026-10-31", "Reference": "ok",
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}]}
    bad = {**good, "Reference": "bad", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5,
                                                     "AccountCode": "999"}]}
    body = api.ok("PUT", "Invoices", {"Invoices": [good, bad]}, params={"summarizeErrors": "false"})
    ok, failed = body["Invoices"]
    assert ok["HasErrors"] is False and failed["HasErrors"] is True
    assert "Account code '999'" in failed["ValidationErrors"][0]["Message"]
    whole = api.call("PUT", "Invoices", {"Invoices": [good, bad]})
    assert whole.status_code == 400 and whole.json()["Type"] == "ValidationException"
    assert len(api.ok("GET", "Invoices")["Invoices"]) == 1  # the summarised batch wrote nothing


def test_invoice_status_rules(api: XeroApi) -> None:
    cid = _contact(api)
    inv = _invoice(api, cid, status="DRAFT")
    upd = api.ok("POST", f"Invoices/{inv['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]})
    assert upd["Invoices"][0]["Status"] == "AUTHORISED"
    r = api.call("POST", f"Invoices/{inv['InvoiceID']}", {"Invoices": [{"Status": "DELETED"}]})
    assert r.status_code == 400 and "void it instead" in r.text
    api.ok("PUT", "Payments", {"Payments": [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"},
                                             "Amount": Decimal("1.00")}]})
    r = api.call("POST", f"Invoices/{inv['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert r.status_code == 400 and "remove them before voiding" in r.text
    other = _invoice(api, cid, ref="R-9")
    voided = api.ok("POST", f"Invoices/{other['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert voided["Invoices"][0]["Status"] == "VOIDED"
    dup = api.call("PUT", "Invoices", {"Invoices": [{**{k: v for k, v in inv.items() if k in (
        "Type", "Contact", "LineItems", "Date")}, "InvoiceNumber": inv["InvoiceNumber"]}]}, validate=False)
    assert dup.status_code == 400 and "must be unique" in dup.text


@pytest.mark.parametrize("coll", ["Contacts", "Invoices", "CreditNotes", "Payments", "BankTransactions",
                                  "Accounts", "TaxRates", "Currencies"])
def test_every_collection_lists_in_its_envelope(api: XeroApi, coll: str) -> None:
    body = api.ok("GET", coll)
    assert body["Status"] == "OK" and isinstance(body[coll], list)
