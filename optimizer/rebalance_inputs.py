"""What the rebalancing needs, read off the portfolio's workload (the CLI's and demo's adapter)."""

from __future__ import annotations

from optimizer.rebalance import RebalanceInputs
from planner.frames import Portfolio
from planner.recruitment.history import ForecastInputError
from planner.workload.drivers import VisitType
from planner.workload.portfolio import PortfolioWorkload, portfolio_workload


def rebalance_inputs(portfolio: Portfolio, months: int) -> RebalanceInputs:
    """Sites (with their current CRA), CRAs, site hours, on-site trips and CRA capacity
    per month, from the portfolio's workload over ``months`` months from its data cut."""
    as_of = portfolio.as_of
    if as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    return inputs_from_workload(portfolio, portfolio_workload(portfolio, as_of, months))


def inputs_from_workload(portfolio: Portfolio, work: PortfolioWorkload) -> RebalanceInputs:
    """The same, from a workload already computed (the demo shows it before rebalancing)."""
    sites = portfolio.sites[["study_id", "site_id", "country", "cra_id"]].rename(
        columns={"cra_id": "cra"}).astype(object)
    sites = sites.astype({"study_id": str, "site_id": str, "country": str})
    sites["cra"] = sites["cra"].where(sites["cra"].notna(), None)
    staff = portfolio.staff[portfolio.staff["role"] == "CRA"]
    cras = staff[["staff_id", "home_country"]].astype(str).assign(
        languages=[list(v) for v in staff["languages"]])
    monitoring = work.visits[work.visits["role"] == "CRA"]
    hours = monitoring.groupby(["study_id", "site_id", "month"])["hours"].sum().reset_index()
    hours["month"] = hours["month"].astype(str)
    on_site = monitoring[monitoring["visit_type"] != VisitType.REMOTE_IMV.value]
    trips = on_site.groupby(["study_id", "site_id"])["visits"].sum().rename("trips")
    capacity = work.utilization[work.utilization["staff_id"] != "unassigned"][
        ["staff_id", "month", "capacity"]].astype({"month": str})
    return RebalanceInputs(sites, cras, hours.astype({"study_id": str, "site_id": str}),
                           trips.reset_index().astype({"study_id": str, "site_id": str}),
                           capacity)
