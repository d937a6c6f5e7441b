"""Amount parsing and formatting: integers in minor units, never floats."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.money import CURRENCIES, fee, format_amount, parse_amount
from appliance.errors import AmountError

CNY = CURRENCIES["CNY"]
JPY = CURRENCIES["JPY"]


@pytest.mark.parametrize(
    ("text", "minor"), [("12.50", 1250), ("12.5", 1250), ("12", 1200), ("0.01", 1), (" 7.00 ", 700)]
)
def test_valid_amounts_become_minor_units(text: str, minor: int) -> None:
    assert parse_amount(text, CNY) == minor


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-1", "not a plain positive number"),
        ("1e3", "not a plain positive number"),
        ("12.505", "more than 2 decimal places"),
        ("", "empty"),
        ("   ", "empty"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("10000000000.00", "too large"),
        ("1,000", "not a plain positive number"),
        ("12.", "not a plain positive number"),
        ("nan", "not a plain positive number"),
        ("１２", "not a plain positive number"),
    ],
)
def test_bad_amounts_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(AmountError, match=why):
        parse_amount(text, CNY)


def test_zero_exponent_currency_refuses_decimals() -> None:
    assert parse_amount("1250", JPY) == 1250
    with pytest.raises(AmountError):
        parse_amount("12.50", JPY)


@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_format_then_parse_round_trips(minor: int) -> None:
    assert parse_amount(format_amount(minor, CNY), CNY) == minor


@given(st.text(max_size=20))
def test_parse_never_raises_anything_but_amount_error(text: str) -> None:
    try:
        value = parse_amount(text, CNY)
    except AmountError:
        return
    assert isinstance(value, int) and 0 < value < 10**12


def test_format_with_symbol_and_negative() -> None:
    assert format_amount(1250, CNY, symbol=True) == "¥12.50"
    assert format_amount(-5, CNY) == "-0.05"


@pytest.mark.parametrize(
    ("amount", "bp", "expected"), [(10000, 60, 60), (1250, 38, 5), (83, 60, 0)]
)
def test_fee_rounds_half_up_in_integers(amount: int, bp: int, expected: int) -> None:
    assert fee(amount, bp) == expected
