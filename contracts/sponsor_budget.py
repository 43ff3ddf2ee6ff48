"""One study's sponsor budget, end to end: work order → units → costs → earned value.

Reads like the table of contents of docs/SPONSOR_BUDGET.md; the CLI, the review
workbook and the dashboards call it and only render what it returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.budget_costs import actual_cost_months, actual_costs
from contracts.budget_lines import BudgetError, budget_in_force, change_order_log
from contracts.budget_units import planned_units, units_delivered, work_visits_to_date
from contracts.earned_value import earned_value
from contracts.work_order_frames import load_timesheets, load_work_order
from planner.forecast_runs import known_study_ids
from planner.frames import Portfolio, load_portfolio
from planner.fx import FxError, load_fx_table
from planner.payment_tables import PaymentLine, PaymentRun
from planner.tables import Study


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
    payments: pd.DataFrame  # approved site payments: through, reporting_amount


def approved_payments(session: Session, study_id: str) -> pd.DataFrame:
    """Every approved payment line's reporting amount with its run's through date."""
    rows = session.execute(
        select(PaymentRun.through, PaymentLine.reporting_amount, PaymentRun.reporting_currency)
        .join(PaymentRun, PaymentLine.run_pk == PaymentRun.id)
        .join(Study, PaymentRun.study_pk == Study.id)
        .where(Study.study_id == study_id).order_by(PaymentLine.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows],
                         columns=["through", "reporting_amount", "reporting_currency"])
    frame["through"] = pd.to_datetime(frame["through"]).astype("datetime64[s]")
    frame["reporting_amount"] = frame["reporting_amount"].map(Decimal).astype(object)
    return frame


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
    timesheets = load_timesheets(session, study_id)
    payments = approved_payments(session, study_id)
    fx = load_fx_table()
    try:
        budget = budget_in_force(work_order, cut)
        changes = change_order_log(work_order, cut)
        delivered = units_delivered(portfolio, work_visits_to_date(portfolio, cut), cut)
        actuals = actual_costs(timesheets, payments, cut, currency, fx)
        cost_months = actual_cost_months(timesheets, payments, cut, currency, fx)
        planned = planned_units(portfolio, cut)
        evm = earned_value(study_id, budget, delivered, planned, actuals, cut)
    except (BudgetError, FxError) as exc:
        raise BudgetInputError(f"{study_id}: {exc}") from exc
    return SponsorBudget(study_id, cut, currency, portfolio, work_order, budget, changes,
                         planned, evm, cost_months, payments)
