"""Money and dates of the Xero sandbox: Xero's /Date()/ form, bounded decimals, settling documents.

A payment or a credit note allocation changes what an invoice still owes (``AmountPaid``, ``AmountCredited``,
``AmountDue``) and may make it ``PAID``; a credit note's ``RemainingCredit`` likewise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline.sandbox import xero_reference as ref
from sync_pipeline.sandbox.xero_where import as_date

# The sandbox's own bound on any number it is sent (Xero documents none): every amount, quantity and rate
# stays below it, so a line's quantity x unit amount keeps its cents exactly in 28-digit decimals.
MAX_AMOUNT = Decimal(10) ** 12


def ms_date(d: datetime | date) -> str:
    if not isinstance(d, datetime):
        d = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return f"/Date({int(d.timestamp() * 1000)}+0000)/"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dec(value: Any, field: str, errors: list[str]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append(f"{field} must be a number")
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{field} must be a number")
        return None
    if not d.is_finite():
        errors.append(f"{field} must be a number")
        return None
    if abs(d) >= MAX_AMOUNT:
        errors.append(f"{field} {value} is too large (the sandbox takes amounts below {MAX_AMOUNT:,})")
        return None
    return d


def _parse_date(value: Any, field: str, errors: list[str]) -> date | None:
    if value is None or value == "":
        return None
    d = as_date(value) if isinstance(value, str) else None
    if d is None:
        errors.append(f"{field} must be a date in YYYY-MM-DD form")
    return d


def _exp(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, ref.minor_units(currency)))


def _q(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(_exp(currency), rounding=ROUND_HALF_UP)


def _settle_invoice(inv: dict[str, Any], paid_on: date | None = None) -> None:
    """Recompute AmountPaid/AmountCredited/AmountDue and PAID status from payments and allocations."""
    ccy = inv.get("CurrencyCode", "GBP")
    total = Decimal(str(inv.get("Total") or 0))
    paid = sum((Decimal(str(p["Amount"])) for p in inv.get("Payments") or []), Decimal(0))
    credited = sum((Decimal(str(c["AppliedAmount"])) for c in inv.get("CreditNotes") or []), Decimal(0))
    inv["AmountPaid"] = _q(paid, ccy)
    inv["AmountCredited"] = _q(credited, ccy)
    inv["AmountDue"] = _q(total - paid - credited, ccy)
    _paid_status(inv, inv["AmountDue"], bool(paid or credited), paid_on)


def _settle_credit_note(cn: dict[str, Any], paid_on: date | None = None) -> None:
    ccy = cn.get("CurrencyCode", "GBP")
    total = Decimal(str(cn.get("Total") or 0))
    used = sum((Decimal(str(a["Amount"])) for a in cn.get("Allocations") or []), Decimal(0))
    refunded = sum((Decimal(str(p["Amount"])) for p in cn.get("Payments") or []), Decimal(0))
    cn["RemainingCredit"] = _q(total - used - refunded, ccy)
    _paid_status(cn, cn["RemainingCredit"], bool(used or refunded), paid_on)


def _paid_status(doc: dict[str, Any], left: Decimal, applied: bool, paid_on: date | None) -> None:
    """An AUTHORISED document with nothing left after payments/allocations becomes PAID (dated when known);
    a PAID one with something left again (a payment removed) goes back to AUTHORISED."""
    if doc.get("Status") == "AUTHORISED" and left == 0 and applied:
        doc["Status"] = "PAID"
        if paid_on is not None:
            doc["FullyPaidOnDate"] = ms_date(paid_on)
    elif doc.get("Status") == "PAID" and left != 0:
        doc["Status"] = "AUTHORISED"
        doc.pop("FullyPaidOnDate", None)
