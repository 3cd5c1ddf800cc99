"""Payments (and the credit memos they apply), and deposits of received payments.

A ``Payment`` names a customer, a ``TotalAmt`` and lines, each ``{"Amount", "LinkedTxn": [{"TxnId",
"TxnType": "Invoice" | "CreditMemo"}]}``: invoice lines are paid, credit-memo lines are credit used (so a
payment of 0 can settle an invoice with a credit memo). ``UnappliedAmt`` = ``TotalAmt`` − invoices + credits,
never negative. An invoice's ``Balance`` (and a credit memo's ``Balance``/``RemainingCredit``) drop by what is
applied, and the invoice gets a ``LinkedTxn`` to the payment; deleting or voiding the payment gives it back.
``DepositToAccountRef`` is a Bank or Other Current Asset account; Undeposited Funds when left out.

A ``Deposit`` moves payments held in Undeposited Funds to a bank account: lines
``{"Amount", "LinkedTxn": [{"TxnId": <payment>, "TxnType": "Payment", "TxnLineId": "0"}]}``, or other
income ``{"Amount", "DetailType": "DepositLineDetail", "DepositLineDetail": {"AccountRef"}}``.
Cash reconciliation reads payments deposited straight to a bank account and deposits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sync_pipeline.sandbox import qbo_reference as ref
from sync_pipeline.sandbox.qbo_entities import cents, money, parse_date, ref_id, today
from sync_pipeline.sandbox.qbo_faults import not_found, required, validation

DEPOSIT_TO_TYPES = {"Bank", "Other Current Asset"}


class PaymentsMixin:
    """Needs the QboSandbox core (get, save, live, company, _ref)."""

    def customer_balances(self, realm: str) -> dict[str, Decimal]:
        """Open balance per customer: invoices' balances − unused credit − unapplied payments."""
        out: dict[str, Decimal] = {}
        for entity, sign, field in (("Invoice", 1, "Balance"), ("CreditMemo", -1, "Balance"),
                                    ("Payment", -1, "UnappliedAmt")):
            for d in self.live(entity, realm):
                cid = ref_id(d.get("CustomerRef"))
                out[cid] = out.get(cid, Decimal(0)) + sign * Decimal(str(d.get(field) or 0))
        return out

    def customer_balance(self, realm: str, customer_id: str) -> Decimal:
        total = Decimal(0)
        for entity, sign, field in (("Invoice", 1, "Balance"), ("CreditMemo", -1, "Balance"),
                                    ("Payment", -1, "UnappliedAmt")):
            for d in self.store.query(entity, realm, "_customer = ? AND _deleted = 0", [str(customer_id)]):
                total += sign * Decimal(str(d.get(field) or 0))
        return cents(total)

    # -- Payment ----------------------------------------------------------------------------------------------
    def _build_Payment(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                       params: dict[str, str], c: Any) -> dict[str, Any]:
        company = self.company(realm)
        if item.get("CustomerRef") is None:
            raise required("CustomerRef")
        customer = self._ref("Customer", realm, item["CustomerRef"], "CustomerRef")
        if item.get("TotalAmt") is None:
            raise required("TotalAmt")
        total = cents(money(item["TotalAmt"], "TotalAmt"))
        if total < 0:
            raise validation("The payment amount cannot be negative", "TotalAmt")
        currency, rate = self._currency(company, customer, item)
        account = self._deposit_account(realm, item.get("DepositToAccountRef"))
        if existing is not None:
            self.unapply_payment(realm, existing, c)  # re-applied below from the lines as sent now
        pid = existing["Id"] if existing else self.next_id("Payment", realm, c)
        lines, links = [], []
        invoiced = credited = Decimal(0)
        for n, line in enumerate(item.get("Line") or [], 1):
            amount = cents(money(line.get("Amount"), "Line.Amount")) if isinstance(line, dict) and \
                line.get("Amount") is not None else None
            if amount is None:
                raise required("Amount", "Line.Amount")
            linked = line.get("LinkedTxn") or []
            if len(linked) != 1 or not isinstance(linked[0], dict):
                raise validation(f"Line {n}: a payment line links exactly one Invoice or CreditMemo", "LinkedTxn")
            kind, tid = linked[0].get("TxnType"), str(linked[0].get("TxnId") or "")
            if kind not in ("Invoice", "CreditMemo"):
                raise validation(f"Line {n}: LinkedTxn TxnType {kind!r} is not supported (Invoice, CreditMemo)",
                                 "LinkedTxn.TxnType")
            target = self.get(kind, realm, tid)
            if target is None:
                raise not_found(kind, tid)
            if ref_id(target.get("CustomerRef")) != customer["Id"]:
                raise validation(f"Line {n}: {kind} {tid} belongs to another customer", "LinkedTxn")
            if ref_id(target.get("CurrencyRef")) != currency:
                raise validation(f"Line {n}: {kind} {tid} is in {ref_id(target.get('CurrencyRef'))}, the payment "
                                 f"in {currency}", "LinkedTxn")
            if amount <= 0 or amount > Decimal(str(target.get("Balance", 0))):
                raise validation(f"Line {n}: the amount applied ({amount}) must be above zero and at most the "
                                 f"open balance of {kind} {tid} ({target.get('Balance')})", "Line.Amount")
            self._apply(kind, realm, target, pid, amount, c)
            links.append({"type": kind, "id": tid, "amount": amount})
            if kind == "Invoice":
                invoiced += amount
            else:
                credited += amount
            lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": tid, "TxnType": kind}]})
        unapplied = total - invoiced + credited
        if unapplied < 0:
            raise validation(f"The amounts applied to invoices ({invoiced}) exceed the payment ({total}) plus the "
                             f"credits used ({credited})", "TotalAmt")
        doc = {k: v for k, v in item.items() if k in ("PrivateNote", "PaymentRefNum", "PaymentMethodRef")}
        doc.update(self._kept(existing), Id=pid, TxnDate=(parse_date(item["TxnDate"], "TxnDate") if
                                                          item.get("TxnDate") else today()).isoformat(),
                   CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
                   CurrencyRef=ref.currency_ref(currency), TotalAmt=total, UnappliedAmt=cents(unapplied),
                   DepositToAccountRef={"value": account["Id"], "name": account["Name"]}, Line=lines,
                   ProcessPayment=False, _links=links)
        if company.multicurrency:
            doc["ExchangeRate"] = rate
        return doc

    def _deposit_account(self, realm: str, given: Any) -> dict[str, Any]:
        if given is None:
            account = self._by_name("Account", realm, "Undeposited Funds")
            if account:
                return account
        account = self._ref("Account", realm, given, "DepositToAccountRef")
        if account.get("AccountType") not in DEPOSIT_TO_TYPES:
            raise validation(f"DepositToAccountRef must be a Bank or Other Current Asset account, "
                             f"{account['Name']} is {account.get('AccountType')}", "DepositToAccountRef")
        return account

    def _apply(self, kind: str, realm: str, target: dict[str, Any], payment_id: str, amount: Decimal,
               c: Any) -> None:
        target["_applied"] = Decimal(str(target.get("_applied", 0))) + amount
        links = [ln for ln in target.get("LinkedTxn", []) if ln.get("TxnId") != payment_id or
                 ln.get("TxnType") != "Payment"]
        target["LinkedTxn"] = [*links, {"TxnId": payment_id, "TxnType": "Payment"}]
        self._rebalance(kind, target)
        self.save(kind, realm, target, c, created=False)

    @staticmethod
    def _rebalance(kind: str, target: dict[str, Any]) -> None:
        target["Balance"] = cents(Decimal(str(target["TotalAmt"])) - Decimal(str(target.get("_applied", 0))))
        if kind == "CreditMemo":
            target["RemainingCredit"] = target["Balance"]
        if "ExchangeRate" in target and "HomeBalance" in target:
            target["HomeBalance"] = cents(target["Balance"] * Decimal(str(target["ExchangeRate"])))

    def unapply_payment(self, realm: str, payment: dict[str, Any], c: Any) -> None:
        for link in payment.get("_links", []):
            target = self.get(link["type"], realm, link["id"])
            if target is None:
                continue
            target["_applied"] = Decimal(str(target.get("_applied", 0))) - Decimal(str(link["amount"]))
            target["LinkedTxn"] = [ln for ln in target.get("LinkedTxn", []) if not (
                ln.get("TxnId") == payment["Id"] and ln.get("TxnType") == "Payment")]
            self._rebalance(link["type"], target)
            self.save(link["type"], realm, target, c, created=False)

    # -- Deposit ----------------------------------------------------------------------------------------------
    def _build_Deposit(self, realm: str, item: dict[str, Any], existing: dict[str, Any] | None,
                       params: dict[str, str], c: Any) -> dict[str, Any]:
        company = self.company(realm)
        if item.get("DepositToAccountRef") is None:
            raise required("DepositToAccountRef")
        bank = self._ref("Account", realm, item["DepositToAccountRef"], "DepositToAccountRef")
        if bank.get("AccountType") != "Bank":
            raise validation(f"DepositToAccountRef must be a Bank account, {bank['Name']} is "
                             f"{bank.get('AccountType')}", "DepositToAccountRef")
        if not item.get("Line"):
            raise required("Line")
        taken = {link for d in self.live("Deposit", realm) if not existing or d["Id"] != existing["Id"]
                 for link in d.get("_payments", [])}
        lines, payments, total = [], [], Decimal(0)
        for n, line in enumerate(item["Line"], 1):
            amount = cents(money(line.get("Amount"), "Line.Amount")) if isinstance(line, dict) and \
                line.get("Amount") is not None else None
            if amount is None:
                raise required("Amount", "Line.Amount")
            linked = line.get("LinkedTxn") or []
            if linked:
                pid = str(linked[0].get("TxnId") or "")
                payment = self.get("Payment", realm, pid)
                if linked[0].get("TxnType") != "Payment" or payment is None:
                    raise not_found("Payment", pid)
                undeposited = self._by_name("Account", realm, "Undeposited Funds")
                if ref_id(payment.get("DepositToAccountRef")) != undeposited.get("Id") or pid in taken:
                    raise validation(f"Line {n}: payment {pid} is not waiting in Undeposited Funds", "LinkedTxn")
                if amount != Decimal(str(payment["TotalAmt"])):
                    raise validation(f"Line {n}: a deposited payment is deposited whole ({payment['TotalAmt']})",
                                     "Line.Amount")
                payments.append(pid)
                lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": pid, "TxnType": "Payment",
                                                               "TxnLineId": "0"}]})
            else:
                detail = line.get("DepositLineDetail") or {}
                account = self._ref("Account", realm, detail.get("AccountRef"), "DepositLineDetail.AccountRef")
                lines.append({"Amount": amount, "DetailType": "DepositLineDetail",
                              "DepositLineDetail": {"AccountRef": {"value": account["Id"], "name": account["Name"]}}})
            total += amount
        doc = {k: v for k, v in item.items() if k in ("PrivateNote",)}
        doc.update(self._kept(existing), TxnDate=(parse_date(item["TxnDate"], "TxnDate") if item.get("TxnDate")
                                                  else today()).isoformat(),
                   DepositToAccountRef={"value": bank["Id"], "name": bank["Name"]}, Line=lines,
                   TotalAmt=cents(total), CurrencyRef=ref.currency_ref(company.home_currency), _payments=payments)
        return doc
