"""Accounting-side payloads: what the pipeline hands to an accounting target, and what it reads back.

System-neutral: the Xero connector (and a QuickBooks one later) turns these into its own JSON.

- ``accounting.invoice`` v1: line amounts as Decimals, ``source_entry_ids`` as one comma-separated string
  (the shape ``domain.billing.invoice_headers`` produces).
- ``accounting.invoice`` v2: line amounts as integer minor units, ``source_entry_ids`` as a list, optional
  tracking categories per line.
- ``accounting.credit_note`` v1 (Decimal lines) and v2 (minor-unit lines, like ``accounting.invoice`` v2).
- ``accounting.invoice_update`` v1: a change to an existing draft invoice (new status, new lines) or a void.
- ``accounting.payment`` v1, ``accounting.bank_transaction`` v1.
- ``accounting.document`` v1 (a summary) and v2 (what a target holds, read back in full: lines, allocations,
  amounts paid / credited / due, dates, the contact). Statuses use one vocabulary across targets:
  ``DRAFT SUBMITTED AUTHORISED PAID VOIDED DELETED`` (a target maps its own onto these).
"""

from __future__ import annotations

import datetime as _dt
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sync_pipeline.contracts.payloads import TranslationError, register, translator
from sync_pipeline.domain.money import MINOR_UNITS


def _no_float(v: Any) -> Any:
    if isinstance(v, float):
        raise ValueError("money and quantities must be Decimal, int or str, never a binary float")
    return v


class _Payload(BaseModel):
    # validators built on first use, not when the code location is imported (every run worker imports it)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Money(_Payload):
    @field_validator("*", mode="before")
    @classmethod
    def _floats(cls, v: Any) -> Any:
        return _no_float(v)


class Customer(_Payload):
    number: str = Field(description="our stable customer number, e.g. HV-1 (Xero ContactNumber)")
    name: str
    currency: Currency


class _HeaderMixin(_Money):
    reference: str = Field(min_length=1, max_length=255)
    contact_id: str | None = Field(default=None, description="the target's id of the customer, when known")
    customer: Customer | None = None
    currency: Currency
    date: date
    due_date: date
    status: Literal["DRAFT", "SUBMITTED", "AUTHORISED"] = "DRAFT"
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] = Field(
        default="Exclusive", description="whether line amounts exclude tax, include it, or carry none")

    @model_validator(mode="after")
    def _who(self):
        if not self.contact_id and not self.customer:
            raise ValueError("an invoice needs contact_id or customer")
        if self.currency not in MINOR_UNITS:
            raise ValueError(f"unknown currency {self.currency}")
        if self.due_date < self.date:
            raise ValueError("due_date is before date")
        return self


class InvoiceLineV1(_Money):
    description: str
    quantity: Decimal = Field(gt=0)
    unit_amount: Decimal = Field(description="negative on a discount line")
    line_amount: Decimal
    account_code: str
    tax_type: str
    source_entry_ids: str | None = None


@register("accounting.invoice", 1)
class InvoiceDraftV1(_HeaderMixin):
    lines: list[InvoiceLineV1] = Field(min_length=1)


class Tracking(_Payload):
    category: str
    option: str


class InvoiceLineV2(_Money):
    description: str
    quantity: Decimal = Field(gt=0)
    unit_amount: Decimal = Field(description="negative on a discount line")
    line_amount_minor: int
    account_code: str
    tax_type: str
    source_entry_ids: list[str] = Field(default_factory=list)
    tracking: list[Tracking] = Field(default_factory=list, max_length=2)
    item_code: str | None = Field(default=None, description="the target's item (product/service) code")
    tax_amount_minor: int | None = Field(default=None, description="the line's tax as we computed it; the target "
                                                                   "takes it instead of its own calculation")


@register("accounting.invoice", 2)
class InvoiceDraftV2(_HeaderMixin):
    lines: list[InvoiceLineV2] = Field(min_length=1)


@translator("accounting.invoice", 1, 2)
def _invoice_v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    exp = MINOR_UNITS[d["currency"]]
    lines = []
    for n, li in enumerate(d["lines"], start=1):
        minor = li["line_amount"].scaleb(exp)
        if minor != minor.to_integral_value():
            raise TranslationError(f"line {n}: line_amount {li['line_amount']} has more decimals than "
                                   f"{d['currency']} allows; round it before posting")
        ids = [s for s in (li.get("source_entry_ids") or "").split(",") if s]
        lines.append({k: v for k, v in li.items() if k not in ("line_amount", "source_entry_ids")}
                     | {"line_amount_minor": int(minor), "source_entry_ids": ids, "tracking": [],
                        "item_code": None, "tax_amount_minor": None})
    return {**d, "lines": lines}


@translator("accounting.invoice", 2, 1)
def _invoice_v2_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    exp = MINOR_UNITS[d["currency"]]
    lines = []
    for n, li in enumerate(d["lines"], start=1):
        if li.get("tracking"):
            raise TranslationError(f"line {n} carries tracking categories, which accounting.invoice v1 cannot hold")
        for extra in ("item_code", "tax_amount_minor"):
            if li.get(extra) is not None:
                raise TranslationError(f"line {n} carries {extra}, which v1 cannot hold")
        if any("," in s for s in li.get("source_entry_ids") or []):
            raise TranslationError(f"line {n}: a source entry id contains ',', which v1 uses as separator")
        lines.append({k: v for k, v in li.items()
                      if k not in ("line_amount_minor", "source_entry_ids", "tracking", "item_code", "tax_amount_minor")}
                     | {"line_amount": Decimal(li["line_amount_minor"]).scaleb(-exp),
                        "source_entry_ids": ",".join(li.get("source_entry_ids") or []) or None})
    return {**d, "lines": lines}


@register("accounting.credit_note", 1)
class CreditNoteDraftV1(_HeaderMixin):
    """A credit note for exactly the hours that changed after invoicing (``against_invoice`` names the invoice)."""

    lines: list[InvoiceLineV1] = Field(min_length=1)
    against_invoice_number: str | None = None


@register("accounting.credit_note", 2)
class CreditNoteDraftV2(_HeaderMixin):
    """v1 with the lines of ``accounting.invoice`` v2 (minor units, tracking, item code, our tax)."""

    lines: list[InvoiceLineV2] = Field(min_length=1)
    against_invoice_number: str | None = None


translator("accounting.credit_note", 1, 2)(_invoice_v1_to_v2)
translator("accounting.credit_note", 2, 1)(_invoice_v2_to_v1)


@register("accounting.invoice_update", 1)
class InvoiceUpdateV1(_Money):
    """A change to an invoice the target holds: a new status (``VOIDED`` voids a draft) and, for a draft,
    its new lines (``lines`` None: the lines stay as they are)."""

    id: str = Field(description="the target's id of the invoice")
    status: Literal["DRAFT", "SUBMITTED", "AUTHORISED", "VOIDED", "DELETED"]
    currency: Currency
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] | None = None
    lines: list[InvoiceLineV2] | None = None


@register("accounting.payment", 1)
class PaymentDraftV1(_Money):
    invoice_id: str | None = None
    invoice_number: str | None = None
    credit_note_id: str | None = None
    account_code: str = Field(description="the bank account's code in the chart of accounts")
    date: date
    amount: Decimal = Field(gt=0)
    currency_rate: Decimal | None = None
    reference: str | None = None
    reconciled: bool = Field(default=False, description="already matched to its bank statement line")

    @model_validator(mode="after")
    def _target(self):
        if not (self.invoice_id or self.invoice_number or self.credit_note_id):
            raise ValueError("a payment applies to an invoice (id or number) or a credit note")
        return self


class BankLineV1(_Money):
    description: str
    quantity: Decimal = Decimal(1)
    unit_amount: Decimal
    account_code: str
    tax_type: str | None = None
    line_amount: Decimal | None = None


@register("accounting.bank_transaction", 1)
class BankTransactionDraftV1(_Money):
    type: Literal["RECEIVE", "SPEND"]
    bank_account_code: str
    contact_id: str | None = None
    date: date
    reference: str | None = None
    currency: Currency
    lines: list[BankLineV1] = Field(min_length=1)


@register("accounting.document", 1)
class DocumentV1(_Money):
    """What an accounting target holds, in neutral terms."""

    kind: Literal["invoice", "credit_note", "payment", "bank_transaction", "contact"]
    id: str
    number: str | None = None
    reference: str | None = None
    status: str | None = None
    currency: str | None = None
    total: Decimal | None = None
    amount_due: Decimal | None = None
    updated_at: str | None = Field(default=None, description="ISO-8601 UTC instant")


DocumentKind = Literal["invoice", "credit_note", "payment", "bank_transaction", "contact", "bill"]


class DocumentLineV1(_Money):
    """A line of a document as the target holds it."""

    line_id: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit_amount: Decimal | None = None
    line_amount: Decimal | None = None
    account_code: str | None = None
    tax_type: str | None = None
    tax_amount: Decimal | None = None
    item_code: str | None = None
    tracking: list[Tracking] = Field(default_factory=list)


class AllocationV1(_Money):
    """Something applied to a document. On an invoice: a credit note, prepayment (a retainer drawn down) or
    overpayment applied to it (``document_id`` is that document). On a credit note: the invoice it was applied
    to (``kind`` ``invoice``)."""

    id: str = Field(description="stable id of this allocation (the target's, or one derived from its parts)")
    kind: Literal["credit_note", "prepayment", "overpayment", "invoice"]
    document_id: str | None = None
    number: str | None = None
    amount: Decimal | None = None
    date: _dt.date | None = None


_V2_ONLY = ("contact_id", "contact_name", "contact_number", "date", "due_date", "fully_paid_on", "subtotal",
            "total_tax", "amount_paid", "amount_credited", "line_amount_types", "lines", "allocations", "invoice_id",
            "credit_note_id", "bank_amount", "currency_rate", "account_code", "reconciled", "direction", "name")


@register("accounting.document", 2)
class DocumentV2(_Money):
    """What an accounting target holds, read back in full, in neutral terms.

    ``amount_due``: an invoice's amount still due; a credit note's credit not yet used. ``amount_credited``: what
    credit notes (and prepayments, overpayments) settled; on a credit note, what it settled on invoices.
    ``amount_paid``: payments received; on a credit note, refunds paid out. Payments: ``total`` is the amount in
    the document's currency, ``bank_amount`` in the bank account's, ``invoice_id`` / ``credit_note_id`` what it
    settles. Bank transactions: ``direction`` receive or spend. Contacts: ``number`` is our customer number.
    """

    kind: DocumentKind
    id: str
    number: str | None = None
    reference: str | None = None
    name: str | None = None
    status: str | None = None
    currency: str | None = None
    total: Decimal | None = None
    amount_due: Decimal | None = None
    updated_at: _dt.datetime | None = Field(default=None, description="aware UTC instant of the last change")
    contact_id: str | None = None
    contact_name: str | None = None
    contact_number: str | None = None
    date: _dt.date | None = None
    due_date: _dt.date | None = None
    fully_paid_on: _dt.date | None = None
    subtotal: Decimal | None = None
    total_tax: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_credited: Decimal | None = None
    line_amount_types: str | None = None
    lines: list[DocumentLineV1] = Field(default_factory=list)
    allocations: list[AllocationV1] = Field(default_factory=list)
    invoice_id: str | None = None
    credit_note_id: str | None = None
    bank_amount: Decimal | None = None
    currency_rate: Decimal | None = None
    account_code: str | None = None
    reconciled: bool | None = None
    direction: Literal["receive", "spend"] | None = None

    @field_validator("updated_at")
    @classmethod
    def _aware(cls, v: _dt.datetime | None) -> _dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("updated_at must carry its time zone")
        return v


Document = DocumentV2


@translator("accounting.document", 1, 2)
def _document_v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    return dict(d)


@translator("accounting.document", 2, 1)
def _document_v2_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    if d["kind"] == "bill":
        raise TranslationError("accounting.document v1 has no kind bill")
    held = [k for k in _V2_ONLY if d.get(k) not in (None, [])]
    if held:
        raise TranslationError(f"accounting.document v1 cannot hold {', '.join(held)}")
    updated = d.get("updated_at")
    return {k: v for k, v in d.items() if k not in _V2_ONLY and k != "name"} | {
        "updated_at": updated.isoformat() if isinstance(updated, datetime) else updated}
