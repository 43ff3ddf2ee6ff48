"""Money as integer minor units inside vectorized code (DESIGN §5).

Amounts cross the edges as ``Decimal``; inside frames they are ``int64`` minor
units (cents, yen) next to a ``currency`` column. Scaling by an exact factor
(overhead, holdback, FX) rounds each line once, half up, in integers: no float
ever holds money.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from planner.money import minor_units

INT64_SAFE = 2**62  # products stay below this; beyond, scaling refuses


class MinorUnitsError(ValueError):
    """An amount that does not fit its currency's minor unit, or overflows int64."""


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact minor units of ``amount``; refuses amounts finer than the currency's unit."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise MinorUnitsError(f"{amount} {currency} has more decimals than {currency} allows "
                              f"({minor_units(currency)})")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """The ``Decimal`` amount of ``minor`` units, with the currency's decimals."""
    return Decimal(int(minor)).scaleb(-minor_units(currency))


def ratio(factor: Decimal) -> tuple[int, int]:
    """``factor`` as an exact fraction numerator / denominator (denominator > 0)."""
    numerator, denominator = factor.as_integer_ratio()
    return int(numerator), int(denominator)


def scale_half_up(minor: np.ndarray, factor: Decimal) -> np.ndarray:
    """round_half_up(minor × factor) element-wise, exactly, in int64.

    Halves round away from zero (ROUND_HALF_UP as ``Decimal`` does it for
    negative amounts too).
    """
    values = np.asarray(minor, dtype=np.int64)
    numerator, denominator = ratio(factor)
    if len(values) and int(np.abs(values).max()) * abs(numerator) * 2 >= INT64_SAFE:
        raise MinorUnitsError(f"scaling by {factor} would overflow 64-bit minor units")
    product = values * numerator
    sign = np.where(product < 0, -1, 1) * (1 if denominator > 0 else -1)
    magnitude = (2 * np.abs(product) + abs(denominator)) // (2 * abs(denominator))
    return (sign * magnitude).astype(np.int64)


def percent_factor(percent: Decimal) -> Decimal:
    """A percentage as a factor: 26 → 0.26."""
    return percent / Decimal(100)
