"""Dated exchange rates: one table for planning costs and for paying sites.

``planner/data/fx_rates.csv`` lists, per date, the units of each currency per
US dollar (``date,currency,per_usd``). A rate on a date is the latest one dated
on or before it, per currency: a date may list only the currencies that moved.
Cross rates go through USD, ``per_usd[to] / per_usd[from]``, computed with
``Decimal`` at 40 significant digits and rounded once, half up, to
:data:`FX_DECIMALS` decimal places (the scale a payment line stores its rate
at); that Decimal is then the exact factor every amount is multiplied by, so a
stored or exported rate redoes each conversion to the minor unit. The shipped rates are illustrative
reference rates: replace the file with your treasury's.

It lives in the planner, the lowest layer, so that contracts (payment runs) and
the optimizer (activation and staffing costs) read the same table.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import cache
from pathlib import Path

from planner.money import is_currency

FX_FILE = Path(__file__).resolve().parent / "data" / "fx_rates.csv"
FX_DECIMALS = 10  # a cross rate's decimal places (payment_line.fx_rate's scale)
_WORKING_DIGITS = 40  # the quotient before its one rounding
BASE = "USD"
HEADER = ("date", "currency", "per_usd")


class FxError(ValueError):
    """No usable rate: a currency missing from the table, or no rate dated early enough."""


def cross_rate(per_usd_from: Decimal, per_usd_to: Decimal) -> Decimal:
    """Units of ``to`` per unit of ``from``, rounded once, half up, to :data:`FX_DECIMALS`
    decimal places; refuses a rate that would round to zero."""
    with localcontext() as context:
        context.prec = _WORKING_DIGITS
        quotient = per_usd_to / per_usd_from
        rounded = quotient.quantize(Decimal(1).scaleb(-FX_DECIMALS), ROUND_HALF_UP)
    if rounded == 0:
        raise FxError(f"the cross rate {quotient:.3E} is below {FX_DECIMALS} decimal places")
    return rounded


@dataclass(frozen=True)
class FxRates:
    """The rates in force on one date: units of each currency per US dollar.

    ``date`` is the newest rate date used (currencies may have older rows).
    """

    date: dt.date
    per_usd: Mapping[str, Decimal]
    source: str = FX_FILE.name

    def _per_usd(self, currency: str) -> Decimal:
        if currency == BASE and BASE not in self.per_usd:
            return Decimal(1)
        if currency not in self.per_usd:
            raise FxError(f"no exchange rate for {currency} in {self.source} "
                          f"(rates of {self.date})")
        return self.per_usd[currency]

    def rate(self, from_currency: str, to_currency: str) -> Decimal:
        """Units of ``to_currency`` per one unit of ``from_currency`` (1 for the same)."""
        if from_currency == to_currency:
            return Decimal(1)
        return cross_rate(self._per_usd(from_currency), self._per_usd(to_currency))

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal:
        """``amount`` in ``source`` expressed in ``target``, not rounded (planning figures:
        ``amount · per_usd[target] / per_usd[source]`` at Decimal's default precision)."""
        if source == target:
            return amount
        per_source, per_target = self._per_usd(source), self._per_usd(target)
        return amount * per_target / per_source


@dataclass(frozen=True)
class FxTable:
    """Every dated rate: per currency, its (date, per_usd) rows in date order."""

    series: Mapping[str, tuple[tuple[dt.date, Decimal], ...]]
    source: str = FX_FILE.name

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[dt.date, str, Decimal]],
                  source: str = "rates") -> FxTable:
        """A table from (date, currency, per_usd) rows; refuses duplicates and bad rates."""
        by_currency: dict[str, dict[dt.date, Decimal]] = {}
        for date, currency, per_usd in rows:
            if not is_currency(currency):
                raise FxError(f"{source}: {currency!r} is not an ISO 4217 currency code")
            if not per_usd.is_finite() or per_usd <= 0:
                raise FxError(f"{source}: rate {per_usd} for {currency} on {date} must be "
                              "a positive number")
            if currency == BASE and per_usd != 1:
                raise FxError(f"{source}: {BASE} per {BASE} must be 1 (on {date}: {per_usd})")
            dated = by_currency.setdefault(currency, {})
            if date in dated:
                raise FxError(f"{source}: two rates for {currency} on {date}")
            dated[date] = per_usd
        series = {c: tuple(sorted(d.items())) for c, d in sorted(by_currency.items())}
        return cls(series, source)

    @property
    def dates(self) -> list[dt.date]:
        return sorted({d for rows in self.series.values() for d, _ in rows})

    def currencies(self) -> list[str]:
        return sorted({*self.series, BASE})

    def per_usd(self, currency: str, on: dt.date) -> tuple[dt.date, Decimal]:
        """(date, units per USD) of ``currency``'s latest rate dated on or before ``on``."""
        if currency == BASE and BASE not in self.series:
            return on, Decimal(1)
        rows = self.series.get(currency)
        if not rows:
            raise FxError(f"no exchange rate for {currency} in {self.source} (currencies: "
                          f"{', '.join(self.currencies())})")
        at = bisect.bisect_right([d for d, _ in rows], on)
        if at == 0:
            raise FxError(f"no exchange rate for {currency} dated on or before {on} in "
                          f"{self.source} (its first is of {rows[0][0]})")
        return rows[at - 1]

    def rate(self, from_currency: str, to_currency: str, on: dt.date) -> Decimal:
        """Units of ``to_currency`` per unit of ``from_currency`` on ``on``, through USD."""
        if from_currency == to_currency:
            return Decimal(1)
        _, per_from = self.per_usd(from_currency, on)
        _, per_to = self.per_usd(to_currency, on)
        return cross_rate(per_from, per_to)

    def rates_on(self, on: dt.date) -> FxRates:
        """Each currency's latest rate dated on or before ``on`` (those with one)."""
        found = {}
        for currency, rows in self.series.items():
            at = bisect.bisect_right([d for d, _ in rows], on)
            if at:
                found[currency] = rows[at - 1]
        if not found:
            raise FxError(f"no exchange rate dated on or before {on} in {self.source} "
                          f"(the first is of {self.dates[0] if self.dates else 'none'})")
        return FxRates(max(d for d, _ in found.values()),
                       {c: rate for c, (_, rate) in found.items()}, self.source)

    def earliest(self) -> FxRates:
        """The rates of the table's first date (for plans dated before any rate)."""
        if not self.series:
            raise FxError(f"{self.source} holds no rate")
        return self.rates_on(self.dates[0])


def _parse(path: Path) -> list[tuple[dt.date, str, Decimal]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(c.strip() for c in next(reader, ()))
        if header[:3] != HEADER:
            raise FxError(f"{path.name}: expected the columns {', '.join(HEADER)}, "
                          f"found {', '.join(header) or 'nothing'}")
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            date, currency, per_usd = (c.strip() for c in cells[:3])
            try:
                rows.append((dt.date.fromisoformat(date), currency, Decimal(per_usd)))
            except (ValueError, InvalidOperation) as exc:
                raise FxError(f"{path.name} row {number}: expected an ISO date and a "
                              f"decimal rate, found {date!r}, {per_usd!r}") from exc
        return rows


@cache
def load_fx_table(path: Path = FX_FILE) -> FxTable:
    """The dated table in ``path`` (read once per process; the result is immutable)."""
    return FxTable.from_rows(_parse(path), path.name)


def rate(from_currency: str, to_currency: str, on: dt.date,
         table: FxTable | None = None) -> Decimal:
    """Units of ``to_currency`` per unit of ``from_currency`` at the latest rates dated on
    or before ``on`` (the shipped table unless ``table`` is given)."""
    return (table or load_fx_table()).rate(from_currency, to_currency, on)
