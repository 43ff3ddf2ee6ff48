"""Exact money: one constructor, half-up rounding to the currency's minor unit, no mixing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.money import CurrencyError, Money, minor_units, money, total


def test_minor_units_follow_iso_4217() -> None:
    assert (minor_units("EUR"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)
    with pytest.raises(CurrencyError):
        minor_units("EURO")


def test_rounding_is_half_up_at_the_minor_unit() -> None:
    assert money("2.345", "EUR").rounded() == Money(Decimal("2.35"), "EUR")
    assert money("-2.345", "EUR").rounded() == Money(Decimal("-2.35"), "EUR")
    assert money("1234.5", "JPY").rounded() == Money(Decimal("1235"), "JPY")
    assert money("1.0005", "KWD").rounded() == Money(Decimal("1.001"), "KWD")


def test_floats_and_mixed_currencies_are_refused() -> None:
    with pytest.raises(TypeError):
        money(0.1, "EUR")
    with pytest.raises(CurrencyError):
        money("1.00", "EUR") + money("1.00", "USD")
    with pytest.raises(ValueError):
        money("NaN", "EUR")


def test_fee_with_overhead_rounds_once() -> None:
    """DESIGN §3: what a site may invoice is fee × (1 + overhead), rounded once."""
    fee = money("333.33", "USD")
    assert fee.scaled(Decimal("1.26")).rounded().amount == Decimal("420.00")  # 419.9958


@given(st.lists(st.decimals(min_value=-10**9, max_value=10**9, places=2,
                            allow_nan=False, allow_infinity=False), max_size=50))
def test_totals_are_exact_sums_of_lines(amounts: list[Decimal]) -> None:
    lines = [money(a, "EUR") for a in amounts]
    assert total(lines, "EUR").amount == sum(amounts, Decimal(0))
