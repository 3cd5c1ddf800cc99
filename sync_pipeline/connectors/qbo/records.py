"""Strict reading of what QuickBooks Online sends back: invoices, credit memos, payments, customers.

The same rules as every other outside record (:mod:`connectors.strict`): an amount is a JSON number that fits its
currency's minor unit (``"TotalAmt": "12.50"`` is not 12.50, 12.345 USD is not rounded), an id is Intuit's string of
digits, an instant carries its UTC offset. A document that does not read is rejected with its id (or its position),
the field, the value and the problem; one odd document never stops the others. A Change Data Capture tombstone
(``{"status": "Deleted", "Id": ...}``) reads as a deletion, not as a broken document.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, NotRequired, Required

from pydantic import AfterValidator, TypeAdapter
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from sync_pipeline.connectors.strict import (
    Bool,
    Instant,
    IsoDate,
    KnownCurrency,
    Problem,
    Rejected,
    Str,
    decimal_type,
    finer_than_currency,
    json_kind,
    matching_id,
    read_document,
    strict_record,
)

QBO_ID = re.compile(r"[0-9]{1,20}")


def _qbo_id(v: Any) -> str:
    if not isinstance(v, str) or not QBO_ID.fullmatch(v):
        raise PydanticCustomError("id", "expected a QuickBooks id (a string of digits), got {got}",
                                  {"got": json_kind(v)})
    return v


QboId = Annotated[str, AfterValidator(_qbo_id)]
Money = decimal_type(15, 4)  # checked against the document's currency below
Rate = decimal_type(12, 10)


@strict_record
class _Ref(TypedDict):
    value: QboId
    name: NotRequired[Str | None]


@strict_record
class _CurrencyRef(TypedDict):
    value: KnownCurrency
    name: NotRequired[Str | None]


@strict_record
class _MetaData(TypedDict, total=False):
    CreateTime: Instant
    LastUpdatedTime: Required[Instant]


@strict_record
class _LinkedTxn(TypedDict):
    TxnId: QboId
    TxnType: Str


@strict_record
class _TaxDetail(TypedDict, total=False):
    TotalTax: Money | None  # type: ignore[valid-type]
    TxnTaxCodeRef: _Ref | None


@strict_record
class _Transaction(TypedDict, total=False):
    Id: Required[QboId]
    SyncToken: Str
    DocNumber: Str | None
    TxnDate: Required[IsoDate]
    PrivateNote: Str | None
    CustomerRef: Required[_Ref]
    CurrencyRef: _CurrencyRef | None
    ExchangeRate: Rate | None  # type: ignore[valid-type]
    TotalAmt: Required[Money]  # type: ignore[valid-type]
    MetaData: Required[_MetaData]
    LinkedTxn: list[_LinkedTxn] | None
    TxnTaxDetail: _TaxDetail | None


@strict_record
class QboInvoice(_Transaction, total=False):
    DueDate: IsoDate | None
    Balance: Required[Money]  # type: ignore[valid-type]


@strict_record
class QboCreditMemo(_Transaction, total=False):
    RemainingCredit: Money | None  # type: ignore[valid-type]
    Balance: Money | None  # type: ignore[valid-type]


@strict_record
class _PaymentLine(TypedDict, total=False):
    Amount: Required[Money]  # type: ignore[valid-type]
    LinkedTxn: list[_LinkedTxn] | None


@strict_record
class QboPayment(_Transaction, total=False):
    UnappliedAmt: Money | None  # type: ignore[valid-type]
    PaymentRefNum: Str | None
    DepositToAccountRef: _Ref | None
    Line: list[_PaymentLine] | None


@strict_record
class QboCustomer(TypedDict, total=False):
    Id: Required[QboId]
    SyncToken: Str
    DisplayName: Required[Str]
    CompanyName: Str | None
    Active: Bool | None
    CurrencyRef: _CurrencyRef | None
    Balance: Money | None  # type: ignore[valid-type]
    MetaData: Required[_MetaData]


SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "Invoice": TypeAdapter(QboInvoice), "CreditMemo": TypeAdapter(QboCreditMemo),
    "Payment": TypeAdapter(QboPayment), "Customer": TypeAdapter(QboCustomer),
}
MONEY_FIELDS = ("TotalAmt", "Balance", "RemainingCredit", "UnappliedAmt")


def is_tombstone(doc: Any) -> bool:
    """A Change Data Capture entry for a deleted object: ``{"status": "Deleted", "Id": ..., "MetaData": ...}``."""
    return isinstance(doc, dict) and doc.get("status") == "Deleted"


def _finer_than_currency(doc: dict[str, Any], currency: str) -> tuple[Problem, ...]:
    amounts = [(f, doc.get(f)) for f in MONEY_FIELDS]
    amounts.append(("TxnTaxDetail.TotalTax", (doc.get("TxnTaxDetail") or {}).get("TotalTax")))
    for n, line in enumerate(doc.get("Line") or []):
        amounts.append((f"Line.{n}.Amount", line.get("Amount")))
    return finer_than_currency(amounts, currency)


def currency_of(doc: dict[str, Any], home_currency: str) -> str:
    """A document's currency: its ``CurrencyRef``, or the company's home currency (no multicurrency)."""
    ref = doc.get("CurrencyRef")
    return ref["value"] if ref else home_currency


def read_documents(entity: str, docs: list[Any], home_currency: str
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Rejected]]:
    """The documents of ``entity`` that read strictly (as sent, with the fields not checked here), the deletion
    tombstones, and the others rejected."""
    schema = SCHEMAS[entity]
    check = None if entity == "Customer" else lambda m: _finer_than_currency(m, currency_of(m, home_currency))
    typed, deleted, rejected = [], [], []
    for n, doc in enumerate(docs, start=1):
        rid = matching_id(doc, "Id", QBO_ID)
        if is_tombstone(doc) and rid:
            deleted.append(doc)
            continue
        m = read_document(schema, doc, source=f"qbo {entity}", rid=rid, position=n, check=check)
        if isinstance(m, Rejected):
            rejected.append(m)
        else:
            typed.append(doc)  # as sent: strict reading coerced nothing, and fields it does not check are kept
    return typed, deleted, rejected
