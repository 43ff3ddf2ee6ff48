"""One study's sponsor budget, end to end: work order → units → costs → earned value.

Reads like the table of contents of docs/SPONSOR_BUDGET.md; the CLI, the review
workbook and the dashboards call it and only render what it returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_costs import actual_cost_months, costs_by_line
from contracts.budget_lines import BudgetError, budget_in_force, change_order_log
from contracts.budget_units import planned_units, units_delivered, work_visits_to_date
from contracts.earned_value import earned_value
from contracts.minor import from_minor
from contracts.payment_runs import approved_lines
from contracts.work_order_frames import load_timesheets, load_work_order
from planner.forecast_runs import known_study_ids
from planner.frames import DATE, Col, FrameSchema, Portfolio, load_portfolio
from planner.fx import FxError, load_fx_table

PAYMENTS = FrameSchema("approved_payments", (
    Col("site_id", "string", "", "the site paid"),
    Col("through", DATE, "date", "the through date of the line's payment run"),
    Col("currency", "string", "ISO 4217", "the site contract's currency"),
    Col("amount_minor", "int64", "minor units", "amount paid, in the site's currency"),
    Col("reporting_amount", "object", "Decimal", "the amount in the reporting currency"),
    Col("reporting_currency", "string", "ISO 4217", "the run's reporting currency"),
    Col("reporting_minor", "int64", "minor units", "reporting_amount in minor units"),
))


class BudgetInputError(ValueError):
    """A budget the data cannot give: unknown study, no work order, a rate missing."""


@dataclass(frozen=True)
class SponsorBudget:
    """A study's contracted budget, actuals and earned value as of a date."""

    study_id: str
    as_of: dt.date
    currency: str
    portfolio: Portfolio
    work_order: pd.DataFrame  # load_work_order
    budget: pd.DataFrame  # budget_in_force
    change_orders: pd.DataFrame  # change_order_log
    planned: pd.DataFrame  # planned_units: each driver's share planned by as_of
    evm: pd.DataFrame  # earned_value: per service line and the total row
    cost_months: pd.DataFrame  # actual_cost_months
    payments: pd.DataFrame  # approved_payments: every approved payment line
    work_visits: pd.DataFrame  # work_visits_to_date: the monitoring visits EV counts


def approved_payments(session: Session, study_id: str) -> pd.DataFrame:
    """Every line of the study's approved payment runs, with its run's through date
    (:data:`PAYMENTS`, in the order the lines were approved; from
    :func:`contracts.payment_runs.approved_lines`): the one reader of what was paid, for
    the pass-through AC and the site payments sheet alike (both count a line once its
    run's through date is ≤ the as-of date)."""
    lines = approved_lines(session, study_id, through=True)
    reporting_amount = pd.Series(
        [from_minor(m, c) for m, c in zip(lines["reporting_minor"],
                                          lines["reporting_currency"], strict=True)],
        index=lines.index, dtype=object)
    return PAYMENTS.conform(lines.assign(reporting_amount=reporting_amount))


def _work_order_currency(work_order: pd.DataFrame, study_id: str, currency: str) -> None:
    """Refuse a work order stored in another currency than the study's (the study was
    imported again with another reporting currency): its prices would be read as the
    study's currency."""
    other = sorted(set(work_order["currency"].astype(str)) - {currency})
    if other:
        raise BudgetInputError(
            f"{study_id}: the work order is in {', '.join(other)}, but the study's reporting "
            f"currency is {currency} (the study was imported again with another currency): "
            f"re-import the work order in {currency} (trialplan import workorders FILE)")


def sponsor_budget(session: Session, study_id: str,
                   as_of: dt.date | None = None) -> SponsorBudget:
    """The budget of ``study_id`` as of ``as_of`` (default: the study's data cut)."""
    portfolio = load_portfolio(session, study_id)
    if portfolio.studies.empty:
        known = ", ".join(known_study_ids(session)) or "none"
        raise BudgetInputError(f"study {study_id!r} is not in the store (studies: {known})")
    work_order = load_work_order(session, study_id)
    if work_order.empty:
        raise BudgetInputError(f"{study_id} has no work order: import its service lines "
                               "first (trialplan import workorders FILE)")
    cut = as_of or portfolio.latest_event(study_id) or dt.date.today()
    currency = str(portfolio.studies["currency"].iloc[0])
    _work_order_currency(work_order, study_id, currency)
    timesheets = load_timesheets(session, study_id)
    payments = approved_payments(session, study_id)
    fx = load_fx_table()
    try:
        budget = budget_in_force(work_order, cut)
        changes = change_order_log(work_order, cut)
        work_visits = work_visits_to_date(portfolio, cut)
        delivered = units_delivered(portfolio, work_visits, cut)
        cost_months = actual_cost_months(timesheets, payments, cut, currency, fx)
        actuals = costs_by_line(cost_months, currency)
        planned = planned_units(portfolio, cut)
        evm = earned_value(study_id, budget, delivered, planned, actuals, cut)
    except (BudgetError, FxError) as exc:
        raise BudgetInputError(f"{study_id}: {exc}") from exc
    return SponsorBudget(study_id, cut, currency, portfolio, work_order, budget, changes,
                         planned, evm, cost_months, payments, work_visits)
