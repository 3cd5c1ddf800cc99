"""Documents of the Xero sandbox: how an item sent to Contacts, Invoices, CreditNotes, BankTransactions,
Accounts, TaxRates, Items, TrackingCategories or Currencies becomes the stored document (or its errors).

Each ``_build_<Collection>(tenant, item, existing, tx)`` returns (document, errors); the caller
(:class:`~sync_pipeline.sandbox.xero.XeroSandbox`) stores it or rolls the item back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sync_pipeline.contracts import xero_spec
from sync_pipeline.sandbox import xero_catalog as catalog
from sync_pipeline.sandbox import xero_reference as ref
from sync_pipeline.sandbox.server import Request, Response
from sync_pipeline.sandbox.xero_money import (
    MAX_AMOUNT,
    _dec,
    _exp,
    _parse_date,
    _settle_credit_note,
    _settle_invoice,
    ms_date,
    utcnow,
)
from sync_pipeline.sandbox.xero_requests import _err, _not_found, _Rollback, _Tx, _validation_exception

INVOICE_STATUSES = {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}


class DocumentsMixin:
    """Builders of :class:`~sync_pipeline.sandbox.xero.XeroSandbox` (uses its store, lookups and ``_save``)."""

    # -- builders: item (+ existing document) → (document, errors) --------------------------------
    def _build_Contacts(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("ContactID", "UpdatedDateUTC")})
        name = doc.get("Name")
        if not name or not str(name).strip():
            errors.append("The contact name must be specified.")
        elif not existing or existing.get("Name") != name:
            clash = self.store.query("Contacts", tenant, "Name = ? AND ContactStatus IS NOT 'ARCHIVED'", [name],
                                     limit=1)
            if clash:
                errors.append(f"The contact name {name} is already assigned to another contact. "
                              "The contact name must be unique across all active contacts.")
        number = doc.get("ContactNumber")
        if number and (not existing or existing.get("ContactNumber") != number):
            if self.store.query("Contacts", tenant, "ContactNumber = ?", [number], limit=1):
                errors.append(f"The contact number {number} is already assigned to another contact.")
        if doc.get("ContactStatus", "ACTIVE") not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
            errors.append("ContactStatus must be ACTIVE, ARCHIVED or GDPRREQUEST")
        if (ccy := doc.get("DefaultCurrency")) and ccy not in self._ref(tenant, "Currencies"):
            errors.append(f"The currency {ccy} is not enabled for this organisation")
        doc["ContactID"] = (existing or {}).get("ContactID") or str(uuid.uuid4())
        doc.setdefault("ContactStatus", "ACTIVE")
        doc.setdefault("IsCustomer", True)
        doc.setdefault("IsSupplier", False)
        doc.setdefault("HasAttachments", False)
        doc.setdefault("HasValidationErrors", False)
        return doc, errors

    def _lines(self, tenant: str, doc: dict[str, Any], currency: str, errors: list[str], *, revenue: bool = True):
        lat = doc.get("LineAmountTypes") or "Exclusive"
        if lat not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax")
            lat = "Exclusive"
        doc["LineAmountTypes"] = lat
        lines = doc.get("LineItems") or []
        if not isinstance(lines, list) or not lines:
            errors.append("At least one line item is required")
            lines = []
        exp = _exp(currency)
        sub, tax = Decimal(0), Decimal(0)
        out = []
        for n, li in enumerate(lines, start=1):
            if not isinstance(li, dict):
                errors.append(f"LineItems[{n}] must be an object")
                continue
            qty = _dec(li.get("Quantity", 1), f"LineItems[{n}].Quantity", errors)
            qty = Decimal(1) if qty is None else qty
            unit = _dec(li.get("UnitAmount", 0), f"LineItems[{n}].UnitAmount", errors) or Decimal(0)
            disc = _dec(li.get("DiscountRate"), f"LineItems[{n}].DiscountRate", errors)
            gross = qty * unit * ((100 - disc) / 100 if disc is not None else 1)
            if abs(gross) >= MAX_AMOUNT:
                errors.append(f"Line {n}: the line amount {qty} x {unit} is too large (the sandbox takes "
                              f"amounts below {MAX_AMOUNT:,})")
                gross = Decimal(0)
            computed = gross.quantize(exp, rounding=ROUND_HALF_UP)
            given = _dec(li.get("LineAmount"), f"LineItems[{n}].LineAmount", errors)
            if given is not None and given != computed:
                errors.append(f"Line {n}: the line total {given} does not match the quantity x unit amount "
                              f"{computed}")
            if (item_code := li.get("ItemCode")) is not None and str(item_code) not in self._ref(tenant, "Items"):
                errors.append(f"Line {n}: Item code '{item_code}' is not valid.")
            if li.get("Tracking"):
                li = {**li, "Tracking": catalog.resolve_tracking(
                    li["Tracking"], list(self._ref(tenant, "TrackingCategories").values()), n, errors)}
            code = li.get("AccountCode")
            if code is not None and str(code) not in self._ref(tenant, "Accounts"):
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            tax_type = li.get("TaxType")
            if tax_type is None and code is not None:
                tax_type = (self._ref(tenant, "Accounts").get(str(code)) or {}).get("TaxType")
            rate = self.tax_rate(tenant, tax_type) if lat != "NoTax" else Decimal(0)
            if rate is None:
                errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
                              "transaction.")
                rate = Decimal(0)
            if lat == "Exclusive":
                line_tax = (computed * rate / 100).quantize(exp, rounding=ROUND_HALF_UP)
            elif lat == "Inclusive":
                line_tax = (computed - computed / (1 + rate / 100)).quantize(exp, rounding=ROUND_HALF_UP)
            else:
                line_tax = Decimal(0)
            # "TaxAmount ... can be overriden if the calculated TaxAmount is not correct" (Xero's spec): a given
            # TaxAmount replaces the calculated one. The sandbox refuses one more than ``tax_amount_tolerance``
            # minor units away from its calculation (its own rule, see docs/sandbox.md).
            given_tax = _dec(li.get("TaxAmount"), f"LineItems[{n}].TaxAmount", errors)
            if given_tax is not None and lat != "NoTax":
                off = abs(given_tax - line_tax)
                tolerance = self.tax_amount_tolerance
                if given_tax != given_tax.quantize(exp) or tolerance is not None and off > exp * tolerance:
                    errors.append(f"Line {n}: the tax amount {given_tax} is not a rounding of the calculated "
                                  f"{line_tax} ({tax_type} on {computed})")
                else:
                    line_tax = given_tax
            sub += computed if lat != "Inclusive" else computed - line_tax
            tax += line_tax
            out_li = {**li, "LineItemID": li.get("LineItemID") or str(uuid.uuid4()), "Quantity": qty,
                      "UnitAmount": unit, "LineAmount": computed, "TaxAmount": line_tax}
            if tax_type is not None:
                out_li["TaxType"] = str(tax_type).upper()
            out.append(out_li)
        doc["LineItems"] = out
        doc["SubTotal"], doc["TotalTax"], doc["Total"] = sub, tax, sub + tax

    def _currency(self, tenant: str, doc: dict[str, Any], errors: list[str], default: str | None = None) -> str:
        base = self.base_currency(tenant)
        currency = doc.get("CurrencyCode") or default or base
        if currency not in self._ref(tenant, "Currencies"):
            errors.append(f"The currency {currency} is not enabled for this organisation")
            currency = base
        doc["CurrencyCode"] = currency
        rate = _dec(doc.get("CurrencyRate"), "CurrencyRate", errors)
        if rate is not None and rate <= 0:
            errors.append("CurrencyRate must be greater than zero")
        doc["CurrencyRate"] = rate if rate and rate > 0 else ref.currency_rate(currency, base)
        return currency

    def _dates(self, doc: dict[str, Any], errors: list[str], due_days: int | None = 30) -> date:
        d = _parse_date(doc.get("Date"), "Date", errors) or utcnow().date()
        doc["Date"], doc["DateString"] = ms_date(d), f"{d.isoformat()}T00:00:00"
        if due_days is not None:
            due = _parse_date(doc.get("DueDate"), "DueDate", errors) or (d + timedelta(days=due_days))
            doc["DueDate"], doc["DueDateString"] = ms_date(due), f"{due.isoformat()}T00:00:00"
        return d

    def _build_Invoices(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        old_status = (existing or {}).get("Status")
        new_status = str(item.get("Status") or old_status or "DRAFT").upper()
        if existing:
            settled = (existing.get("AmountPaid") or 0) or (existing.get("AmountCredited") or 0)
            content = set(item) - {"InvoiceID", "Status", "Reference", "UpdatedDateUTC", "DueDate",
                                   "ExpectedPaymentDate", "PlannedPaymentDate", "SentToContact"}
            if old_status in ("PAID", "VOIDED", "DELETED"):
                if content or new_status != old_status:
                    return {}, [f"Invoice not of valid status for modification (status {old_status})"]
            elif old_status == "AUTHORISED":
                if content and settled:
                    return {}, ["This document cannot be edited as it has a payment or credit note allocated to it."]
                if new_status == "VOIDED" and settled:
                    return {}, ["Invoice has payments or credit notes applied; remove them before voiding it."]
                if new_status in ("DELETED", "DRAFT", "SUBMITTED"):
                    return {}, [f"An AUTHORISED invoice cannot be set to {new_status}; void it instead."]
            elif new_status == "VOIDED":
                return {}, [f"A {old_status} invoice cannot be voided; delete it instead."]
            if new_status == "PAID" and old_status != "PAID":
                return {}, ["Invoice status cannot be set to PAID; apply payments instead."]
        elif new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"A new invoice must be DRAFT, SUBMITTED or AUTHORISED, not {new_status}")
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("InvoiceID", "UpdatedDateUTC", "Payments",
                                                              "CreditNotes", "AmountPaid", "AmountDue",
                                                              "AmountCredited")})
        if doc.get("Type") not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be ACCREC or ACCPAY")
        if new_status not in INVOICE_STATUSES:
            errors.append(f"Status {new_status} is not valid")
        doc["Status"] = new_status
        cdoc = self._contact(tenant, doc.get("Contact"), tx)
        if cdoc is None:
            errors.append("A Contact must be specified with a valid ContactID, ContactNumber or Name")
        else:
            doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(cdoc or {}).get("DefaultCurrency"))
        self._dates(doc, errors)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        number = doc.get("InvoiceNumber")
        if number and doc.get("Type") == "ACCREC" and (existing is None or existing.get("InvoiceNumber") != number):
            clash = self.store.query("Invoices", tenant, "InvoiceNumber = ? AND Status NOT IN ('DELETED', 'VOIDED')",
                                     [number], limit=1)
            if clash:
                errors.append(f"Invoice # must be unique. {number} is already used.")
        doc["InvoiceID"] = (existing or {}).get("InvoiceID") or str(uuid.uuid4())
        doc.setdefault("Payments", [])
        doc.setdefault("CreditNotes", [])
        doc.setdefault("Prepayments", [])
        doc.setdefault("Overpayments", [])
        doc.setdefault("HasAttachments", False)
        doc.setdefault("IsDiscounted", False)
        doc.setdefault("SentToContact", False)
        if errors:
            return doc, errors
        if not doc.get("InvoiceNumber"):
            prefix = "INV" if doc["Type"] == "ACCREC" else "BILL"
            doc["InvoiceNumber"] = f"{prefix}-{self.store.next_value(f'invno:{tenant}:{prefix}', tx.c):05d}"
        _settle_invoice(doc)
        return doc, errors

    def _build_CreditNotes(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        old_status = (existing or {}).get("Status")
        new_status = str(item.get("Status") or old_status or "DRAFT").upper()
        if existing:
            content = set(item) - {"CreditNoteID", "Status", "Reference", "UpdatedDateUTC", "SentToContact"}
            used = (existing.get("Allocations") or existing.get("Payments"))
            if old_status in ("PAID", "VOIDED", "DELETED") and (content or new_status != old_status):
                return {}, [f"Credit note not of valid status for modification (status {old_status})"]
            if old_status == "AUTHORISED":
                if (content or new_status == "VOIDED") and used:
                    return {}, ["This credit note has allocations or refunds; remove them first."]
                if new_status in ("DELETED", "DRAFT", "SUBMITTED"):
                    return {}, [f"An AUTHORISED credit note cannot be set to {new_status}; void it instead."]
            if new_status == "PAID" and old_status != "PAID":
                return {}, ["Credit note status cannot be set to PAID; allocate it instead."]
        elif new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"A new credit note must be DRAFT, SUBMITTED or AUTHORISED, not {new_status}")
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("CreditNoteID", "UpdatedDateUTC", "Allocations",
                                                              "Payments", "RemainingCredit")})
        if doc.get("Type") not in ("ACCRECCREDIT", "ACCPAYCREDIT"):
            errors.append("Credit note Type must be ACCRECCREDIT or ACCPAYCREDIT")
        doc["Status"] = new_status
        cdoc = self._contact(tenant, doc.get("Contact"), tx)
        if cdoc is None:
            errors.append("A Contact must be specified with a valid ContactID, ContactNumber or Name")
        else:
            doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(cdoc or {}).get("DefaultCurrency"))
        self._dates(doc, errors, due_days=None)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        doc["CreditNoteID"] = (existing or {}).get("CreditNoteID") or str(uuid.uuid4())
        doc.setdefault("Allocations", [])
        doc.setdefault("Payments", [])
        doc.setdefault("HasAttachments", False)
        doc.setdefault("SentToContact", False)
        if errors:
            return doc, errors
        if not doc.get("CreditNoteNumber"):
            doc["CreditNoteNumber"] = f"CN-{self.store.next_value(f'cnno:{tenant}', tx.c):05d}"
        _settle_credit_note(doc)
        # allocations given on creation (Xero accepts them on PUT CreditNotes)
        for alloc in item.get("Allocations") or []:
            res = self._allocate_one(tenant, doc, alloc, tx, save_credit_note=False)
            if res.get("ValidationErrors"):
                errors.extend(e["Message"] for e in res["ValidationErrors"])
        return doc, errors

    def _build_BankTransactions(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        if existing and existing.get("Status") in ("DELETED", "VOIDED"):
            return {}, [f"Bank transaction not of valid status for modification (status {existing['Status']})"]
        if existing and existing.get("IsReconciled") and set(item) - {"BankTransactionID", "IsReconciled",
                                                                      "Reference", "Status"}:
            return {}, ["This bank transaction has been reconciled and cannot be edited."]
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("BankTransactionID", "UpdatedDateUTC")})
        types = ("RECEIVE", "RECEIVE-OVERPAYMENT", "RECEIVE-PREPAYMENT", "SPEND", "SPEND-OVERPAYMENT",
                 "SPEND-PREPAYMENT", "RECEIVE-TRANSFER", "SPEND-TRANSFER")
        if doc.get("Type") not in types:
            errors.append("Bank transaction Type must be RECEIVE or SPEND (or their -OVERPAYMENT/-PREPAYMENT forms)")
        status = str(doc.get("Status") or "AUTHORISED").upper()
        if status not in ("AUTHORISED", "DELETED", "VOIDED"):
            errors.append(f"Bank transaction Status must be AUTHORISED or DELETED, not {status}")
        doc["Status"] = status
        account = self._account(tenant, doc.get("BankAccount"))
        if account is None or account.get("Type") != "BANK":
            errors.append("A bank account must be specified with a valid AccountID or Code of a BANK account")
        else:
            doc["BankAccount"] = {"AccountID": account["AccountID"], "Code": account["Code"],
                                  "Name": account["Name"]}
        if doc.get("Contact") is not None:
            cdoc = self._contact(tenant, doc.get("Contact"), tx)
            if cdoc is None:
                errors.append("The Contact must have a valid ContactID, ContactNumber or Name")
            else:
                doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(account or {}).get("CurrencyCode"))
        if account is not None and account.get("CurrencyCode") and account["CurrencyCode"] != currency:
            errors.append(f"The bank account {account['Code']} is in {account['CurrencyCode']}; a bank transaction "
                          f"in it cannot be in {currency}")
        self._dates(doc, errors, due_days=None)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        rec = doc.get("IsReconciled", False)
        if not isinstance(rec, bool):
            errors.append("IsReconciled must be true or false")
        doc["IsReconciled"] = bool(rec)
        doc["BankTransactionID"] = (existing or {}).get("BankTransactionID") or str(uuid.uuid4())
        doc.setdefault("HasAttachments", False)
        return doc, errors

    def _build_Accounts(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("AccountID", "UpdatedDateUTC", "Class")})
        code = doc.get("Code")
        if not code:
            errors.append("Please enter a code for this account.")
        elif (existing is None or existing.get("Code") != code) and str(code) in self._ref(tenant, "Accounts"):
            errors.append(f"Please enter a unique Code. {code} is already used by another account.")
        if not doc.get("Name"):
            errors.append("Please enter a name for this account.")
        typ = doc.get("Type")
        if typ not in ref.CLASS_OF_TYPE:
            errors.append(f"Account Type {typ} is not valid")
        doc["Class"] = ref.CLASS_OF_TYPE.get(typ, "ASSET")
        if typ == "BANK":
            doc.setdefault("BankAccountType", "BANK")
            doc.setdefault("CurrencyCode", self.base_currency(tenant))
            doc["EnablePaymentsToAccount"] = True
        doc.setdefault("Status", "ACTIVE")
        doc.setdefault("EnablePaymentsToAccount", False)
        doc.setdefault("ShowInExpenseClaims", False)
        doc.setdefault("HasAttachments", False)
        doc.setdefault("AddToWatchlist", False)
        doc.setdefault("TaxType", "NONE")
        doc["AccountID"] = (existing or {}).get("AccountID") or str(uuid.uuid4())
        return doc, errors

    def _build_TaxRates(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("UpdatedDateUTC", "EffectiveRate", "DisplayTaxRate")})
        if not doc.get("Name"):
            errors.append("Please enter a name for this tax rate.")
        if not doc.get("TaxType"):
            n = self.store.next_value(f"taxno:{tenant}", tx.c)
            doc["TaxType"] = f"TAX{n:03d}"
        comps = doc.get("TaxComponents") or []
        if not comps:
            errors.append("A tax rate needs at least one tax component.")
        total = Decimal(0)
        for n, comp in enumerate(comps, start=1):
            r = _dec(comp.get("Rate"), f"TaxComponents[{n}].Rate", errors) or Decimal(0)
            total += r
        doc["EffectiveRate"] = doc["DisplayTaxRate"] = total
        doc.setdefault("Status", "ACTIVE")
        doc.setdefault("ReportTaxType", "OUTPUT")
        for k in ("CanApplyToAssets", "CanApplyToEquity", "CanApplyToExpenses", "CanApplyToLiabilities",
                  "CanApplyToRevenue"):
            doc.setdefault(k, True)
        return doc, errors

    def _build_Items(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        code = item.get("Code")
        taken = code is not None and (existing is None or existing.get("Code") != code) and \
            str(code) in self._ref(tenant, "Items")
        return catalog.build_item(item, existing, taken)

    def _build_TrackingCategories(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None,
                                  tx: _Tx):
        others = [c for c in self._ref(tenant, "TrackingCategories").values()
                  if c["TrackingCategoryID"] != (existing or {}).get("TrackingCategoryID")]
        return catalog.build_category(item, existing, others)

    def _add_tracking_option(self, req: Request) -> Response:
        tenant = req.params["tenant"]

        def run() -> Response:
            option = req.json()
            with self.store.tx() as c:
                tx = _Tx(c)
                cat = self.find("TrackingCategories", tenant, req.params["id"])
                if cat is None:
                    raise _Rollback(_not_found())
                errors = catalog.add_option(cat, option if isinstance(option, dict) else {})
                if errors:
                    raise _Rollback(_validation_exception([_err(option, errors)]))
                self._save("TrackingCategories", tenant, cat, tx, created=False)
            return Response(200, {"Options": [cat["Options"][-1]]})

        return self._idempotent(req, run)

    def add_tracking(self, tenant: str, category: str, options: Iterable[str]) -> dict[str, Any]:
        """A tracking category with (at least) these options, without HTTP (seeding): created, or the options
        it lacks added to it; returns it."""
        existing = next((c for c in self._ref(tenant, "TrackingCategories").values()
                         if c["Name"].lower() == category.lower()), None)
        with self.store.tx() as c:
            tx = _Tx(c)
            if existing is None:
                result = self._apply("TrackingCategories", tenant,
                                     {"Name": category, "Options": [{"Name": o} for o in options]}, True, tx)
            else:
                result = dict(existing, Options=list(existing["Options"]))
                have = {o["Name"].lower() for o in result["Options"]}
                missing = [o for o in options if o.lower() not in have]
                for o in missing:
                    catalog.add_option(result, {"Name": o})
                if missing:
                    self._save("TrackingCategories", tenant, result, tx, created=False)
        if result.get("HasErrors"):
            raise ValueError(f"cannot add tracking category {category}: {result['ValidationErrors']}")
        return result

    def _build_Currencies(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        code = str(item.get("Code") or "")
        if code not in xero_spec.schema("CurrencyCode")["enum"]:  # every currency Xero lists can be added
            return item, [f"Currency code {code or '(none)'} is not a currency Xero supports"]
        return {"Code": code, "Description": item.get("Description") or ref.CURRENCIES.get(code, code)}, []


def _contact_ref(c: dict[str, Any]) -> dict[str, Any]:
    out = {"ContactID": c["ContactID"], "Name": c["Name"]}
    if c.get("ContactNumber"):
        out["ContactNumber"] = c["ContactNumber"]
    return out
