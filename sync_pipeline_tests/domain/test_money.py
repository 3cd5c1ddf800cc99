"""Money: Decimal or integer minor units, never a float; rounding to the currency's minor unit with a named mode."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.money import (
    MINOR_UNITS,
    MoneyError,
    from_minor,
    minor_units,
    quantize,
    to_decimal,
    to_minor,
)


def test_floats_are_refused_with_what_to_use_instead():
    with pytest.raises(MoneyError, match=r"^refusing float 0\.1 as a number: use Decimal, int or str "
                                         r"\(parse JSON with parse_float=Decimal\)$"):
        to_decimal(0.1)


def test_booleans_are_not_numbers():
    with pytest.raises(MoneyError, match=r"^refusing bool as a number: True$"):
        to_decimal(True)
    with pytest.raises(MoneyError, match=r"^refusing bool as a number: False$"):
        to_decimal(False)


def test_decimal_int_and_text_are_read_exactly():
    d = Decimal("12.340")
    assert to_decimal(d) is d  # kept as is, trailing zero included
    assert to_decimal(7) == Decimal(7) and isinstance(to_decimal(7), Decimal)
    assert str(to_decimal(" 12.345 ")) == "12.345"  # surrounding blanks are ignored
    with pytest.raises(MoneyError, match=r"^not a decimal number: '12,5'$"):
        to_decimal("12,5")
    with pytest.raises(MoneyError, match=r"^refusing NoneType None as a number"):
        to_decimal(None)


def test_unknown_currency_names_the_table_to_extend():
    assert minor_units("GBP") == 2 and minor_units("JPY") == 0 and minor_units("KWD") == 3
    with pytest.raises(MoneyError, match=r"^unknown currency 'XYZ': add it with its ISO 4217 minor units to "
                                         r"sync_pipeline\.domain\.money\.MINOR_UNITS$"):
        minor_units("XYZ")
    with pytest.raises(MoneyError, match="unknown currency 'gbp'"):  # codes are upper case, as ISO writes them
        to_minor(Decimal(1), "gbp")


def test_rounding_is_named_and_per_currency():
    assert quantize(Decimal("2.345"), "GBP") == Decimal("2.35")  # half up
    assert quantize(Decimal("2.345"), "GBP", "half_even") == Decimal("2.34")
    assert quantize(Decimal("1234.5"), "JPY") == Decimal("1235")  # no minor unit
    assert quantize(Decimal("1.2345"), "BHD") == Decimal("1.235")  # three decimals
    assert str(quantize(Decimal("2"), "GBP")) == "2.00"  # always the currency's exponent
    assert quantize("0.125", "GBP") == Decimal("0.13")  # text is read as a decimal first


@pytest.mark.parametrize(("amount", "ccy", "half_up", "half_even"), [
    ("0.125", "GBP", 13, 12),  # tie, even neighbour below
    ("0.135", "GBP", 14, 14),  # tie, even neighbour above: both agree
    ("-0.125", "GBP", -13, -12),  # ties away from zero / to even, symmetric for credits
    ("2.5", "JPY", 3, 2),
    ("3.5", "JPY", 4, 4),
    ("0.0125", "KWD", 13, 12),
    ("0.1249999", "GBP", 12, 12),  # not a tie: the mode does not matter
])
def test_ties_round_by_the_configured_mode(amount, ccy, half_up, half_even):
    assert to_minor(Decimal(amount), ccy) == half_up  # half_up is the default
    assert to_minor(Decimal(amount), ccy, "half_up") == half_up
    assert to_minor(Decimal(amount), ccy, "half_even") == half_even


def test_minor_units_round_trip():
    assert to_minor(Decimal("981.00"), "GBP") == 98100
    assert to_minor(Decimal("1235"), "JPY") == 1235
    assert to_minor(Decimal("1.234"), "BHD") == 1234
    assert from_minor(98100, "GBP") == Decimal("981.00") and str(from_minor(98100, "GBP")) == "981.00"
    assert str(from_minor(1235, "JPY")) == "1235"
    assert str(from_minor(-5, "KWD")) == "-0.005"


@pytest.mark.parametrize("bad", [1.0, True, False, Decimal(3), "3", None])
def test_minor_units_must_be_an_int(bad):
    with pytest.raises(MoneyError, match=rf"^minor units must be an int, got {type(bad).__name__}$"):
        from_minor(bad, "GBP")


def test_three_times_twenty_minutes_at_an_awkward_rate():
    # 3 x 20 min at 100.00/h: per-entry rounding gives 3 x 33.33 = 99.99, one line gives 100.00
    third = Decimal(1) / Decimal(3)
    per_entry = sum(to_minor(third * 100, "GBP") for _ in range(3))
    one_line = to_minor(third * 3 * 100, "GBP")
    assert (per_entry, one_line) == (9999, 10000)


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(sorted(MINOR_UNITS)),
       st.sampled_from(["half_up", "half_even"]))
def test_minor_units_survive_a_round_trip_through_major_units(minor, ccy, mode):
    assert to_minor(from_minor(minor, ccy), ccy, mode) == minor


@given(st.decimals(min_value=-10**9, max_value=10**9, places=6), st.sampled_from(["GBP", "JPY", "KWD"]),
       st.sampled_from(["half_up", "half_even"]))
def test_rounding_moves_an_amount_by_at_most_half_a_minor_unit(amount, ccy, mode):
    assert abs(from_minor(to_minor(amount, ccy, mode), ccy) - amount) <= from_minor(1, ccy) / 2
