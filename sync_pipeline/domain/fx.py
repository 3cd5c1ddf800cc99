"""Foreign exchange: rates with their provenance, and exact conversion. Pure, no I/O.

A rate says ``1 base = rate quote`` on ``rate_date``, published by ``source`` and retrieved at
``retrieved_at`` (ISO-8601 instant). Providers (``sync_pipeline.connectors.fx``) publish rates; the
pipeline stores the rates it used (the ``fx_rates`` asset) and converts only from stored rates, so
re-running a past period reproduces the same amounts byte for byte.

Cross rates: the ECB publishes ``EUR → X``. ``A → B`` is ``(EUR→B) / (EUR→A)`` rounded to
``CROSS_RATE_PLACES`` decimal places (half-even) -- a deterministic function of the stored rates.
Conversions keep full precision until the one named rounding to the target currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from sync_pipeline.domain.money import minor_units, quantize, to_decimal

CROSS_RATE_PLACES = 10
DEFAULT_MAX_AGE_DAYS = 7  # ECB publishes on TARGET business days; Easter closes it for four days
RATE_KINDS = ("reference", "contract", "identity")


class FxError(ValueError):
    """A rate is missing, stale, or a conversion is asked for the wrong currencies."""


@dataclass(frozen=True, slots=True)
class FxRate:
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str
    retrieved_at: str
    kind: str = "reference"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", to_decimal(self.rate))
        if self.rate <= 0:
            raise FxError(f"rate {self.base}->{self.quote} on {self.rate_date} must be positive, got {self.rate}")
        if self.kind not in RATE_KINDS:
            raise FxError(f"rate kind {self.kind!r} is not one of {RATE_KINDS}")

    def inverse(self) -> FxRate:
        with localcontext() as ctx:
            ctx.prec = 50
            inv = (Decimal(1) / self.rate).quantize(Decimal(1).scaleb(-CROSS_RATE_PLACES), rounding=ROUND_HALF_EVEN)
        return replace(self, base=self.quote, quote=self.base, rate=inv)


def identity(currency: str, on: date, retrieved_at: str = "") -> FxRate:
    return FxRate(currency, currency, Decimal(1), on, "identity", retrieved_at, "identity")


def cross(base_leg: FxRate, quote_leg: FxRate) -> FxRate:
    """``A → B`` from two legs that share a pivot: ``P → A`` and ``P → B`` (e.g. EUR → GBP, EUR → USD)."""
    if base_leg.base != quote_leg.base:
        raise FxError(f"cannot cross {base_leg.base}->{base_leg.quote} with {quote_leg.base}->{quote_leg.quote}: "
                      "legs must share the pivot currency")
    with localcontext() as ctx:
        ctx.prec = 50
        r = (quote_leg.rate / base_leg.rate).quantize(Decimal(1).scaleb(-CROSS_RATE_PLACES), rounding=ROUND_HALF_EVEN)
    older = min(base_leg.rate_date, quote_leg.rate_date)
    source = base_leg.source if base_leg.source == quote_leg.source else f"{base_leg.source}+{quote_leg.source}"
    return FxRate(base_leg.quote, quote_leg.quote, r, older, source,
                  max(base_leg.retrieved_at, quote_leg.retrieved_at), base_leg.kind)


class RateTable:
    """Stored rates, looked up as 'latest published on or before the date', never older than ``max_age_days``."""

    def __init__(self, rates: Iterable[FxRate], pivot: str = "EUR", max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> None:
        self.pivot = pivot
        self.max_age_days = max_age_days
        self._by_pair: dict[tuple[str, str], list[FxRate]] = {}
        for r in rates:
            self._by_pair.setdefault((r.base, r.quote), []).append(r)
        for lst in self._by_pair.values():
            lst.sort(key=lambda r: r.rate_date)

    def _direct(self, base: str, quote: str, on: date) -> FxRate | None:
        lst = self._by_pair.get((base, quote))
        if not lst:
            return None
        best = None
        for r in lst:  # short lists (one period): a scan is clearer than bisect on dataclasses
            if r.rate_date <= on:
                best = r
            else:
                break
        if best is None:
            return None
        if on - best.rate_date > timedelta(days=self.max_age_days):
            raise FxError(f"the latest {base}->{quote} rate on or before {on} is from {best.rate_date}, older than "
                          f"{self.max_age_days} days: refresh fx_rates for this period")
        return best

    def rate(self, base: str, quote: str, on: date) -> FxRate:
        """The rate to convert ``base`` into ``quote`` for a transaction dated ``on``."""
        minor_units(base), minor_units(quote)  # unknown currencies fail loudly
        if base == quote:
            return identity(base, on)
        direct = self._direct(base, quote, on)
        if direct is not None:
            return direct
        inverse = self._direct(quote, base, on)
        if inverse is not None:
            return inverse.inverse()
        p = self.pivot
        legs = [self._direct(p, base, on) if base != p else identity(p, on),
                self._direct(p, quote, on) if quote != p else identity(p, on)]
        if legs[0] is None or legs[1] is None:
            missing = base if legs[0] is None else quote
            raise FxError(f"no {p}->{missing} rate on or before {on} in the stored rates: materialize fx_rates "
                          f"for this period (or add a contract rate for the client in the mapping)")
        return cross(legs[0], legs[1])


def convert(amount: Decimal, rate: FxRate) -> Decimal:
    """Exact (unrounded) conversion of an amount in ``rate.base`` into ``rate.quote``."""
    with localcontext() as ctx:
        ctx.prec = 50
        return to_decimal(amount) * rate.rate


def convert_rounded(amount: Decimal, rate: FxRate, mode: str = "half_up") -> Decimal:
    """Conversion rounded once to the target currency's minor unit with a named mode."""
    return quantize(convert(amount, rate), rate.quote, mode)


def convert_minor(amount_minor: int, rate: FxRate, mode: str = "half_up") -> int:
    """Integer minor units of ``rate.base`` → integer minor units of ``rate.quote`` (e.g. JPY 0 dp → GBP 2 dp)."""
    major = Decimal(amount_minor).scaleb(-minor_units(rate.base))
    return int(convert_rounded(major, rate, mode).scaleb(minor_units(rate.quote)))
