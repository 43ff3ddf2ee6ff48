"""What activating a site costs, from per-country defaults, in the study's currency.

The site contracts are not in the store yet (issue 5), so costs come from
``optimizer/data/activation_costs.csv``: per country its currency, start-up fee,
monthly site cost, per-patient cost, CRA monitoring hours per active month and a
default CRA cost rate; the row ``*`` serves every country not listed. Once
contracts exist their start-up and one-time fees and per-visit fees replace these
defaults. Monitoring costs hours × the mean cost rate of the CRAs based in the
site's country (the store's staff), or the default rate when there are none.

Amounts in other currencies are converted with the planner's dated table
(:mod:`planner.fx`, ``planner/data/fx_rates.csv``: units of each currency per US
dollar; the latest rates on or before the plan's data cut, else the earliest),
so ``x`` in A is ``x · per_usd[B] / per_usd[A]`` in B. The table ships
illustrative reference rates: replace it with your treasury's rates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from pathlib import Path

import pandas as pd

from planner.fx import FX_FILE, FxError, FxRates, load_fx_table
from planner.recruitment.history import ForecastInputError

DATA = Path(__file__).resolve().parent / "data"
COSTS_FILE = DATA / "activation_costs.csv"
MONEY_COLUMNS = ("startup_fee", "monthly_site_cost", "per_patient_cost", "cra_cost_rate")


class FxTable(FxRates):
    """Units of each currency per US dollar on ``date``; a missing rate is refused as
    a forecast input error (the command line's exit 2)."""

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal:
        """``amount`` in ``source`` expressed in ``target`` (not rounded)."""
        try:
            return super().convert(amount, source, target)
        except FxError as exc:
            raise ForecastInputError(f"{exc}: add one to plan costs in mixed "
                                     "currencies") from exc


@cache
def _read(path: Path, keep_blank: bool) -> pd.DataFrame:
    """A shipped table as text, read once per process (callers copy before changing it)."""
    return pd.read_csv(path, dtype=str, keep_default_na=not keep_blank)


def load_fx(on: dt.date, path: Path = FX_FILE) -> FxTable:
    """The table's latest rates on or before ``on`` (else its earliest)."""
    table = load_fx_table(path)
    rates = table.rates_on(on) if table.dates and table.dates[0] <= on else table.earliest()
    return FxTable(rates.date, rates.per_usd, rates.source)


def load_cost_defaults(path: Path = COSTS_FILE) -> pd.DataFrame:
    """The per-country default costs, amounts as Decimal in each row's currency."""
    table = _read(path, True).copy()
    for column in MONEY_COLUMNS:
        table[column] = table[column].map(Decimal)
    table["cra_hours_per_month"] = table["cra_hours_per_month"].map(Decimal)
    return table


def site_costs(countries: list[str], currency: str, staff: pd.DataFrame, fx: FxTable,
               defaults: pd.DataFrame | None = None) -> pd.DataFrame:
    """country, startup_fee, monthly_cost, monitoring_cost (per active month),
    per_patient_cost (Decimal, in ``currency``) and cra_rate_source (staff or default)."""
    defaults = load_cost_defaults() if defaults is None else defaults
    by_country = defaults.set_index("country")
    cras = staff[staff["role"] == "CRA"]
    rows = []
    for country in sorted(set(countries)):
        row = by_country.loc[country if country in by_country.index else "*"]
        source = str(row["currency"])

        def local(column: str, row: pd.Series = row, source: str = source) -> Decimal:
            return fx.convert(row[column], source, currency)

        mine = cras[cras["home_country"] == country]
        if len(mine):
            rates = [fx.convert(Decimal(str(r)), str(c), currency)
                     for r, c in zip(mine["cost_rate"], mine["currency"], strict=True)]
            rate, rate_source = sum(rates, Decimal(0)) / len(rates), "staff"
        else:
            rate, rate_source = local("cra_cost_rate"), "default"
        rows.append({"country": country, "startup_fee": local("startup_fee"),
                     "monthly_cost": local("monthly_site_cost"),
                     "monitoring_cost": row["cra_hours_per_month"] * rate,
                     "per_patient_cost": local("per_patient_cost"),
                     "cra_rate_source": rate_source})
    return pd.DataFrame(rows, columns=["country", "startup_fee", "monthly_cost",
                                       "monitoring_cost", "per_patient_cost",
                                       "cra_rate_source"])
