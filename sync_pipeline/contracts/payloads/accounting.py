"""Accounting-side payloads: what the pipeline hands to an accounting target, and what it reads back.

System-neutral: the Xero connector (and a QuickBooks one later) turns these into its own JSON.

- ``accounting.invoice`` v1: line amounts as Decimals, ``source_entry_ids`` as one comma-separated string
  (the shape ``domain.billing.invoice_headers`` produces).
- ``accounting.invoice`` v2: line amounts as integer minor units, ``source_entry_ids`` as a list, optional
  tracking categories per line.
- ``accounting.credit_note`` v1, ``accounting.payment`` v1, ``accounting.bank_transaction`` v1,
  ``accounting.document`` v1 (what a target holds, read back).
"""

from __future__ import annotations

from datetime import date
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
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    unit_amount: Decimal = Field(ge=0)
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
    unit_amount: Decimal = Field(ge=0)
    line_amount_minor: int
    account_code: str
    tax_type: str
    source_entry_ids: list[str] = Field(default_factory=list)
    tracking: list[Tracking] = Field(default_factory=list, max_length=2)


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
                     | {"line_amount_minor": int(minor), "source_entry_ids": ids, "tracking": []})
    return {**d, "lines": lines}


@translator("accounting.invoice", 2, 1)
def _invoice_v2_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    exp = MINOR_UNITS[d["currency"]]
    lines = []
    for n, li in enumerate(d["lines"], start=1):
        if li.get("tracking"):
            raise TranslationError(f"line {n} carries tracking categories, which accounting.invoice v1 cannot hold")
        if any("," in s for s in li.get("source_entry_ids") or []):
            raise TranslationError(f"line {n}: a source entry id contains ',', which v1 uses as separator")
        lines.append({k: v for k, v in li.items() if k not in ("line_amount_minor", "source_entry_ids", "tracking")}
                     | {"line_amount": Decimal(li["line_amount_minor"]).scaleb(-exp),
                        "source_entry_ids": ",".join(li.get("source_entry_ids") or []) or None})
    return {**d, "lines": lines}


@register("accounting.credit_note", 1)
class CreditNoteDraftV1(_HeaderMixin):
    """A credit note for exactly the hours that changed after invoicing (``against_invoice`` names the invoice)."""

    lines: list[InvoiceLineV1] = Field(min_length=1)
    against_invoice_number: str | None = None


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
