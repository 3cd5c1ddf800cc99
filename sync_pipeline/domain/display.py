"""Amounts and names as a finance user reads them: ``GBP 1,817.50``, ``Acme Ltd (client 1)``.

Display only: the stored value is never changed, and an exact (unrounded) amount is shown at its
currency's minor unit with the rounding named (half up), as Xero rounds a line.
"""

from __future__ import annotations

from decimal import Decimal

from sync_pipeline.domain.money import MoneyError, from_minor, minor_units, quantize, to_decimal


def money_text(minor: int | None, currency: str | None) -> str:
    """Integer minor units of ``currency`` as ``GBP 1,817.50`` (``JPY 1,200``, ``KWD 1.250``); '' when unknown."""
    if minor is None or currency is None or not str(currency).strip():
        return ""
    ccy = str(currency)
    try:
        return f"{ccy} {from_minor(int(minor), ccy):,}"
    except MoneyError:
        return f"{int(minor):,} minor units of {ccy}"


def decimal_money_text(amount: Decimal | str | int | None, currency: str | None) -> str:
    """An exact amount in major units at the currency's minor unit (half up): ``583.250000`` → ``EUR 583.25``."""
    if amount is None or currency is None or not str(currency).strip():
        return ""
    ccy = str(currency)
    value = to_decimal(amount if not isinstance(amount, float) else str(amount))
    try:
        return f"{ccy} {quantize(value, ccy):,}"
    except MoneyError:
        return f"{ccy} {value.normalize():,f}"


def totals_text(totals: dict[str, int]) -> str:
    """Per-currency minor-unit totals, currencies in alphabetical order: ``EUR 583.25 · GBP 817.50``."""
    return " · ".join(money_text(v, ccy) for ccy, v in sorted(totals.items())) or "none"


def named(name: str | None, ident: str | None, kind: str) -> str:
    """A name with its id beside it: ``Acme Ltd (client 1)``; the id alone when the name is unknown."""
    has_name = name is not None and str(name).strip() != ""
    has_id = ident is not None and str(ident).strip() != ""
    if has_name and has_id:
        return f"{name} ({kind} {ident})"
    if has_name:
        return str(name)
    return f"{kind} {ident}" if has_id else f"no {kind}"


def rate_text(rate: Decimal | str | int | None, currency: str | None, per: str = "h") -> str:
    """A rate as written, without trailing zeros: ``95.500000`` → ``EUR 95.50/h`` (at least the minor unit)."""
    if rate is None or currency is None or not str(currency).strip():
        return ""
    value = to_decimal(rate if not isinstance(rate, float) else str(rate))
    exact = value.normalize()
    places = max(0, -int(exact.as_tuple().exponent))
    try:
        shown = quantize(value, str(currency)) if places <= minor_units(str(currency)) else exact
    except MoneyError:
        shown = exact
    return f"{currency} {shown:,f}/{per}"
