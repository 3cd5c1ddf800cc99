"""Amounts and names as a finance user reads them in the Dagster UI and the workbench."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.display import decimal_money_text, money_text, named, rate_text, totals_text
from sync_pipeline.domain.money import MINOR_UNITS, MoneyError, from_minor


def test_minor_units_are_applied_with_the_currency_in_front():
    assert money_text(58325, "GBP") == "GBP 583.25"
    assert money_text(81750, "GBP") == "GBP 817.50"
    assert money_text(123456789, "EUR") == "EUR 1,234,567.89"
    assert money_text(-6000, "GBP") == "GBP -60.00"
    assert money_text(1200, "JPY") == "JPY 1,200"
    assert money_text(1250, "KWD") == "KWD 1.250"
    assert money_text(0, "EUR") == "EUR 0.00"


def test_unknown_or_missing_amounts_say_so_instead_of_guessing():
    assert money_text(None, "GBP") == "" and money_text(5, None) == "" and money_text(5, " ") == ""
    assert money_text(1234, "XTS") == "1,234 minor units of XTS"


def test_exact_values_show_at_the_minor_unit_rounded_half_up():
    assert decimal_money_text("583.250000000000", "EUR") == "EUR 583.25"
    assert decimal_money_text(Decimal("0.005"), "GBP") == "GBP 0.01"
    assert decimal_money_text(Decimal("-0.005"), "GBP") == "GBP -0.01"
    assert decimal_money_text("1999.994", "USD") == "USD 1,999.99"
    assert decimal_money_text("12.5", "JPY") == "JPY 13"
    assert decimal_money_text(None, "EUR") == "" and decimal_money_text("1", None) == ""
    assert decimal_money_text("1.23456", "XTS") == "XTS 1.23456"


def test_totals_per_currency_read_as_one_line_in_currency_order():
    assert totals_text({"GBP": 81750, "EUR": 58325}) == "EUR 583.25 · GBP 817.50"
    assert totals_text({}) == "none"


def test_names_stand_beside_their_ids():
    assert named("Acme Ltd", "1", "client") == "Acme Ltd (client 1)"
    assert named(None, "11", "project") == "project 11"
    assert named("", "11", "project") == "project 11"
    assert named("Acme Ltd", None, "client") == "Acme Ltd"
    assert named(None, None, "client") == "no client"
    assert named(" ", " ", "client") == "no client"


def test_rates_keep_their_precision_but_lose_trailing_zeros():
    assert rate_text("95.500000", "EUR") == "EUR 95.50/h"
    assert rate_text("100", "GBP") == "GBP 100.00/h"
    assert rate_text("12.3456", "GBP") == "GBP 12.3456/h"
    assert rate_text("95.5", "JPY") == "JPY 95.5/h"
    assert rate_text("800", "GBP", per="day") == "GBP 800.00/day"
    assert rate_text(None, "GBP") == "" and rate_text("1", "") == ""
    assert rate_text("7.25", "XTS") == "XTS 7.25/h"


@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from(sorted(MINOR_UNITS)))
def test_the_text_reads_back_to_the_same_amount(minor, ccy):
    text = money_text(minor, ccy)
    code, _, number = text.partition(" ")
    assert code == ccy
    assert Decimal(number.replace(",", "")) == from_minor(minor, ccy)


def test_a_blank_currency_shows_nothing_whatever_the_amount():
    assert decimal_money_text("583.25", " ") == "" and decimal_money_text("583.25", "") == ""
    assert rate_text("95.5", " ") == ""


def test_a_float_from_a_json_reader_is_read_by_its_text_not_its_binary_value():
    # 583.255 as a binary float is 583.25499999…; its text rounds half up to .26
    assert decimal_money_text(583.255, "EUR") == "EUR 583.26"
    assert decimal_money_text(0.1, "GBP") == "GBP 0.10"
    assert rate_text(95.5, "EUR") == "EUR 95.50/h"
    assert rate_text(0.125, "GBP", per="km") == "GBP 0.125/km"


@pytest.mark.parametrize("show", [lambda v: decimal_money_text(v, "GBP"), lambda v: rate_text(v, "GBP")])
def test_a_boolean_is_refused_as_an_amount(show):
    with pytest.raises(MoneyError, match="refusing bool"):
        show(True)
