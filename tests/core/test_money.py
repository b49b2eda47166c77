"""Money as integer fen: expected values are worked out by hand in the comments."""

from __future__ import annotations

import pytest

from siyu.core.money import CurrencyMismatch, Money, parse_yuan


def test_addition_subtraction_and_multiplication_stay_in_fen() -> None:
    assert Money(150) + Money(275) == Money(425)
    assert Money(150) - Money(275) == Money(-125)
    assert Money(199) * 3 == Money(597)
    assert -Money(30) == Money(-30)


def test_money_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True)
    with pytest.raises(TypeError):
        Money(100) * 1.1  # type: ignore[operator]


def test_currency_must_be_an_iso_code() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, "cny")
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, "YUAN")


def test_mixing_currencies_is_an_error_not_a_sum() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100) + Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(100) - Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        assert Money(100) < Money(200, "USD")
    assert Money(100) != Money(100, "USD")


def test_comparisons() -> None:
    assert Money(99) < Money(100)
    assert Money(100) <= Money(100)
    assert not Money(101) <= Money(100)


@pytest.mark.parametrize(
    ("fen", "numerator", "denominator", "expected"),
    [
        (10000, 15, 100, 1500),  # 15% of ¥100.00 = ¥15.00
        (1005, 50, 100, 503),  # 502.5 fen rounds half up to 503
        (1, 50, 100, 1),  # 0.5 fen rounds up to 1
        (1004, 50, 100, 502),  # exactly 502
        (-1005, 50, 100, -503),  # negative halves round away from zero (refund mirrors the charge)
        (100, 1, 3, 33),  # 33.33…
        (200, 1, 3, 67),  # 66.66… rounds up
        (999, 0, 100, 0),
    ],
)
def test_percent_rounds_half_up_to_the_fen(fen: int, numerator: int, denominator: int, expected: int) -> None:
    assert Money(fen).percent(numerator, denominator) == Money(expected)


def test_percent_needs_a_positive_denominator() -> None:
    with pytest.raises(ValueError):
        Money(100).percent(1, 0)


def test_display() -> None:
    assert Money(123456).display() == "¥1,234.56"
    assert Money(-5).display() == "-¥0.05"
    assert str(Money(100, "USD")) == "USD 1.00"


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.5", 1250),
        ("-3.07", -307),
        ("¥1,234.56", 123456),
        (".5", 50),
        ("0.01", 1),
        ("12.", 1200),
        (" 7 ", 700),
        ("+5", 500),
        ("0", 0),
        ("-0.10", -10),
    ],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == Money(fen)


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e3", "1_000", "--5", "+-5", "1.-5", "1 000", ".", "¥", "NaN"])
def test_parse_yuan_rejects_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_parse_yuan_keeps_the_currency() -> None:
    assert parse_yuan("2.50", "USD") == Money(250, "USD")
