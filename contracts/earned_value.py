"""Earned value of a study's sponsor budget, per service line and in total
(docs/SPONSOR_BUDGET.md, "Earned value"; DESIGN §3).

Pure: the budget in force (``contracts.budget_lines``), units delivered and
planned (``contracts.budget_units``) and actual cost (``contracts.budget_costs``)
in, one frame out. Money is int64 minor units, each figure rounded half up once
from exact values (``Fraction``):

* PV = round(units × planned share × unit price);
* EV = round(min(delivered, units) × unit price): units never above the line's;
* EAC = AC + round((BAC − EV) × AC / EV), i.e. AC + (BAC − EV) / CPI with the exact
  CPI; BAC when AC = 0, AC + BAC when EV = 0 < AC (``estimate_at_completion``);
  ETC = EAC − AC; VAC = BAC − EAC.

The total row's money figures are the sums of the lines; its CPI and SPI are
ratios of the totals. CPI = EV / AC and SPI = EV / PV are ``Decimal`` (28
digits; the JSON shows 4 decimals), None when the denominator is 0.

This module is the entry point: it re-exports the budget functions.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from contracts.budget_costs import actual_cost_months, actual_costs
from contracts.budget_forecast import monthly_burn
from contracts.budget_lines import (
    TOTAL,
    BudgetError,
    budget_in_force,
    change_order_log,
    half_up,
    priced,
    rows_by,
)
from contracts.budget_units import planned_units, units_delivered, work_visits_to_date
from contracts.minor import from_minor
from planner.frames import DATE, Col, FrameSchema

__all__ = ["EVM", "BudgetError", "actual_cost_months", "actual_costs", "budget_in_force",
           "budget_json", "change_order_log", "earned_value", "estimate_at_completion",
           "monthly_burn", "planned_units", "units_delivered", "work_visits_to_date"]

MONEY = ["bac_minor", "pv_minor", "ev_minor", "ac_minor", "eac_minor", "etc_minor",
         "vac_minor"]
EVM = FrameSchema("earned_value", (
    Col("study_id", "string", "", "protocol id"),
    Col("service_line", "string", "", "service line, or 'total'"),
    Col("driver", "string", "", "the line's driver (NA: total, or cost without a line)"),
    Col("units", "object", "Decimal units", "units in force (None: total)"),
    Col("delivered_units", "object", "Decimal units", "units delivered, capped at units"),
    Col("planned_units", "object", "Decimal units", "units × planned share, 2 decimals "
        "(display: PV uses the exact share)"),
    Col("unit_price_minor", "Int64", "minor units", "unit price in force (NA: total)"),
    *(Col(c, "int64", "minor units", c.removesuffix("_minor").upper()) for c in MONEY),
    Col("cpi", "object", "Decimal", "EV / AC (None when AC = 0)"),
    Col("spi", "object", "Decimal", "EV / PV (None when PV = 0)"),
    Col("currency", "string", "ISO 4217", "the study's currency"),
    Col("as_of", DATE, "date", "the date the figures are as of"),
))
JSON_FIELDS = ("service_line", "bac", "pv", "ev", "ac", "cpi", "spi", "eac", "etc", "vac",
               "currency")


def estimate_at_completion(bac: int, ev: int, ac: int) -> int:
    """EAC = AC + (BAC − EV) / CPI = AC + (BAC − EV) × AC / EV, rounded half up once.

    CPI = EV / AC is undefined when AC = 0 and zero when EV = 0:

    * AC = 0 (nothing booked: a line no cost source books to yet, e.g. regulatory or
      pharmacovigilance, or one not started): no cost evidence, so the line is
      estimated on budget, EAC = BAC. (AC + BAC − EV would report the earned value as
      savings; the formula itself, EAC = AC = 0, would forecast no cost at all.)
    * EV = 0 < AC (spent, nothing earned): the remaining work at budget on top of what
      was spent, EAC = AC + BAC.
    """
    if ac == 0:
        return bac
    if ev == 0:
        return ac + bac
    return ac + half_up(Fraction((bac - ev) * ac, ev))


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    return None if denominator == 0 else Decimal(int(numerator)) / Decimal(int(denominator))


def earned_value(study_id: str, budget: pd.DataFrame, delivered: pd.DataFrame,
                 planned: pd.DataFrame, actuals: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per service line and a total row (:data:`EVM`): BAC, PV, EV, AC, CPI, SPI, EAC, ETC,
    VAC as of ``as_of``.

    ``budget``: :func:`budget_in_force`; ``delivered``: :func:`units_delivered`;
    ``planned``: :func:`planned_units`; ``actuals``: :func:`actual_costs`. A cost on a
    service line the work order does not have gets a row with BAC 0 (the total keeps
    every cost).
    """
    lines = rows_by(budget, study_id, "service_line")
    if not len(lines):
        raise BudgetError(f"study {study_id} has no work order in force on {as_of}")
    currency = str(lines["currency"].iloc[0])
    got = rows_by(delivered, study_id, "driver")["delivered"]
    share = rows_by(planned, study_id, "driver")["share"]
    spent = actuals.set_index(actuals["service_line"].astype(str))["ac_minor"]
    rows = []
    for line, row in lines.iterrows():
        units, price, driver = Decimal(row["units"]), int(row["unit_price_minor"]), row["driver"]
        done = min(Decimal(got.get(driver, 0)), units)
        planned_share = Fraction(share.get(driver, 0))
        rows.append({"service_line": line, "driver": driver, "units": units,
                     "delivered_units": done,
                     "planned_units": _two_places(Fraction(units) * planned_share),
                     "unit_price_minor": price, "bac_minor": int(row["bac_minor"]),
                     "pv_minor": priced(Fraction(units) * planned_share, price),
                     "ev_minor": priced(done, price), "ac_minor": int(spent.get(line, 0))})
    for line in spent.index.difference(lines.index):
        rows.append({"service_line": line, "driver": pd.NA, "units": Decimal(0),
                     "delivered_units": Decimal(0), "planned_units": Decimal(0),
                     "unit_price_minor": 0, "bac_minor": 0, "pv_minor": 0, "ev_minor": 0,
                     "ac_minor": int(spent[line])})
    frame = pd.DataFrame(rows)
    frame["eac_minor"] = [estimate_at_completion(b, e, a) for b, e, a in zip(
        frame["bac_minor"], frame["ev_minor"], frame["ac_minor"], strict=True)]
    frame["etc_minor"] = frame["eac_minor"] - frame["ac_minor"]
    frame["vac_minor"] = frame["bac_minor"] - frame["eac_minor"]
    total = {"service_line": TOTAL, "driver": pd.NA, "units": None, "delivered_units": None,
             "planned_units": None, "unit_price_minor": pd.NA,
             **{c: int(frame[c].sum()) for c in MONEY}}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    frame["cpi"] = [_ratio(e, a) for e, a in zip(frame["ev_minor"], frame["ac_minor"],
                                                 strict=True)]
    frame["spi"] = [_ratio(e, p) for e, p in zip(frame["ev_minor"], frame["pv_minor"],
                                                 strict=True)]
    frame = frame.assign(study_id=study_id, currency=currency, as_of=pd.Timestamp(as_of))
    out = EVM.conform(frame)
    for column in MONEY:
        out[column] = out[column].to_numpy(dtype=np.int64)
    return out


def _two_places(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), ROUND_HALF_UP)


def _four_places(value: Decimal | None) -> str | None:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return str(Decimal(value).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def budget_json(evm: pd.DataFrame) -> list[dict]:
    """The ``--json`` rows: per line and the total, money as decimal strings in the
    currency's minor unit, CPI and SPI as decimal strings with 4 decimals (null when
    undefined)."""
    out = []
    for row in evm.itertuples(index=False):
        currency = str(row.currency)
        item: dict = {"service_line": str(row.service_line)}
        for name in ("bac", "pv", "ev", "ac"):
            item[name] = str(from_minor(getattr(row, f"{name}_minor"), currency))
        item["cpi"], item["spi"] = _four_places(row.cpi), _four_places(row.spi)
        for name in ("eac", "etc", "vac"):
            item[name] = str(from_minor(getattr(row, f"{name}_minor"), currency))
        item["currency"] = currency
        out.append({k: item[k] for k in JSON_FIELDS})
    return out
