"""FX: cross rates, staleness, exact conversion -- expected values computed by hand from ECB rates."""

from datetime import date
from decimal import Decimal

import pytest

from sync_pipeline.domain.fx import (
    FxError,
    FxRate,
    RateTable,
    convert,
    convert_minor,
    convert_rounded,
    cross,
    identity,
)
from sync_pipeline.domain.money import MoneyError

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
    assert (r.base, r.quote, r.rate, r.rate_date, r.kind) == ("GBP", "GBP", Decimal(1), MON, "identity")


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


def test_messages_name_the_pair_the_date_and_what_to_do():
    with pytest.raises(FxError, match=r"^rate EUR->GBP on 2026-10-26 must be positive, got -1$"):
        FxRate("EUR", "GBP", Decimal(-1), MON, SRC, T)
    with pytest.raises(FxError, match=r"^rate kind 'guess' is not one of "):
        FxRate("EUR", "GBP", Decimal(1), MON, SRC, T, "guess")
    with pytest.raises(FxError, match=r"^cannot cross GBP->EUR with USD->JPY: legs must share the pivot currency$"):
        cross(FxRate("GBP", "EUR", Decimal(1), MON, SRC, T), FxRate("USD", "JPY", Decimal(150), MON, SRC, T))
    with pytest.raises(FxError, match=r"^the latest EUR->GBP rate on or before 2026-11-03 is from 2026-10-26, older "
                                      r"than 7 days: refresh fx_rates for this period$"):
        TABLE.rate("EUR", "GBP", date(2026, 11, 3))
    with pytest.raises(FxError, match=r"^no EUR->CHF rate on or before 2026-10-26 in the stored rates: materialize "
                                      r"fx_rates for this period \(or add a contract rate for the client in the "
                                      r"mapping\)$"):
        TABLE.rate("CHF", "GBP", MON)
    with pytest.raises(MoneyError, match="unknown currency 'XYZ'"):
        TABLE.rate("XYZ", "XYZ", MON)
    with pytest.raises(MoneyError, match="unknown currency 'XYZ'"):
        TABLE.rate("GBP", "XYZ", MON)


def test_a_rate_is_usable_for_exactly_max_age_days():
    assert TABLE.rate("EUR", "GBP", date(2026, 11, 2)).rate_date == MON  # 7 days old
    short = RateTable([_ecb("GBP", "0.8382", MON)], max_age_days=0)
    assert short.rate("EUR", "GBP", MON).rate == Decimal("0.8382")
    with pytest.raises(FxError, match="older than 0 days"):
        short.rate("EUR", "GBP", date(2026, 10, 27))
    assert short.max_age_days == 0 and RateTable([]).max_age_days == 7 and RateTable([]).pivot == "EUR"


def test_rates_given_out_of_order_are_looked_up_by_date():
    table = RateTable([_ecb("GBP", "0.8382", MON), _ecb("GBP", "0.83728", FRI), _ecb("GBP", "0.9", date(2026, 10, 28))])
    assert table.rate("EUR", "GBP", date(2026, 10, 27)).rate == Decimal("0.8382")
    assert table.rate("EUR", "GBP", FRI).rate == Decimal("0.83728")
    with pytest.raises(FxError, match="no EUR->GBP rate on or before 2026-10-22"):
        table.rate("EUR", "GBP", date(2026, 10, 22))


def test_a_direct_rate_wins_over_a_cross_and_an_inverse_keeps_its_metadata():
    contract = FxRate("GBP", "USD", Decimal("1.25"), MON, "contract", "t-contract", "contract")
    table = RateTable([*TABLE._by_pair[("EUR", "GBP")], *TABLE._by_pair[("EUR", "USD")], contract])
    assert table.rate("GBP", "USD", MON) is contract
    inv = table.rate("USD", "GBP", MON)
    assert (inv.base, inv.quote, inv.rate, inv.rate_date, inv.source, inv.retrieved_at, inv.kind) == (
        "USD", "GBP", Decimal("0.8000000000"), MON, "contract", "t-contract", "contract")
    assert table.rate("EUR", "USD", MON).rate == Decimal("1.1188")  # the pivot's own leg, not a cross


def test_pivot_legs_cross_with_the_older_date_the_later_retrieval_and_both_sources():
    gbp = FxRate("EUR", "GBP", Decimal("0.8"), FRI, "ecb", "2026-10-23T16:00:00+00:00")
    usd = FxRate("EUR", "USD", Decimal("1.2"), MON, "boe", "2026-10-26T16:00:00+00:00", "contract")
    r = cross(gbp, usd)
    assert (r.base, r.quote, r.rate, r.rate_date, r.source, r.retrieved_at, r.kind) == (
        "GBP", "USD", Decimal("1.5000000000"), FRI, "ecb+boe", "2026-10-26T16:00:00+00:00", "reference")
    r2 = cross(usd, gbp)
    assert (r2.rate, r2.source, r2.retrieved_at, r2.kind) == (Decimal("0.6666666667"), "boe+ecb",
                                                                "2026-10-26T16:00:00+00:00", "contract")
    # ten places, half even: 0.0000000005 / 2 = 0.00000000025, a tie → 0.0000000002
    tie = cross(FxRate("EUR", "A", Decimal(2), MON, "x", ""), FxRate("EUR", "B", Decimal("0.0000000005"), MON, "x", ""))
    assert tie.rate == Decimal("2E-10")
    with pytest.raises(FxError, match="must be positive"):  # too small for ten places is refused, not zero
        cross(FxRate("EUR", "A", Decimal(2), MON, "x", ""), FxRate("EUR", "B", Decimal("1E-10"), MON, "x", ""))


def test_inverse_rounds_to_ten_places_half_even():
    # 1 / 8 = 0.125 exactly; 1 / 3 = 0.3333333333 (down); 1 / 1.5 = 0.6666666667 (up)
    assert FxRate("EUR", "GBP", Decimal(8), MON, SRC, T).inverse().rate == Decimal("0.1250000000")
    assert FxRate("EUR", "GBP", Decimal(3), MON, SRC, T).inverse().rate == Decimal("0.3333333333")
    assert FxRate("EUR", "GBP", Decimal("1.5"), MON, SRC, T).inverse().rate == Decimal("0.6666666667")
    # 1 / 16 000 000 000 = 0.0000000000625 → 0.0000000001 (half even: 0.625e-10 is above the half)
    assert FxRate("EUR", "X", Decimal(16_000_000_000), MON, SRC, T).inverse().rate == Decimal("1E-10")
    assert FxRate("EUR", "X", Decimal(4_000_000_000), MON, SRC, T).inverse().rate == Decimal("2E-10")  # a tie


def test_identity_rates():
    r = identity("GBP", MON, "now")
    assert (r.base, r.quote, r.rate, r.rate_date, r.source, r.retrieved_at, r.kind) == (
        "GBP", "GBP", Decimal(1), MON, "identity", "now", "identity")
    assert identity("GBP", MON).retrieved_at == ""
    assert TABLE.rate("EUR", "EUR", SAT).rate_date == SAT


@pytest.mark.parametrize(("mode", "minor"), [("half_up", 13), ("half_even", 12)])
def test_conversions_round_once_with_the_mode(mode, minor):
    half = FxRate("EUR", "GBP", Decimal("0.5"), MON, SRC, T)
    assert convert(Decimal("0.25"), half) == Decimal("0.125")
    assert convert_rounded(Decimal("0.25"), half, mode) == Decimal(minor) / 100
    assert convert_minor(25, half, mode) == minor
    assert convert_minor(25, half) == 13
    assert convert_rounded(Decimal("0.25"), half) == Decimal("0.13")
    jpy = FxRate("GBP", "JPY", Decimal(200), MON, SRC, T)
    assert convert_minor(1, jpy) == 2 and convert_minor(-1, jpy) == -2
    # 50 significant digits: nothing is lost before the one rounding
    long = FxRate("EUR", "GBP", Decimal("1." + "0" * 30 + "1"), MON, SRC, T)
    assert convert(Decimal("1" + "0" * 15), long) == Decimal("1" + "0" * 15 + "." + "0" * 15 + "1")
