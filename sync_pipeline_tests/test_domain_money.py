from decimal import Decimal

import pytest

from sync_pipeline.domain.money import Money, MoneyError, from_minor, quantize, to_decimal, to_minor


def test_floats_are_refused():
    with pytest.raises(MoneyError, match="float"):
        to_decimal(0.1)
    with pytest.raises(MoneyError):
        Money.of(1.5, "GBP")


def test_rounding_is_named_and_per_currency():
    assert quantize(Decimal("2.345"), "GBP") == Decimal("2.35")  # half up
    assert quantize(Decimal("2.345"), "GBP", "half_even") == Decimal("2.34")
    assert quantize(Decimal("1234.5"), "JPY") == Decimal("1235")  # no minor unit
    assert quantize(Decimal("1.2345"), "BHD") == Decimal("1.235")  # three decimals


def test_minor_units_round_trip():
    assert to_minor(Decimal("981.00"), "GBP") == 98100
    assert to_minor(Decimal("1235"), "JPY") == 1235
    assert from_minor(98100, "GBP") == Decimal("981.00")
    assert from_minor(1235, "JPY") == Decimal("1235")


def test_three_times_twenty_minutes_at_an_awkward_rate():
    # 3 x 20 min at 100.00/h: per-entry rounding gives 3 x 33.33 = 99.99, one line gives 100.00
    third = Decimal(1) / Decimal(3)
    per_entry = sum(to_minor(third * 100, "GBP") for _ in range(3))
    one_line = to_minor(third * 3 * 100, "GBP")
    assert (per_entry, one_line) == (9999, 10000)


def test_mixed_currencies_are_refused():
    with pytest.raises(MoneyError, match="mixed currencies"):
        Money.of("1", "GBP") + Money.of("1", "EUR")


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="unknown currency 'XYZ'"):
        Money.of("1", "XYZ")


def test_minor_requires_rounded_amount():
    with pytest.raises(MoneyError, match="round it first"):
        _ = Money.of("1.005", "GBP").minor
    assert Money.of("1.005", "GBP").rounded().minor == 101
