"""Xero JSON ⇄ the neutral accounting payloads: what :class:`~sync_pipeline.connectors.xero.target.XeroTarget`
reads back (``accounting.document`` v2) and what it sends (from ``accounting.invoice`` / ``credit_note`` /
``invoice_update`` / ``payment`` / ``bank_transaction`` drafts and ``Customer``).

Reading is lenient about what is absent (a field Xero leaves out is None); documents that must read strictly
(invoices, credit notes, payments) have been read by ``records.read_documents`` before they get here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.xero.client import (
    bank_transaction_payload,
    contact_payload,
    credit_note_payload,
    invoice_payload,
    parse_xero_date,
    payment_payload,
)
from sync_pipeline.contracts.payloads.accounting import (
    AllocationV1,
    BankTransactionDraftV1,
    CreditNoteDraftV1,
    CreditNoteDraftV2,
    Customer,
    Document,
    DocumentLineV1,
    InvoiceDraftV1,
    InvoiceDraftV2,
    InvoiceLineV1,
    InvoiceLineV2,
    InvoiceUpdateV1,
    PaymentDraftV1,
    Tracking,
)
from sync_pipeline.domain.money import from_minor

#: neutral kind → Xero collection
COLLECTION = {"invoice": "Invoices", "bill": "Invoices", "credit_note": "CreditNotes", "payment": "Payments",
              "bank_transaction": "BankTransactions", "contact": "Contacts"}
ID_FIELD = {"Invoices": "InvoiceID", "CreditNotes": "CreditNoteID", "Payments": "PaymentID",
            "BankTransactions": "BankTransactionID", "Contacts": "ContactID"}
#: what Xero lists on an invoice as applied to it: list field, our allocation kind, the applied document's id field
APPLIED = (("CreditNotes", "credit_note", "CreditNoteID"), ("Prepayments", "prepayment", "PrepaymentID"),
           ("Overpayments", "overpayment", "OverpaymentID"))


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _day(doc: dict[str, Any], field: str) -> date | None:
    """A date field: its ``…String`` twin when present (the organisation's own date), else ``/Date(ms)/``."""
    s = doc.get(f"{field}String")
    try:
        if isinstance(s, str) and len(s) >= 10:
            return date.fromisoformat(s[:10])
        v = doc.get(field)
        if isinstance(v, str) and not v.startswith("/Date("):
            return date.fromisoformat(v[:10])
    except ValueError:
        return None
    d = parse_xero_date(doc.get(field)) if isinstance(doc.get(field), str) else None
    return d.date() if d else None


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def line(li: dict[str, Any]) -> DocumentLineV1:
    return DocumentLineV1(
        line_id=_text(li.get("LineItemID")), description=_text(li.get("Description")),
        quantity=_dec(li.get("Quantity")), unit_amount=_dec(li.get("UnitAmount")),
        line_amount=_dec(li.get("LineAmount")), account_code=_text(li.get("AccountCode")),
        tax_type=_text(li.get("TaxType")), tax_amount=_dec(li.get("TaxAmount")), item_code=_text(li.get("ItemCode")),
        tracking=[Tracking(category=str(t.get("Name") or ""), option=str(t.get("Option") or ""))
                  for t in li.get("Tracking") or []])


def _applied_to_invoice(inv: dict[str, Any]) -> list[AllocationV1]:
    out = []
    for field, kind, id_field in APPLIED:
        for n, a in enumerate(inv.get(field) or [], start=1):
            sid = a.get("AllocationID") or f"{inv.get('InvoiceID')}:{id_field}:{a.get(id_field)}:{n}"
            amount = a["AppliedAmount"] if "AppliedAmount" in a else a.get("Amount")
            out.append(AllocationV1(id=str(sid), kind=kind, document_id=_text(a.get(id_field)),  # type: ignore[arg-type]
                                    number=_text(a.get(f"{id_field[:-2]}Number")), amount=_dec(amount),
                                    date=_day(a, "Date")))
    return out


def _applied_from_credit_note(cn: dict[str, Any]) -> list[AllocationV1]:
    out = []
    for n, a in enumerate(cn.get("Allocations") or [], start=1):
        inv = (a.get("Invoice") or {}).get("InvoiceID")
        sid = a.get("AllocationID") or f"{cn.get('CreditNoteID')}:InvoiceID:{inv}:{n}"
        out.append(AllocationV1(id=str(sid), kind="invoice", document_id=_text(inv),
                                number=_text((a.get("Invoice") or {}).get("InvoiceNumber")),
                                amount=_dec(a.get("Amount")), date=_day(a, "Date")))
    return out


def _sum(items: list[dict[str, Any]] | None) -> Decimal:
    return sum((Decimal(str(a.get("Amount") or 0)) for a in items or []), Decimal(0))


def _common(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    contact = doc.get("Contact") or {}
    updated = parse_xero_date(doc.get("UpdatedDateUTC")) if isinstance(doc.get("UpdatedDateUTC"), str) else None
    return {"kind": kind, "reference": _text(doc.get("Reference")), "status": _text(doc.get("Status")),
            "currency": _text(doc.get("CurrencyCode")), "updated_at": updated,
            "contact_id": _text(contact.get("ContactID")), "contact_name": _text(contact.get("Name")),
            "contact_number": _text(contact.get("ContactNumber")), "date": _day(doc, "Date"),
            "subtotal": _dec(doc.get("SubTotal")), "total_tax": _dec(doc.get("TotalTax")),
            "total": _dec(doc.get("Total")), "line_amount_types": _text(doc.get("LineAmountTypes")),
            "lines": [line(li) for li in doc.get("LineItems") or []]}


def to_document(kind: str, doc: dict[str, Any]) -> Document:
    """A Xero document (as the API sends it) in neutral terms."""
    if kind in ("invoice", "bill"):
        return Document(**_common(kind, doc), id=str(doc["InvoiceID"]), number=_text(doc.get("InvoiceNumber")),
                        due_date=_day(doc, "DueDate"), fully_paid_on=_day(doc, "FullyPaidOnDate"),
                        amount_paid=_dec(doc.get("AmountPaid")), amount_credited=_dec(doc.get("AmountCredited")),
                        amount_due=_dec(doc.get("AmountDue")), allocations=_applied_to_invoice(doc))
    if kind == "credit_note":
        return Document(**_common(kind, doc), id=str(doc["CreditNoteID"]), number=_text(doc.get("CreditNoteNumber")),
                        amount_due=_dec(doc.get("RemainingCredit")), amount_credited=_sum(doc.get("Allocations")),
                        amount_paid=_sum(doc.get("Payments")), allocations=_applied_from_credit_note(doc))
    if kind == "bank_transaction":
        t = str(doc.get("Type") or "")
        direction = "receive" if t.startswith("RECEIVE") else "spend" if t.startswith("SPEND") else None
        return Document(**_common(kind, doc), id=str(doc["BankTransactionID"]), direction=direction,  # type: ignore[arg-type]
                        account_code=_text((doc.get("BankAccount") or {}).get("Code")),
                        reconciled=doc.get("IsReconciled") if isinstance(doc.get("IsReconciled"), bool) else None)
    if kind == "payment":
        updated = parse_xero_date(doc.get("UpdatedDateUTC")) if isinstance(doc.get("UpdatedDateUTC"), str) else None
        return Document(kind="payment", id=str(doc["PaymentID"]), reference=_text(doc.get("Reference")),
                        status=_text(doc.get("Status")), updated_at=updated, date=_day(doc, "Date"),
                        invoice_id=_text((doc.get("Invoice") or {}).get("InvoiceID")),
                        credit_note_id=_text((doc.get("CreditNote") or {}).get("CreditNoteID")),
                        total=_dec(doc.get("Amount")), bank_amount=_dec(doc.get("BankAmount")),
                        currency_rate=_dec(doc.get("CurrencyRate")),
                        account_code=_text((doc.get("Account") or {}).get("Code")),
                        reconciled=doc.get("IsReconciled") if isinstance(doc.get("IsReconciled"), bool) else None)
    if kind == "contact":
        updated = parse_xero_date(doc.get("UpdatedDateUTC")) if isinstance(doc.get("UpdatedDateUTC"), str) else None
        return Document(kind="contact", id=str(doc["ContactID"]), number=_text(doc.get("ContactNumber")),
                        name=_text(doc.get("Name")), status=_text(doc.get("ContactStatus")),
                        currency=_text(doc.get("DefaultCurrency")), updated_at=updated)
    raise ValueError(f"unknown document kind {kind!r}")


# -- drafts → Xero payloads -----------------------------------------------------------------------------------
def _line_dict(li: InvoiceLineV1 | InvoiceLineV2, currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {"description": li.description, "quantity": li.quantity, "unit_amount": li.unit_amount,
                           "account_code": li.account_code, "tax_type": li.tax_type}
    if isinstance(li, InvoiceLineV2):
        out |= {"line_amount": from_minor(li.line_amount_minor, currency), "item_code": li.item_code,
                "tracking": [(t.category, t.option) for t in li.tracking],
                "tax_amount": from_minor(li.tax_amount_minor, currency) if li.tax_amount_minor is not None else None}
    else:
        out["line_amount"] = li.line_amount
    return out


def line_items(lines: list[InvoiceLineV2], currency: str) -> list[dict[str, Any]]:
    """Invoice lines as Xero ``LineItems``."""
    return invoice_payload(contact_id="", reference="", currency=currency, date="", due_date="", status="",
                           lines=[_line_dict(li, currency) for li in lines])["LineItems"]


def payload(kind: str, draft: Any, contact_id: str | None = None) -> dict[str, Any]:
    """The Xero body of one new document (``contact_id``: the resolved contact of an invoice or credit note)."""
    if kind == "contact":
        assert isinstance(draft, Customer)
        return contact_payload(draft.name, draft.number, draft.currency)
    if kind == "invoice":
        assert isinstance(draft, InvoiceDraftV1 | InvoiceDraftV2)
        return invoice_payload(contact_id=str(contact_id), reference=draft.reference, currency=draft.currency,
                               date=draft.date.isoformat(), due_date=draft.due_date.isoformat(), status=draft.status,
                               lines=[_line_dict(li, draft.currency) for li in draft.lines],
                               line_amount_types=draft.line_amount_types)
    if kind == "credit_note":
        assert isinstance(draft, CreditNoteDraftV1 | CreditNoteDraftV2)
        return credit_note_payload(contact_id=str(contact_id), reference=draft.reference, currency=draft.currency,
                                   date=draft.date.isoformat(), status=draft.status,
                                   lines=[_line_dict(li, draft.currency) for li in draft.lines],
                                   line_amount_types=draft.line_amount_types)
    if kind == "payment":
        assert isinstance(draft, PaymentDraftV1)
        out = payment_payload(account_code=draft.account_code, date=draft.date.isoformat(), amount=draft.amount,
                              invoice_id=draft.invoice_id, invoice_number=draft.invoice_number,
                              credit_note_id=draft.credit_note_id, reference=draft.reference,
                              currency_rate=draft.currency_rate)
        return out | {"IsReconciled": True} if draft.reconciled else out
    if kind == "bank_transaction":
        assert isinstance(draft, BankTransactionDraftV1)
        return bank_transaction_payload(type_=draft.type, bank_account_code=draft.bank_account_code,
                                        date=draft.date.isoformat(), currency=draft.currency,
                                        contact_id=draft.contact_id, reference=draft.reference,
                                        lines=[li.model_dump() for li in draft.lines])
    raise ValueError(f"cannot create a {kind} in Xero")


def update_payload(change: InvoiceUpdateV1) -> dict[str, Any]:
    """The Xero body of a change to an invoice: its status, and its lines when given."""
    out: dict[str, Any] = {"InvoiceID": change.id, "Status": change.status}
    if change.lines is not None:
        out |= {"LineAmountTypes": change.line_amount_types or "Exclusive",
                "LineItems": line_items(change.lines, change.currency)}
    return out


def errors_of(item: dict[str, Any]) -> list[str]:
    return [str(v.get("Message", "")) for v in item.get("ValidationErrors") or []]
