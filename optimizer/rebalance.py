"""CRA rebalancing: move sites between CRAs to remove overload, with few moves (DESIGN §4).

A generalized assignment with continuity: x[c, s] on eligible pairs (a CRA
based in the site's country, or the site's current CRA); each site to one CRA;
per CRA and month, hours ≤ capacity + overload (penalized per hour); each move
away from the current CRA costs ``move_penalty``; at most ``max_moves`` moves.
HiGHS starts from the current assignment. Overload is a penalized slack, so the
model is always feasible; what overload the best plan keeps is the shortfall,
reported by the CRAs' country and month. This first version has no travel
table, language fit or decomposition yet (see docs/WORKLOAD.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from optimizer.assignment import AssignmentProblem, AssignmentResult, solve_assignment
from planner.frames import Portfolio
from planner.recruitment.history import ForecastInputError
from planner.workload.portfolio import portfolio_workload

OVERLOAD_PENALTY = 1_000.0  # per hour over capacity: removing overload comes first
MOVE_PENALTY = 10.0  # per site moved: a move must save more than this


@dataclass(frozen=True)
class Rebalance:
    moves: pd.DataFrame  # study_id, site_id, from, to, reason
    utilization: pd.DataFrame  # staff_id, month, before, after (fractions of capacity)
    result: AssignmentResult
    shortfalls: pd.DataFrame  # country, month, hours: capacity missing after the best plan

    def explain(self) -> list[str]:
        """What is short, where and by how much, in words (empty when nothing is)."""
        return [f"{r.country} {r.month}: {r.hours:,.1f} hours more than its eligible CRAs "
                "can take" for r in self.shortfalls.itertuples()]


def rebalance(sites: pd.DataFrame, cras: pd.DataFrame, hours: pd.DataFrame,
              capacity: pd.DataFrame, max_moves: int | None = None,
              time_limit: float = 60.0, overload_penalty: float = OVERLOAD_PENALTY,
              move_penalty: float = MOVE_PENALTY) -> Rebalance:
    """``sites``: study_id, site_id, country, cra (current); ``cras``: staff_id,
    home_country; ``hours``: study_id, site_id, month, hours; ``capacity``: staff_id,
    month, capacity."""
    job = sites["study_id"].astype(str) + "/" + sites["site_id"].astype(str)
    jobs = sites.assign(job=job)
    pairs = jobs.merge(cras.rename(columns={"staff_id": "agent"}), left_on="country",
                       right_on="home_country")[["job", "agent"]]
    current = jobs.dropna(subset=["cra"]).rename(columns={"cra": "agent"})[["job", "agent"]]
    pairs = pd.concat([pairs, current]).drop_duplicates(ignore_index=True)
    owner = dict(zip(current["job"], current["agent"], strict=True))
    pairs["move"] = [owner.get(j) is not None and owner.get(j) != a
                     for j, a in zip(pairs["job"], pairs["agent"], strict=True)]
    pairs["cost"] = pairs["move"] * move_penalty
    site_hours = hours.assign(job=hours["study_id"].astype(str) + "/"
                              + hours["site_id"].astype(str))
    load = pairs[["agent", "job"]].merge(site_hours[["job", "month", "hours"]], on="job")
    load = load.rename(columns={"month": "period", "hours": "amount"})
    problem = AssignmentProblem(
        pairs, load, capacity.rename(columns={"staff_id": "agent", "month": "period"}),
        "min", overload_penalty, max_moves)
    result = solve_assignment(problem, time_limit=time_limit, accept_incumbent=True,
                              start=current if len(current) == len(jobs) else None)
    after = dict(zip(result.assignment["job"], result.assignment["agent"], strict=True))
    before_use = _utilization(owner, site_hours, capacity)
    after_use = _utilization(after, site_hours, capacity)
    table = before_use.merge(after_use, on=["staff_id", "month"], how="outer",
                             suffixes=("_before", "_after")).fillna(0.0)
    table = table.rename(columns={"utilization_before": "before",
                                  "utilization_after": "after"})
    overloaded = set(table.loc[table["before"] > 1, "staff_id"])
    moves = [(j.split("/", 1)[0], j.split("/", 1)[1], owner.get(j), a,
              "overload removed" if owner.get(j) in overloaded else "balance")
             for j, a in after.items() if owner.get(j) is not None and owner.get(j) != a]
    home = dict(zip(cras["staff_id"], cras["home_country"], strict=True))
    short = result.overload.assign(country=result.overload["agent"].map(home))
    shortfalls = (short.groupby(["country", "period"])["hours"].sum().round(2).reset_index()
                  .rename(columns={"period": "month"}))
    return Rebalance(pd.DataFrame(moves, columns=["study_id", "site_id", "from", "to",
                                                  "reason"]),
                     table[["staff_id", "month", "before", "after"]], result,
                     shortfalls[["country", "month", "hours"]])


def rebalance_inputs(portfolio: Portfolio, months: int) -> tuple[pd.DataFrame, ...]:
    """Sites (with their current CRA), CRAs, site hours and CRA capacity per month, from
    the portfolio's workload over ``months`` months from its data cut."""
    as_of = portfolio.as_of
    if as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    work = portfolio_workload(portfolio, as_of, months)
    sites = portfolio.sites[["study_id", "site_id", "country", "cra_id"]].rename(
        columns={"cra_id": "cra"}).astype(object)
    cras = portfolio.staff.loc[portfolio.staff["role"] == "CRA", ["staff_id", "home_country"]]
    hours = work.visits.groupby(["study_id", "site_id", "month"])["hours"].sum().reset_index()
    hours["month"] = hours["month"].astype(str)
    capacity = work.utilization[work.utilization["staff_id"] != "unassigned"][
        ["staff_id", "month", "capacity"]].astype({"month": str})
    return sites.astype({"study_id": str, "site_id": str, "country": str}), \
        cras.astype(str), hours, capacity


def _utilization(owner: dict[str, str], hours: pd.DataFrame,
                 capacity: pd.DataFrame) -> pd.DataFrame:
    held = hours.assign(staff_id=hours["job"].map(owner)).dropna(subset=["staff_id"])
    used = held.groupby(["staff_id", "month"])["hours"].sum().rename("used").reset_index()
    table = capacity.merge(used, on=["staff_id", "month"], how="left").fillna({"used": 0.0})
    table["utilization"] = table["used"] / table["capacity"]
    return table[["staff_id", "month", "utilization"]]
