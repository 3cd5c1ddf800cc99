"""QuickBooks JSON (already read strictly where it must be) as neutral documents (``accounting.document`` v2).

QuickBooks does not say on an invoice how it was settled, only which transactions link to it (``LinkedTxn``):
a ``Payment`` line linking the invoice is money received, unless the same payment also links a ``CreditMemo`` —
that is how QuickBooks applies credit (a payment of zero, one line per side). :func:`settlements` reads the linked
payments once per listing and splits each invoice's settled amount into paid and credited, with one allocation per
credit memo applied; a credit memo lists the invoices it was applied to the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.qbo.payloads import reference_of, tag_of, untagged
from sync_pipeline.connectors.qbo.records import currency_of
from sync_pipeline.contracts.payloads.accounting import AllocationV1, Document, DocumentLineV1

ENTITY = {"invoice": "Invoice", "credit_note": "CreditMemo", "payment": "Payment", "contact": "Customer",
          "bill": "Bill"}


@dataclass(frozen=True)
class Catalog:
    """The company's reference data in our terms, to read lines back: item id → (its SKU or name, our account code
    of its income account), account id → our account code, TaxCode id (or TAX / NON) → our tax type."""

    items: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)
    tax: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Settlement:
    """What payments did to one invoice or credit memo."""

    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    allocations: list[AllocationV1] = field(default_factory=list)
    last_paid_on: date | None = None


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _day(v: Any) -> date | None:
    try:
        return date.fromisoformat(str(v)[:10]) if v else None
    except ValueError:
        return None


def instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def settlements(payments: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Settlement]:
    """(``Invoice`` | ``CreditMemo``, id) → what the payments did to it."""
    out: dict[tuple[str, str], Settlement] = {}
    for p in payments:
        links = [(str(lk.get("TxnType")), str(lk.get("TxnId")), _dec(ln.get("Amount")) or Decimal(0))
                 for ln in p.get("Line") or [] for lk in (ln.get("LinkedTxn") or [])]
        memos = [(i, a) for t, i, a in links if t == "CreditMemo"]
        invoices = [(i, a) for t, i, a in links if t == "Invoice"]
        on = _day(p.get("TxnDate"))
        money_in = _dec(p.get("TotalAmt")) or Decimal(0)
        credit_left = {i: a for i, a in memos}
        for inv, amount in invoices:
            s = out.setdefault(("Invoice", inv), Settlement())
            # credit first (the memo lines of this payment), the rest is money received
            from_credit = Decimal(0)
            for memo, left in credit_left.items():
                used = min(left, amount - from_credit)
                if used > 0:
                    credit_left[memo] -= used
                    from_credit += used
                    s.allocations.append(AllocationV1(id=f"{p['Id']}-{memo}-{inv}", kind="credit_note",
                                                      document_id=memo, amount=used, date=on))
                    m = out.setdefault(("CreditMemo", memo), Settlement())
                    m.credited += used
                    m.allocations.append(AllocationV1(id=f"{p['Id']}-{memo}-{inv}", kind="invoice",
                                                      document_id=inv, amount=used, date=on))
            s.credited += from_credit
            cash = min(amount - from_credit, money_in)
            if cash > 0:
                money_in -= cash
                s.paid += cash
                s.last_paid_on = max(filter(None, (s.last_paid_on, on)), default=None)
    return out


def _lines(doc: Mapping[str, Any], catalog: Catalog) -> list[DocumentLineV1]:
    out = []
    inclusive = doc.get("GlobalTaxCalculation") == "TaxInclusive"
    for li in doc.get("Line") or []:
        detail = li.get("SalesItemLineDetail")
        if li.get("DetailType") != "SalesItemLineDetail" or not isinstance(detail, dict):
            continue  # SubTotalLine, DiscountLine, ...: not a line we post
        item = str((detail.get("ItemRef") or {}).get("value"))
        label, account = catalog.items.get(item, ((detail.get("ItemRef") or {}).get("name"), None))
        tax = (detail.get("TaxCodeRef") or {}).get("value")
        # a TaxInclusive line's amount as we posted it is its TaxInclusiveAmt (Amount is net of tax)
        amount = detail.get("TaxInclusiveAmt") if inclusive and detail.get("TaxInclusiveAmt") is not None \
            else li.get("Amount")
        out.append(DocumentLineV1(
            line_id=None if li.get("Id") is None else str(li["Id"]), description=li.get("Description"),
            quantity=_dec(detail.get("Qty")), unit_amount=_dec(detail.get("UnitPrice")),
            line_amount=_dec(amount), account_code=account,
            tax_type=catalog.tax.get(str(tax), None if tax is None else str(tax)), item_code=label or None))
    return out


def to_document(kind: str, doc: Mapping[str, Any], *, home_currency: str,
                settled: Mapping[tuple[str, str], Settlement] | None = None,
                catalog: Catalog | None = None) -> Document:
    """One QuickBooks object in neutral terms."""
    catalog = catalog or Catalog()
    updated = instant((doc.get("MetaData") or {}).get("LastUpdatedTime"))
    if kind == "contact":
        name = str(doc.get("DisplayName") or "")
        tag = tag_of(name)
        return Document(kind="contact", id=str(doc["Id"]), number=tag.strip("[]").split(" ")[0] if tag else None,
                        name=untagged(name),
                        status="ACTIVE" if doc.get("Active", True) else "ARCHIVED",
                        currency=currency_of(doc, home_currency), updated_at=updated)
    customer = doc.get("CustomerRef") or doc.get("VendorRef") or {}
    base = {"kind": kind, "id": str(doc["Id"]), "reference": reference_of(doc), "updated_at": updated,
            "currency": currency_of(doc, home_currency), "total": _dec(doc.get("TotalAmt")),
            "date": _day(doc.get("TxnDate")), "contact_id": _text(customer.get("value")),
            "contact_name": untagged(str(customer["name"])) if customer.get("name") is not None else None,
            "contact_number": (tag_of(str(customer.get("name") or "")) or "").strip("[]").split(" ")[0] or None,
            "currency_rate": _dec(doc.get("ExchangeRate"))}
    if kind == "payment":
        links = [lk for ln in doc.get("Line") or [] for lk in (ln.get("LinkedTxn") or [])]
        first = {t: next((str(lk["TxnId"]) for lk in links if lk.get("TxnType") == t), None)
                 for t in ("Invoice", "CreditMemo")}
        rate = _dec(doc.get("ExchangeRate"))
        total = base["total"]
        deposit = str((doc.get("DepositToAccountRef") or {}).get("value") or "")
        return Document(**base, number=doc.get("PaymentRefNum"), status="AUTHORISED",
                        amount_due=_dec(doc.get("UnappliedAmt")), invoice_id=first["Invoice"],
                        credit_note_id=first["CreditMemo"],
                        bank_amount=(total * rate).quantize(Decimal("0.01")) if total is not None and rate else total,
                        account_code=catalog.accounts.get(deposit))
    if kind == "bank_transaction":
        direction = "receive" if "DepositToAccountRef" in doc else "spend"
        return Document(**base, status="AUTHORISED", direction=direction)
    entity = "Invoice" if kind in ("invoice", "bill") else "CreditMemo"
    s = (settled or {}).get((entity, str(doc["Id"]))) or Settlement()
    total = base["total"] or Decimal(0)
    due = _dec(doc.get("RemainingCredit", doc.get("Balance"))) if kind == "credit_note" else _dec(doc.get("Balance"))
    tax = _dec((doc.get("TxnTaxDetail") or {}).get("TotalTax"))
    note = str(doc.get("PrivateNote") or "")
    status = "VOIDED" if note.startswith("Voided") else "PAID" if due == 0 and total > 0 else "AUTHORISED"
    settled_total = total - (due or Decimal(0))
    return Document(
        **base, number=doc.get("DocNumber"), status=status, amount_due=due, due_date=_day(doc.get("DueDate")),
        subtotal=total - tax if tax is not None else None, total_tax=tax,
        amount_paid=s.paid if settled is not None else (settled_total if kind != "credit_note" else None),
        amount_credited=s.credited if settled is not None else None,
        fully_paid_on=s.last_paid_on if status == "PAID" else None,
        line_amount_types="Exclusive" if doc.get("GlobalTaxCalculation", "TaxExcluded") == "TaxExcluded"
        else "Inclusive" if doc.get("GlobalTaxCalculation") == "TaxInclusive" else "NoTax",
        lines=_lines(doc, catalog), allocations=s.allocations)


def _text(v: Any) -> str | None:
    return None if v is None else str(v)
