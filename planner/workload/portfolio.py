"""The portfolio's workload for the next months, as every view shows it (CLI, demo)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from planner.frames import Portfolio
from planner.workload.capacity import cra_utilization
from planner.workload.drivers import DEFAULT_DRIVERS
from planner.workload.monitoring import horizon, monitoring_workload
from planner.workload.overrides import study_fte
from planner.workload.rates import portfolio_site_rates


@dataclass(frozen=True)
class PortfolioWorkload:
    as_of: dt.date
    months: pd.PeriodIndex
    visits: pd.DataFrame  # study, site, role, month, visit type, visits, hours
    utilization: pd.DataFrame  # staff_id, month, hours, capacity, utilization
    study_fte: pd.DataFrame  # study_id, month, hours, fte: CRA FTEs each study needs

    def overloaded(self) -> pd.DataFrame:
        return self.utilization[self.utilization["utilization"] > 1]


def portfolio_workload(portfolio: Portfolio, as_of: dt.date, months: int = 12
                       ) -> PortfolioWorkload:
    """Monitoring visits and CRA utilization from ``as_of``'s month for ``months`` months,
    new subjects at each open site's posterior rate; stored driver overrides and leave
    are applied (site drivers, CRA capacity)."""
    window = horizon(as_of, months)
    visits = monitoring_workload(portfolio, window, as_of, portfolio_site_rates(portfolio, as_of))
    table = cra_utilization(portfolio, visits, window, DEFAULT_DRIVERS.utilization_target)
    return PortfolioWorkload(as_of, window, visits, table,
                             study_fte(visits, portfolio.drivers))
