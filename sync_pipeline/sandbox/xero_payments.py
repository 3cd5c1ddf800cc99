"""Payments and credit note allocations of the Xero sandbox, with their effect on what documents owe."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sync_pipeline.sandbox.server import Request, Response
from sync_pipeline.sandbox.xero_money import (
    _dec,
    _parse_date,
    _q,
    _settle_credit_note,
    _settle_invoice,
    ms_date,
    utcnow,
)
from sync_pipeline.sandbox.xero_requests import _err, _not_found, _Rollback, _Tx, _validation_exception


class PaymentsMixin:
    """Payments and allocations of :class:`~sync_pipeline.sandbox.xero.XeroSandbox`."""

    # -- payments ------------------------------------------------------------------------------
    def _build_Payments(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = {k: v for k, v in item.items() if k not in ("PaymentID", "UpdatedDateUTC", "PaymentType",
                                                          "BankAmount", "HasAccount", "HasValidationErrors")}
        target, kind = None, None
        inv_spec, cn_spec = item.get("Invoice"), item.get("CreditNote")
        if isinstance(inv_spec, dict) and (inv_spec.get("InvoiceID") or inv_spec.get("InvoiceNumber")):
            target = self.find("Invoices", tenant, str(inv_spec.get("InvoiceID") or inv_spec["InvoiceNumber"]))
            kind = "Invoices"
            if target is None:
                errors.append("The Invoice could not be found: give a valid InvoiceID or InvoiceNumber")
        elif isinstance(cn_spec, dict) and (cn_spec.get("CreditNoteID") or cn_spec.get("CreditNoteNumber")):
            target = self.find("CreditNotes", tenant,
                               str(cn_spec.get("CreditNoteID") or cn_spec["CreditNoteNumber"]))
            kind = "CreditNotes"
            if target is None:
                errors.append("The CreditNote could not be found: give a valid CreditNoteID or CreditNoteNumber")
        elif item.get("InvoiceNumber"):
            target, kind = self.find("Invoices", tenant, str(item["InvoiceNumber"])), "Invoices"
            if target is None:
                errors.append(f"Invoice {item['InvoiceNumber']} could not be found")
        else:
            errors.append("A payment must be applied to an Invoice or a CreditNote")
        account = self._account(tenant, item.get("Account"))
        if account is None:
            errors.append("A payment needs an Account with a valid AccountID or Code")
        elif not (account.get("Type") == "BANK" or account.get("EnablePaymentsToAccount")):
            errors.append(f"Account {account['Code']} is not a bank account and does not have "
                          "EnablePaymentsToAccount set; payments cannot be made to it.")
        amount = _dec(item.get("Amount"), "Amount", errors)
        if amount is None and not errors:
            errors.append("The payment Amount must be specified")
        d = _parse_date(item.get("Date"), "Date", errors) or utcnow().date()
        if errors or target is None or account is None or amount is None:
            return doc, errors
        currency = target["CurrencyCode"]
        if amount <= 0:
            errors.append("Payment amount must be greater than zero")
        if _q(amount, currency) != amount:
            errors.append(f"Payment amount {amount} has more decimal places than {currency} allows")
        if kind == "Invoices":
            if target["Status"] != "AUTHORISED":
                errors.append(f"Payments can only be made against AUTHORISED invoices; this invoice is "
                              f"{target['Status']}")
            outstanding = Decimal(str(target.get("AmountDue", 0)))
        else:
            if target["Status"] != "AUTHORISED":
                errors.append(f"Refunds can only be made against AUTHORISED credit notes; this credit note is "
                              f"{target['Status']}")
            outstanding = Decimal(str(target.get("RemainingCredit", 0)))
        if not errors and amount > outstanding:
            errors.append(f"Payment amount ({amount}) exceeds the amount outstanding on this document "
                          f"({outstanding}).")
        rate = _dec(item.get("CurrencyRate"), "CurrencyRate", errors)
        if rate is not None and rate <= 0:
            errors.append("CurrencyRate must be greater than zero")
        if errors:
            return doc, errors
        rate = rate or Decimal(str(target.get("CurrencyRate") or 1))
        bank_ccy = account.get("CurrencyCode") or self.base_currency(tenant)
        if bank_ccy == currency:
            bank_amount = amount
        elif bank_ccy == self.base_currency(tenant):
            bank_amount = _q(amount / rate, bank_ccy)
        else:
            errors.append(f"Account {account['Code']} is in {bank_ccy}; a {currency} document can be paid into a "
                          f"{currency} or base-currency ({self.base_currency(tenant)}) account only")
            return doc, errors
        pid = str(uuid.uuid4())
        ptype = {("Invoices", "ACCREC"): "ACCRECPAYMENT", ("Invoices", "ACCPAY"): "ACCPAYPAYMENT",
                 ("CreditNotes", "ACCRECCREDIT"): "ARCREDITPAYMENT",
                 ("CreditNotes", "ACCPAYCREDIT"): "APCREDITPAYMENT"}[(kind, target["Type"])]
        doc.update({
            "PaymentID": pid, "Date": ms_date(d), "Amount": amount, "BankAmount": bank_amount,
            "CurrencyRate": rate, "Reference": item.get("Reference") or "", "IsReconciled": bool(item.get("IsReconciled")),
            "Status": "AUTHORISED", "PaymentType": ptype, "HasAccount": True, "HasValidationErrors": False,
            "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
        })
        summary = {"PaymentID": pid, "Date": ms_date(d), "Amount": amount, "CurrencyRate": rate,
                   "Reference": doc["Reference"], "HasAccount": True, "HasValidationErrors": False}
        if kind == "Invoices":
            doc.pop("CreditNote", None)
            doc["Invoice"] = {"InvoiceID": target["InvoiceID"], "InvoiceNumber": target.get("InvoiceNumber"),
                              "Type": target["Type"], "CurrencyCode": currency}
            if target.get("Contact"):
                doc["Invoice"]["Contact"] = target["Contact"]
            target["Payments"] = [*(target.get("Payments") or []), summary]
            _settle_invoice(target, paid_on=d)
            self._save("Invoices", tenant, target, tx, created=False)
        else:
            doc.pop("Invoice", None)
            doc["CreditNote"] = {"CreditNoteID": target["CreditNoteID"],
                                 "CreditNoteNumber": target.get("CreditNoteNumber"), "Type": target["Type"],
                                 "CurrencyCode": currency}
            if target.get("Contact"):
                doc["CreditNote"]["Contact"] = target["Contact"]
            target["Payments"] = [*(target.get("Payments") or []), summary]
            _settle_credit_note(target, paid_on=d)
            self._save("CreditNotes", tenant, target, tx, created=False)
        return doc, errors

    def _delete_payment(self, tenant: str, item: dict[str, Any], tx: _Tx) -> dict[str, Any]:
        pid = str(item.get("PaymentID") or "")
        pay = self.store.get("Payments", tenant, pid.lower())
        if pay is None:
            return _err(item, [f"Payment {pid} could not be found"])
        status = str(item.get("Status") or "").upper()
        if status != "DELETED":
            return _err(item, ["A payment can only be changed by deleting it: POST {\"Status\": \"DELETED\"}"])
        if pay["Status"] == "DELETED":
            return _err(item, ["This payment has already been deleted"])
        pay["Status"] = "DELETED"
        if pay.get("Invoice"):
            inv = self.store.get("Invoices", tenant, pay["Invoice"]["InvoiceID"].lower())
            if inv is not None:
                inv["Payments"] = [p for p in inv.get("Payments") or [] if p["PaymentID"] != pay["PaymentID"]]
                _settle_invoice(inv)
                self._save("Invoices", tenant, inv, tx, created=False)
        elif pay.get("CreditNote"):
            cn = self.store.get("CreditNotes", tenant, pay["CreditNote"]["CreditNoteID"].lower())
            if cn is not None:
                cn["Payments"] = [p for p in cn.get("Payments") or [] if p["PaymentID"] != pay["PaymentID"]]
                _settle_credit_note(cn)
                self._save("CreditNotes", tenant, cn, tx, created=False)
        self._save("Payments", tenant, pay, tx, created=False)
        return pay

    # -- credit note allocations ---------------------------------------------------------------
    def _allocate(self, req: Request) -> Response:
        tenant = req.params["tenant"]

        def run() -> Response:
            items = self._items("Allocations", req)
            summarize = (req.arg("summarizeErrors") or "true").lower() != "false"
            with self.store.tx() as c:
                tx = _Tx(c)
                cn = self.find("CreditNotes", tenant, req.params["id"])
                if cn is None:
                    raise _Rollback(_not_found())
                results = [self._allocate_one(tenant, cn, a, tx) for a in items]
                failed = [r for r in results if r.get("ValidationErrors")]
                if failed and summarize:
                    raise _Rollback(_validation_exception(failed))
            self._publish(tx.events)
            return Response(200, self._envelope("Allocations", results))

        return self._idempotent(req, run)

    def _allocate_one(self, tenant: str, cn: dict[str, Any], alloc: dict[str, Any], tx: _Tx,
                      save_credit_note: bool = True) -> dict[str, Any]:
        errors: list[str] = []
        inv_spec = alloc.get("Invoice") or {}
        inv = None
        if isinstance(inv_spec, dict) and (inv_spec.get("InvoiceID") or inv_spec.get("InvoiceNumber")):
            inv = self.find("Invoices", tenant, str(inv_spec.get("InvoiceID") or inv_spec["InvoiceNumber"]))
        if inv is None:
            errors.append("The Invoice of an allocation must be given with a valid InvoiceID or InvoiceNumber")
        amount = _dec(alloc.get("Amount"), "Amount", errors)
        if amount is None and not errors:
            errors.append("The allocation Amount must be specified")
        d = _parse_date(alloc.get("Date"), "Date", errors) or utcnow().date()
        if not errors:
            assert inv is not None and amount is not None
            if cn.get("Status") != "AUTHORISED":
                errors.append(f"Only AUTHORISED credit notes can be allocated; this one is {cn.get('Status')}")
            if inv.get("Status") != "AUTHORISED":
                errors.append(f"Credit notes can only be allocated to AUTHORISED invoices; this one is "
                              f"{inv.get('Status')}")
            if inv.get("CurrencyCode") != cn.get("CurrencyCode"):
                errors.append(f"The credit note is in {cn.get('CurrencyCode')} and the invoice in "
                              f"{inv.get('CurrencyCode')}; an allocation needs the same currency")
            if (inv.get("Contact") or {}).get("ContactID") != (cn.get("Contact") or {}).get("ContactID"):
                errors.append("The credit note and the invoice belong to different contacts")
            expected = {"ACCRECCREDIT": "ACCREC", "ACCPAYCREDIT": "ACCPAY"}.get(cn.get("Type"))
            if inv.get("Type") != expected:
                errors.append(f"A {cn.get('Type')} credit note can only be allocated to {expected} invoices")
            if amount <= 0:
                errors.append("Allocation amount must be greater than zero")
            remaining = Decimal(str(cn.get("RemainingCredit", 0)))
            due = Decimal(str(inv.get("AmountDue", 0)))
            if amount > remaining:
                errors.append(f"The amount to allocate ({amount}) exceeds the remaining credit ({remaining})")
            if amount > due:
                errors.append(f"The amount to allocate ({amount}) exceeds the amount due on the invoice ({due})")
        if errors:
            return {**alloc, "StatusAttributeString": "ERROR", "ValidationErrors": [{"Message": m} for m in errors]}
        assert inv is not None and amount is not None
        aid = str(uuid.uuid4())
        allocation = {"AllocationID": aid, "Amount": amount, "Date": ms_date(d), "IsDeleted": False,
                      "Invoice": {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv.get("InvoiceNumber")}}
        cn["Allocations"] = [*(cn.get("Allocations") or []), allocation]
        _settle_credit_note(cn, paid_on=d)
        inv["CreditNotes"] = [*(inv.get("CreditNotes") or []), {
            "CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn.get("CreditNoteNumber"), "AllocationID": aid,
            "AppliedAmount": amount, "Date": ms_date(d), "Total": cn.get("Total"), "Type": cn.get("Type")}]
        _settle_invoice(inv, paid_on=d)
        self._save("Invoices", tenant, inv, tx, created=False)
        if save_credit_note:
            self._save("CreditNotes", tenant, cn, tx, created=False)
        return {**allocation, "CreditNote": {"CreditNoteID": cn["CreditNoteID"],
                                             "CreditNoteNumber": cn.get("CreditNoteNumber")},
                "StatusAttributeString": "OK"}

    def _delete_allocation(self, req: Request) -> Response:
        tenant, aid = req.params["tenant"], req.params["alloc"].lower()
        with self.store.tx() as c:
            tx = _Tx(c)
            cn = self.find("CreditNotes", tenant, req.params["id"])
            alloc = next((a for a in (cn or {}).get("Allocations") or [] if a["AllocationID"].lower() == aid), None)
            if cn is None or alloc is None:
                raise _Rollback(_not_found())
            cn["Allocations"] = [a for a in cn["Allocations"] if a["AllocationID"].lower() != aid]
            _settle_credit_note(cn)
            self._save("CreditNotes", tenant, cn, tx, created=False)
            inv = self.store.get("Invoices", tenant, alloc["Invoice"]["InvoiceID"].lower())
            if inv is not None:
                inv["CreditNotes"] = [x for x in inv.get("CreditNotes") or [] if x.get("AllocationID", "").lower() != aid]
                _settle_invoice(inv)
                self._save("Invoices", tenant, inv, tx, created=False)
        self._publish(tx.events)
        return Response(200, {**alloc, "IsDeleted": True, "CreditNote": {"CreditNoteID": cn["CreditNoteID"]}})

    def allocate(self, tenant: str, credit_note: str, allocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Allocate a credit note (id or number) to invoices without HTTP; results as the API returns them."""
        with self.store.tx() as c:
            tx = _Tx(c)
            cn = self.find("CreditNotes", tenant, credit_note)
            if cn is None:
                raise KeyError(f"credit note {credit_note} not found in tenant {tenant}")
            out = [self._allocate_one(tenant, cn, a, tx) for a in allocations]
        self._publish(tx.events)
        return out
