"""Actual cost (AC) of a study by service line and month (docs/SPONSOR_BUDGET.md,
"Actuals").

Timesheets: hours × the staff member's cost rate, converted into the study
currency at the month's FX rate, rounded once per timesheet row, half up, in
integer minor units (``scale_half_up``: hours in hundredths × one exact factor per
(cost currency, month, cost rate)). The month's FX rate is the rate
``fx.rate(cost_currency, currency, on)`` gives on the month's last day (the latest
dated on or before it). A month's hours count once the month has ended by the
as-of date (as the months and monitoring-visit drivers do). A role's hours go to
its line (:data:`ROLE_LINES`).

pass_through: the reporting amounts of approved payment runs whose through date
is ≤ the as-of date, each booked in its through date's month.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol

import numpy as np
import pandas as pd

from contracts.budget_lines import BudgetError
from contracts.budget_units import last_ended_month, month_ordinals
from contracts.minor import scale_half_up, to_minor
from planner.frames import DATE, Col, FrameSchema
from planner.money import minor_units

ROLE_LINES = {"PM": "project_management", "CRA": "site_management", "CTA": "site_management",
              "DM": "data_management", "BIOSTAT": "biostatistics", "MW": "medical_writing"}
PASS_THROUGH = "pass_through"
PAYMENT_RUNS = "payment runs"  # the source of the pass-through rows

COST_MONTHS = FrameSchema("actual_cost_months", (
    Col("service_line", "string", "", "the line the cost goes to"),
    Col("month", DATE, "first day of the month", "month booked (payments: the through month)"),
    Col("source", "string", "", "timesheets or payment runs"),
    Col("hours", "float64", "hours", "timesheet hours (0 for payments)"),
    Col("ac_minor", "int64", "minor units", "actual cost, each row rounded once"),
    Col("currency", "string", "ISO 4217", "the study's currency"),
))
ACTUALS = FrameSchema("actual_costs", (
    Col("service_line", "string", "", "the line the cost goes to"),
    Col("hours", "float64", "hours", "timesheet hours"),
    Col("ac_minor", "int64", "minor units", "actual cost to the date"),
    Col("currency", "string", "ISO 4217", "the study's currency"),
))


class Rates(Protocol):
    def rate(self, from_currency: str, to_currency: str, on: dt.date) -> Decimal: ...


def _hundredths(hours: pd.Series) -> np.ndarray:
    scaled = hours.to_numpy(dtype=float) * 100
    whole = np.rint(scaled)
    if (np.abs(scaled - whole) > 1e-6).any() or (whole < 0).any():
        bad = hours[(np.abs(scaled - whole) > 1e-6) | (whole < 0)].iloc[0]
        raise BudgetError(f"timesheet hours {bad}: expected hours ≥ 0 with at most 2 decimals")
    return whole.astype(np.int64)


def _timesheet_costs(timesheets: pd.DataFrame, as_of: dt.date, currency: str,
                     fx: Rates) -> pd.DataFrame:
    if timesheets["study_id"].nunique() > 1:
        raise BudgetError("timesheets of more than one study: pass one study's")
    rows = timesheets[month_ordinals(timesheets["month"]) <= last_ended_month(as_of)].copy()
    rows["month"] = pd.to_datetime(rows["month"]).dt.to_period("M").dt.to_timestamp()
    roles = rows["role"].astype(str)
    unknown = sorted(set(roles) - set(ROLE_LINES))
    if unknown:
        raise BudgetError(f"timesheet roles {unknown} have no service line "
                          f"(known: {', '.join(ROLE_LINES)})")
    hundredths = _hundredths(rows["hours"])
    minor = np.zeros(len(rows), dtype=np.int64)
    scale = minor_units(currency) - 2  # hundredths of hours × rate in major units → minor
    keys = pd.DataFrame({"c": rows["cost_currency"].astype(str).to_numpy(),
                         "m": rows["month"].to_numpy(),
                         "r": [str(Decimal(r)) for r in rows["cost_rate"]]})
    for (cost_currency, start, cost_rate), at in keys.groupby(["c", "m", "r"]).indices.items():
        last_day = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
        factor = (Decimal(cost_rate) * fx.rate(cost_currency, currency, last_day)).scaleb(scale)
        minor[at] = scale_half_up(hundredths[at], factor)
    return pd.DataFrame({"service_line": roles.map(ROLE_LINES).to_numpy(),
                         "month": rows["month"].to_numpy(), "source": "timesheets",
                         "hours": hundredths / 100, "ac_minor": minor})


def _payment_costs(payments: pd.DataFrame, as_of: dt.date, currency: str) -> pd.DataFrame:
    if "reporting_currency" in payments:
        other = set(payments["reporting_currency"].astype(str)) - {currency}
        if other:
            raise BudgetError(f"payment runs reported in {sorted(other)}, not the study's "
                              f"{currency}")
    through = pd.to_datetime(payments["through"])
    paid = payments[through <= pd.Timestamp(as_of)]
    return pd.DataFrame({
        "service_line": PASS_THROUGH,
        "month": pd.to_datetime(paid["through"]).dt.to_period("M").dt.to_timestamp().to_numpy(),
        "source": PAYMENT_RUNS, "hours": 0.0,
        "ac_minor": np.array([to_minor(Decimal(a), currency) for a in paid["reporting_amount"]],
                             dtype=np.int64)})


def actual_cost_months(timesheets: pd.DataFrame, payments_reporting: pd.DataFrame,
                       as_of: dt.date, currency: str, fx: Rates) -> pd.DataFrame:
    """Actual cost per service line, month and source (:data:`COST_MONTHS`) to ``as_of``.

    ``timesheets``: staff_id, role, study_id, month, hours, cost_rate (Decimal),
    cost_currency; ``payments_reporting``: through (date), reporting_amount (Decimal in
    ``currency``; optional reporting_currency), one row per approved run or line.
    """
    parts = [_timesheet_costs(timesheets, as_of, currency, fx),
             _payment_costs(payments_reporting, as_of, currency)]
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else pd.DataFrame(columns=COST_MONTHS.names)
    frame = frame.groupby(["service_line", "month", "source"], as_index=False).agg(
        hours=("hours", "sum"), ac_minor=("ac_minor", "sum"))
    return COST_MONTHS.conform(frame.assign(currency=currency))


def costs_by_line(cost_months: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Actual cost per service line (:data:`ACTUALS`) from ``cost_months``
    (:func:`actual_cost_months`): the sums of its rows, each rounded once."""
    lines = cost_months.groupby("service_line", as_index=False).agg(
        hours=("hours", "sum"), ac_minor=("ac_minor", "sum"))
    return ACTUALS.conform(lines.assign(currency=currency))


def actual_costs(timesheets: pd.DataFrame, payments_reporting: pd.DataFrame,
                 as_of: dt.date, currency: str, fx: Rates) -> pd.DataFrame:
    """Actual cost to ``as_of`` per service line (:data:`ACTUALS`): the sums of
    :func:`actual_cost_months` (sums of rows rounded once each, :func:`costs_by_line`)."""
    return costs_by_line(
        actual_cost_months(timesheets, payments_reporting, as_of, currency, fx), currency)
