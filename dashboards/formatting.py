"""Figures as the pages show them: money in its currency's minor units, dates, ratios.

Formatting only: every figure arrives computed (int64 minor units, Decimal ratios).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from contracts.minor import from_minor


def money(minor: object, currency: str) -> str:
    """``1234567`` EUR → ``"12,345.67 EUR"``; blank for a missing amount."""
    if minor is None or pd.isna(minor):
        return ""
    return f"{from_minor(int(minor), currency):,f} {currency}"


def money_column(frame: pd.DataFrame, column: str, currency_column: str = "currency"
                 ) -> list[str]:
    return [money(v, str(c)) for v, c in zip(frame[column], frame[currency_column],
                                             strict=True)]


def ratio(value: Decimal | None) -> str:
    """CPI/SPI with two decimals; "–" when not defined (no AC or no PV yet)."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return "–"
    return f"{Decimal(value):.2f}"


def day(value: object) -> str:
    """A date, datetime or timestamp as YYYY-MM-DD; blank when missing."""
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return pd.Timestamp(value).date().isoformat()


def major(minor: pd.Series, currency: str) -> pd.Series:
    """Minor units as major-unit floats, for chart axes only (never for sums)."""
    return pd.Series([None if pd.isna(v) else float(from_minor(int(v), currency))
                      for v in minor], index=minor.index, dtype="Float64")
