"""Strict reading of what Xero sends back: invoices (their status and settlements), credit notes, payments.

The pull-back (``services.pullback``) and cash reconciliation read these documents to decide what is paid,
credited or still due; a document that does not read strictly is never guessed at (``"Total": "12.50"`` is not
12.50, a ``null`` currency is not "None", an amount finer than its currency's minor unit is not rounded): it is
rejected with its id (or its position), the field, the value and the problem (:mod:`connectors.strict`), kept out
of the tables, and listed in ``accounting_quarantine``. One bad document never stops the pull of the others.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, NotRequired, Required

from pydantic import AfterValidator, TypeAdapter
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from sync_pipeline.connectors.strict import (
    Bool,
    KnownCurrency,
    Problem,
    Rejected,
    Str,
    decimal_type,
    finer_than_currency,
    json_kind,
    matching_id,
    one_of,
    read_document,
    strict_record,
)

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
XERO_DATE = re.compile(r"/Date\(-?[0-9]+([+-][0-9]{4})?\)/")


def _guid(v: Any) -> str:
    if not isinstance(v, str) or not GUID.fullmatch(v):
        raise PydanticCustomError("id", "expected a Xero id (a GUID), got {got}", {"got": json_kind(v)})
    return v


def _xero_date(v: Any) -> str:
    if not isinstance(v, str) or not XERO_DATE.fullmatch(v):
        raise PydanticCustomError("date", "expected a Xero date /Date(milliseconds+0000)/, got {got}",
                                  {"got": json_kind(v)})
    return v


def _date_string(v: Any) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+)?", v):
        raise PydanticCustomError("date", "expected a date string YYYY-MM-DDThh:mm:ss, got {got}",
                                  {"got": json_kind(v)})
    return v


Guid = Annotated[str, AfterValidator(_guid)]
XeroDate = Annotated[str, AfterValidator(_xero_date)]
DateString = Annotated[str, AfterValidator(_date_string)]
Money = decimal_type(14, 4)  # Xero keeps 4 decimals of amounts; each is checked against its currency below
DOCUMENT_STATUS = one_of("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
PAYMENT_STATUS = one_of("AUTHORISED", "DELETED")
INVOICE_TYPE = one_of("ACCREC", "ACCPAY")


@strict_record
class _ContactRef(TypedDict):
    ContactID: Guid
    Name: NotRequired[Str | None]


@strict_record
class _Allocation(TypedDict, total=False):
    """A credit note, prepayment or overpayment applied to an invoice (as the invoice lists it), or an allocation
    / payment listed on a credit note."""

    AllocationID: Guid | None
    CreditNoteID: Guid | None
    PrepaymentID: Guid | None
    OverpaymentID: Guid | None
    CreditNoteNumber: Str | None
    AppliedAmount: Money | None  # type: ignore[valid-type]
    Amount: Money | None  # type: ignore[valid-type]
    Date: XeroDate | None
    DateString: DateString | None


@strict_record
class _Document(TypedDict, total=False):
    Reference: Str | None
    Contact: _ContactRef | None
    CurrencyCode: Required[KnownCurrency]
    Status: Required[DOCUMENT_STATUS]  # type: ignore[valid-type]
    Date: XeroDate | None
    DateString: DateString | None
    SubTotal: Money | None  # type: ignore[valid-type]
    TotalTax: Money | None  # type: ignore[valid-type]
    Total: Required[Money]  # type: ignore[valid-type]
    UpdatedDateUTC: Required[XeroDate]


@strict_record
class XeroInvoice(_Document, total=False):
    InvoiceID: Required[Guid]
    Type: INVOICE_TYPE  # type: ignore[valid-type]
    InvoiceNumber: Str | None
    DueDate: XeroDate | None
    DueDateString: DateString | None
    AmountPaid: Money | None  # type: ignore[valid-type]
    AmountCredited: Money | None  # type: ignore[valid-type]
    AmountDue: Money | None  # type: ignore[valid-type]
    FullyPaidOnDate: XeroDate | None
    CreditNotes: list[_Allocation] | None
    Prepayments: list[_Allocation] | None
    Overpayments: list[_Allocation] | None


@strict_record
class XeroCreditNote(_Document, total=False):
    CreditNoteID: Required[Guid]
    CreditNoteNumber: Str | None
    RemainingCredit: Money | None  # type: ignore[valid-type]
    Allocations: list[_Allocation] | None
    Payments: list[_Allocation] | None
    LineItems: list[dict[str, Any]] | None


@strict_record
class _InvoiceRef(TypedDict):
    InvoiceID: Guid


@strict_record
class _CreditNoteRef(TypedDict):
    CreditNoteID: Guid


@strict_record
class _AccountRef(TypedDict, total=False):
    Code: Str | None


@strict_record
class XeroPayment(TypedDict, total=False):
    PaymentID: Required[Guid]
    Invoice: _InvoiceRef | None
    CreditNote: _CreditNoteRef | None
    Amount: Required[Money]  # type: ignore[valid-type]
    BankAmount: Money | None  # type: ignore[valid-type]
    CurrencyRate: decimal_type(12, 10) | None  # type: ignore[valid-type]
    Status: PAYMENT_STATUS | None  # type: ignore[valid-type]
    Date: XeroDate | None
    Reference: Str | None
    Account: _AccountRef | None
    IsReconciled: Bool | None
    UpdatedDateUTC: Required[XeroDate]


SCHEMAS = {"Invoices": (TypeAdapter(XeroInvoice), "InvoiceID"),
           "CreditNotes": (TypeAdapter(XeroCreditNote), "CreditNoteID"),
           "Payments": (TypeAdapter(XeroPayment), "PaymentID")}
MONEY_FIELDS = ("SubTotal", "TotalTax", "Total", "AmountPaid", "AmountCredited", "AmountDue", "RemainingCredit")


def _finer_than_currency(doc: dict[str, Any]) -> tuple[Problem, ...]:
    """Amounts of a document finer than its currency's minor unit (12.345 GBP): refused, never rounded."""
    amounts = [(f, doc.get(f)) for f in MONEY_FIELDS]
    for lst in ("CreditNotes", "Prepayments", "Overpayments", "Allocations", "Payments"):
        for n, a in enumerate(doc.get(lst) or []):
            amounts += [(f"{lst}.{n}.{f}", a.get(f)) for f in ("AppliedAmount", "Amount")]
    return finer_than_currency(amounts, doc["CurrencyCode"])


def read_documents(collection: str, docs: list[Any]) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """The documents of ``collection`` (``Invoices``, ``CreditNotes``, ``Payments``) that read strictly, and the
    others rejected by id (or ``position N`` in the list when the id itself is bad)."""
    schema, id_key = SCHEMAS[collection]
    typed, rejected = [], []
    for n, doc in enumerate(docs, start=1):
        m = read_document(schema, doc, source=f"xero {collection}", rid=matching_id(doc, id_key, GUID), position=n,
                          check=lambda m: _finer_than_currency(m) if "CurrencyCode" in m else ())
        (rejected if isinstance(m, Rejected) else typed).append(m)
    return typed, rejected
