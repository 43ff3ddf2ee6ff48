"""The staffing problem of a stored portfolio, with documented defaults (docs/STAFFING.md).

* demand: ``staffing_demand`` (CRA monitoring hours + the other roles' hours) for the
  next months from the data cut;
* named staff: capacity = capacity hours a month × FTE × utilization target (the
  workload's rule), rate = cost rate converted to the planning currency (USD) with the
  dated FX table ``planner/data/fx_rates.csv`` (the rates in force at the data cut,
  as the activation plan does); the original rate and currency are kept;
* capacity by person and month: that capacity less the month's recorded leave hours
  (``leave_hours``, the CRA capacity's source; every role), never below 0;
* coverage: a PM or a CRA may do CTA work (``DEFAULT_COVERAGE``, data);
* hires by role: the median named rate of the role (else ``FALLBACK_RATE_USD``), paid
  for the role's median capacity hours a month (else 165), plannable at the utilization
  target, from ``LEAD_MONTHS`` on, no cap on FTE;
* contractors: ``CONTRACTOR_PREMIUM`` × the hire rate, no cap on hours;
* at most ``MAX_STUDIES`` studies a person a month; no churn limit or penalty unless
  asked (either makes the demo's MILP several times slower for the same cost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.activation_costs import load_fx
from optimizer.staffing import StaffCost, StaffingProblem
from planner.countries import DEFAULT_HOURS_MONTH
from planner.domain import Role
from planner.frames import Portfolio
from planner.fx import FxRates
from planner.recruitment.history import ForecastInputError
from planner.workload.capacity import base_capacity, staff_capacity
from planner.workload.drivers import DEFAULT_DRIVERS
from planner.workload.monitoring import horizon
from planner.workload.roles import staffing_demand

PLANNING_CURRENCY = "USD"
CONTRACTOR_PREMIUM = 1.5  # agency margin over an employee's cost
LEAD_MONTHS = {Role.CRA: 3, Role.PM: 4, Role.CTA: 2, Role.DATA_MANAGER: 3,
               Role.BIOSTATISTICIAN: 4, Role.MEDICAL_WRITER: 4}  # recruit + notice period
FALLBACK_RATE_USD = {Role.CRA: 95.0, Role.PM: 140.0, Role.CTA: 55.0, Role.DATA_MANAGER: 85.0,
                     Role.BIOSTATISTICIAN: 130.0, Role.MEDICAL_WRITER: 110.0}
DEFAULT_COVERAGE = pd.DataFrame({"role": [Role.PM.value, Role.CRA.value],
                                 "covers": [Role.CTA.value, Role.CTA.value]})
MAX_STUDIES = 3
CHURN_PENALTY = 0.0  # per hour of change; > 0 makes the demo ~15x slower (docs)


def named_staff(portfolio: Portfolio, fx: FxRates,
                utilization_target: float = DEFAULT_DRIVERS.utilization_target
                ) -> pd.DataFrame:
    """staff_id, role, capacity, rate (planning currency), cost_rate, currency."""
    staff = portfolio.staff
    rates = [float(fx.convert(rate, currency, PLANNING_CURRENCY)) if rate is not None
             else np.nan for rate, currency in zip(staff["cost_rate"], staff["currency"],
                                                   strict=True)]
    return pd.DataFrame({
        "staff_id": staff["staff_id"].astype(str), "role": staff["role"].astype(str),
        "capacity": base_capacity(staff, utilization_target),
        "rate": rates, "cost_rate": staff["cost_rate"], "currency": staff["currency"],
    }).dropna(subset=["rate"]).reset_index(drop=True)


def leave_capacity(portfolio: Portfolio, staff: pd.DataFrame, window: pd.PeriodIndex,
                   utilization_target: float = DEFAULT_DRIVERS.utilization_target
                   ) -> pd.DataFrame:
    """staff_id, month (YYYY-MM), capacity for each named person and month of ``window``
    that recorded leave lowers (the workload's capacity rule); other months keep
    ``capacity``."""
    table = staff_capacity(portfolio, window, utilization_target)
    base = staff.set_index("staff_id")["capacity"]
    table = table[table["staff_id"].isin(base.index)]
    lowered = table[table["capacity"] < base.reindex(table["staff_id"]).to_numpy() - 1e-9]
    return pd.DataFrame({"staff_id": lowered["staff_id"].astype(str),
                         "month": lowered["month"].astype(str),
                         "capacity": lowered["capacity"].astype(float)}).reset_index(drop=True)


def default_options(staff: pd.DataFrame, paid_hours: pd.Series,
                    utilization_target: float = DEFAULT_DRIVERS.utilization_target
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hire and contractor options per role, from the named staff's rates and hours."""
    hires, contractors = [], []
    for role in Role:
        rates = staff.loc[staff["role"] == role.value, "rate"]
        hours = paid_hours[staff["role"] == role.value]
        rate = float(rates.median()) if len(rates) else FALLBACK_RATE_USD[role]
        month = float(hours.median()) if len(hours) else DEFAULT_HOURS_MONTH
        hires.append({"role": role.value, "rate": rate, "hours": month,
                      "capacity": month * utilization_target,
                      "lead_months": LEAD_MONTHS[role], "max_fte": np.nan})
        contractors.append({"role": role.value, "rate": rate * CONTRACTOR_PREMIUM,
                            "max_hours": np.nan})
    return pd.DataFrame(hires), pd.DataFrame(contractors)


def staffing_inputs(portfolio: Portfolio, months: int, fx: FxRates | None = None,
                    max_studies: int | None = MAX_STUDIES, staff_cost: StaffCost = "used",
                    churn_penalty: float = CHURN_PENALTY, max_churn: float | None = None
                    ) -> StaffingProblem:
    """The portfolio's staffing problem over ``months`` months from its data cut; rates
    converted with ``fx`` (default: the shipped table's rates in force at the cut)."""
    as_of = portfolio.as_of
    if as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    demand = staffing_demand(portfolio, as_of, months)
    window = horizon(as_of, months)
    demand = demand.assign(month=demand["month"].astype(str))
    staff = named_staff(portfolio, fx or load_fx(as_of))
    capacity = leave_capacity(portfolio, staff, window)
    paid = portfolio.staff.set_index("staff_id")["capacity_hours_month"].reindex(
        staff["staff_id"]).reset_index(drop=True)
    hires, contractors = default_options(staff, paid)
    return StaffingProblem(demand[["role", "study_id", "month", "hours"]], staff,
                           coverage=DEFAULT_COVERAGE, hires=hires, contractors=contractors,
                           capacity=capacity,
                           months=tuple(str(m) for m in window), max_studies=max_studies,
                           churn_penalty=churn_penalty, max_churn=max_churn,
                           staff_cost=staff_cost)
