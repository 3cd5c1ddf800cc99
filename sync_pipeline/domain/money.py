"""Money amounts: Decimal major units or integer minor units of an ISO 4217 currency.

Never a binary float. Rounding lives here, with the mode named. Amounts can be
expressed in integer minor units (cents, pence, yen) for storage.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies we support. Extend deliberately: an
# unknown currency is an error, not a guess.
MINOR_UNITS: dict[str, int] = {
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "JPY": 0,
    "KRW": 0,
    "NOK": 2,
    "NZD": 2,
    "PLN": 2,
    "SEK": 2,
    "SGD": 2,
    "USD": 2,
    "ZAR": 2,
    "BHD": 3,
    "KWD": 3,
}

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class MoneyError(ValueError):
    """Raised for invalid money operations (float input, mixed currencies, unknown currency)."""


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise MoneyError(
            f"unknown currency {currency!r}: add it with its ISO 4217 minor units to "
            "sync_pipeline.domain.money.MINOR_UNITS"
        ) from None


def to_decimal(value: object) -> Decimal:
    """Convert int/str/Decimal to Decimal; refuse floats (they carry binary error)."""
    if isinstance(value, bool):
        raise MoneyError(f"refusing bool as a number: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"not a decimal number: {value!r}") from None
    raise MoneyError(
        f"refusing {type(value).__name__} {value!r} as a number: use Decimal, int or str "
        "(parse JSON with parse_float=Decimal)"
    )


def quantize(amount: Decimal, currency: str, mode: str = "half_up") -> Decimal:
    """Round an amount to the currency's minor unit with a named rounding mode."""
    exp = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exp, rounding=ROUNDING_MODES[mode])


def to_minor(amount: Decimal, currency: str, mode: str = "half_up") -> int:
    """Decimal major units → integer minor units, rounding with the named mode."""
    q = quantize(amount, currency, mode)
    return int(q.scaleb(minor_units(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units → Decimal major units with the currency's exponent."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise MoneyError(f"minor units must be an int, got {type(minor).__name__}")
    return Decimal(minor).scaleb(-minor_units(currency))
