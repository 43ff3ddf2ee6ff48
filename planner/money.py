"""Exact money: Decimal amounts tied to an ISO 4217 currency.

Every amount in trialplan is built by :func:`money` so that currency codes are
validated and rounding happens in one place (ROUND_HALF_UP to the currency's
minor unit, DESIGN §5). Two currencies are never added.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

import pycountry

# ISO 4217 minor units that differ from the usual two decimals.
_MINOR_UNITS_EXCEPTIONS: dict[str, int] = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3,
    "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0,
    "TND": 3, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}


class CurrencyError(ValueError):
    """An unknown currency code, or an operation mixing two currencies."""


@cache
def is_currency(code: str) -> bool:
    """True when ``code`` is an active ISO 4217 alphabetic code (upper case)."""
    return isinstance(code, str) and code.isupper() and pycountry.currencies.get(
        alpha_3=code) is not None


@cache
def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD)."""
    if not is_currency(currency):
        raise CurrencyError(f"unknown ISO 4217 currency code {currency!r}")
    return _MINOR_UNITS_EXCEPTIONS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency, e.g. Decimal('0.01')."""
    return Decimal(1).scaleb(-minor_units(currency))


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def scaled(self, factor: Decimal) -> Money:
        """The amount times an exact factor, not rounded (round once, at the line)."""
        return Money(self.amount * factor, self.currency)

    def rounded(self) -> Money:
        """Rounded half-up to the currency's minor unit."""
        return Money(self.amount.quantize(quantum(self.currency), ROUND_HALF_UP), self.currency)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise CurrencyError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def money(amount: str | int | Decimal, currency: str) -> Money:
    """Build a :class:`Money` from a decimal string, an int or a Decimal.

    Floats are refused: they cannot represent cents exactly.
    """
    if isinstance(amount, float):
        raise TypeError("money amounts must not be floats; pass a decimal string")
    if not is_currency(currency):
        raise CurrencyError(f"unknown ISO 4217 currency code {currency!r}")
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    return Money(value, currency)


def total(amounts: list[Money], currency: str) -> Money:
    """Sum of amounts in one currency (zero when empty)."""
    result = money(0, currency)
    for item in amounts:
        result = result + item
    return result
