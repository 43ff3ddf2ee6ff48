"""CRA capacity and utilization per month (DESIGN §3).

Capacity = capacity hours a month (a full-time month) × FTE × utilization target −
the month's recorded leave hours (holidays, leave, training; never below 0). The
target is the portfolio's, per person: a CRA works for many studies, so a study's
own ``utilization_target`` override does not change it. Utilization = the
monitoring hours of the sites a CRA holds now (open assignment) ÷ capacity;
1.0 = full.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.domain import Role
from planner.frames import Portfolio

UTILIZATION_COLUMNS = ["staff_id", "month", "hours", "capacity", "utilization"]


def base_capacity(staff: pd.DataFrame, utilization_target: float) -> pd.Series:
    """Plannable hours a month without leave, per staff row: full-time hours × FTE ×
    utilization target."""
    return (staff["capacity_hours_month"] * staff["fte"] * utilization_target).astype(float)


def staff_capacity(portfolio: Portfolio, months: pd.PeriodIndex, utilization_target: float,
                   role: Role | None = None) -> pd.DataFrame:
    """(staff_id, month, capacity) for every staff member (of ``role``), leave subtracted,
    never below 0."""
    staff = portfolio.staff if role is None else portfolio.staff[
        portfolio.staff["role"] == role.value]
    grid = pd.MultiIndex.from_product([staff["staff_id"].astype(str), months],
                                      names=["staff_id", "month"])
    capacity = pd.Series(base_capacity(staff, utilization_target).to_numpy(),
                         index=staff["staff_id"].astype(str))
    base = capacity.reindex(grid.get_level_values(0)).to_numpy()
    leave = leave_hours(portfolio).reindex(grid, fill_value=0.0).to_numpy()
    return pd.DataFrame({"capacity": np.maximum(base - leave, 0.0)}, index=grid).reset_index()


def cra_capacity(portfolio: Portfolio, months: pd.PeriodIndex,
                 utilization_target: float) -> pd.DataFrame:
    """(staff_id, month, capacity) for every CRA, leave subtracted."""
    return staff_capacity(portfolio, months, utilization_target, Role.CRA)


def leave_hours(portfolio: Portfolio) -> pd.Series:
    """Recorded leave hours by (staff_id, month period)."""
    leave = portfolio.leave
    keys = pd.MultiIndex.from_arrays(
        [leave["staff_id"].astype(str), leave["month"].dt.to_period("M")],
        names=["staff_id", "month"])
    return pd.Series(leave["hours"].to_numpy(float), index=keys).groupby(level=[0, 1]).sum()


def cra_utilization(portfolio: Portfolio, workload: pd.DataFrame, months: pd.PeriodIndex,
                    utilization_target: float) -> pd.DataFrame:
    """Hours, capacity and utilization per CRA and month, from the current assignments;
    sites without a CRA are summed under staff_id "unassigned" (no capacity)."""
    owner = portfolio.sites.assign(staff_id=portfolio.sites["cra_id"].fillna("unassigned"))
    hours = (workload[workload["role"] == "CRA"]
             .merge(owner[["study_id", "site_id", "staff_id"]].astype({"staff_id": str}),
                    on=["study_id", "site_id"], how="left")
             .groupby(["staff_id", "month"])["hours"].sum())
    capacity = cra_capacity(portfolio, months, utilization_target)
    table = capacity.merge(hours.rename("hours").reset_index(), on=["staff_id", "month"],
                           how="outer")
    table["hours"] = table["hours"].fillna(0.0)
    table["capacity"] = table["capacity"].fillna(0.0)
    table["utilization"] = (table["hours"] / table["capacity"].where(table["capacity"] > 0)
                            ).astype(float)
    return table[UTILIZATION_COLUMNS].sort_values(["staff_id", "month"]).reset_index(drop=True)
