"""FX: cross rates, staleness, exact conversion -- expected values computed by hand from ECB rates."""

from datetime import date
from decimal import Decimal

import pytest

from sync_pipeline.domain.fx import FxError, FxRate, RateTable, convert, convert_minor, convert_rounded, cross

SRC = "ecb-test"
T = "2026-11-02T09:00:00+00:00"


def _ecb(quote: str, rate: str, d: date) -> FxRate:
    return FxRate("EUR", quote, Decimal(rate), d, SRC, T)


# ECB reference rates (as published): Fri 23 Oct and Mon 26 Oct 2026
FRI, SAT, MON = date(2026, 10, 23), date(2026, 10, 24), date(2026, 10, 26)
TABLE = RateTable([
    _ecb("GBP", "0.83728", FRI), _ecb("USD", "1.1193", FRI), _ecb("JPY", "175.51", FRI),
    _ecb("GBP", "0.8382", MON), _ecb("USD", "1.1188", MON), _ecb("JPY", "176.15", MON),
])


def test_cross_rate_through_the_euro_is_rounded_to_ten_places():
    # GBP→USD on Monday = 1.1188 / 0.8382 = 1.33476497256024815... → 1.3347649726 (10 dp, half-even)
    r = TABLE.rate("GBP", "USD", MON)
    assert (r.base, r.quote, r.rate, r.rate_date, r.source, r.retrieved_at) == (
        "GBP", "USD", Decimal("1.3347649726"), MON, SRC, T)
    # 1000.00 GBP = 1334.7649726 USD → 1334.76
    assert convert(Decimal("1000.00"), r) == Decimal("1334.764972600")
    assert convert_rounded(Decimal("1000.00"), r) == Decimal("1334.76")


def test_a_weekend_uses_the_last_publication_before_it():
    r = TABLE.rate("EUR", "GBP", SAT)
    assert (r.rate, r.rate_date) == (Decimal("0.83728"), FRI)


def test_inverse_of_a_published_rate():
    # GBP→EUR on Monday = 1 / 0.8382 = 1.19303268909568... → 1.1930326891
    assert TABLE.rate("GBP", "EUR", MON).rate == Decimal("1.1930326891")


def test_yen_has_no_minor_unit_in_either_direction():
    # JPY→GBP = 0.8382 / 176.15 = 0.00475844450752... → 0.0047584445; ¥10000 = 47.584445 GBP → 47.58 = 4758 p
    jpy_gbp = TABLE.rate("JPY", "GBP", MON)
    assert jpy_gbp.rate == Decimal("0.0047584445")
    assert convert_minor(10000, jpy_gbp) == 4758
    # GBP→JPY = 176.15 / 0.8382 = 210.15270818420... → 210.1527081842; £12.34 = ¥2593.28... → ¥2593
    gbp_jpy = TABLE.rate("GBP", "JPY", MON)
    assert gbp_jpy.rate == Decimal("210.1527081842")
    assert convert_minor(1234, gbp_jpy) == 2593


def test_same_currency_is_the_identity():
    r = TABLE.rate("GBP", "GBP", MON)
    assert (r.rate, r.kind) == (Decimal(1), "identity")


def test_stale_or_missing_rates_are_refused_with_the_fix():
    with pytest.raises(FxError, match="older than 7 days: refresh fx_rates"):
        TABLE.rate("EUR", "GBP", date(2026, 11, 10))
    with pytest.raises(FxError, match="no EUR->CHF rate on or before .* materialize fx_rates"):
        TABLE.rate("GBP", "CHF", MON)
    with pytest.raises(FxError, match="no EUR->GBP rate on or before 2026-10-22"):
        TABLE.rate("GBP", "USD", date(2026, 10, 22))


def test_rates_must_be_positive_and_legs_must_share_a_pivot():
    with pytest.raises(FxError, match="must be positive"):
        FxRate("EUR", "GBP", Decimal(0), MON, SRC, T)
    with pytest.raises(FxError, match="share the pivot"):
        cross(_ecb("GBP", "0.8", MON), FxRate("USD", "JPY", Decimal(150), MON, SRC, T))
