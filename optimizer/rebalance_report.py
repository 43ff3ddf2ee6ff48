"""What a rebalancing proposes, in the domain's words: moves with their reasons,
utilization before and after, shortfalls by country and month, travel cost."""

from __future__ import annotations

import pandas as pd

from optimizer.assignment import AssignmentResult
from optimizer.rebalance_types import Movable, Rebalance, RebalanceInputs, RebalanceOptions


def _utilization(owner: dict[str, str], hours: pd.DataFrame,
                 capacity: pd.DataFrame) -> pd.DataFrame:
    held = hours.assign(staff_id=hours["job"].map(owner)).dropna(subset=["staff_id"])
    used = held.groupby(["staff_id", "month"])["hours"].sum().rename("used").reset_index()
    table = capacity.merge(used, on=["staff_id", "month"], how="left").fillna({"used": 0.0})
    table["utilization"] = table["used"] / table["capacity"]
    return table[["staff_id", "month", "utilization"]]


def _reasons(job: str, was: str, agent: str, pair: pd.DataFrame, site: pd.DataFrame,
             home: dict[str, str], overloaded: set[str],
             study_cras: set[tuple[str, str]]) -> str:
    reasons = []
    if was in overloaded:
        reasons.append("overload removed")
    saved = pair.at[(job, was), "travel"] - pair.at[(job, agent), "travel"]
    if saved > 0.5:
        reasons.append(f"travel saved {saved:,.0f} USD")
    if pair.at[(job, agent), "basis"] == "language":
        reasons.append("language fit across the border")
    elif site.at[job, "country"] != home[was]:
        reasons.append("back to a CRA in the site's country")
    if (site.at[job, "study_id"], agent) in study_cras:
        reasons.append("joins a CRA already on the study")
    return "; ".join(reasons) or "balance"


def rebalance_report(inputs: RebalanceInputs, jobs: pd.DataFrame, pairs: pd.DataFrame,
                     owner: dict[str, object], result: AssignmentResult,
                     unstaffable: pd.DataFrame, subproblems: pd.DataFrame,
                     options: RebalanceOptions, movable: Movable) -> Rebalance:
    """The proposal from the solver's assignment (``owner``: each job's CRA before)."""
    after = dict(zip(result.assignment["job"], result.assignment["agent"], strict=True))
    held_before = {j: a for j, a in owner.items() if isinstance(a, str)}
    site_hours = inputs.hours.merge(jobs[["study_id", "site_id", "job"]],
                                    on=["study_id", "site_id"])
    table = _utilization(held_before, site_hours, inputs.capacity).merge(
        _utilization(after, site_hours, inputs.capacity), on=["staff_id", "month"],
        how="outer", suffixes=("_before", "_after")).fillna(0.0)
    table = table.rename(columns={"utilization_before": "before",
                                  "utilization_after": "after"})
    overloaded = set(table.loc[table["before"] > 1 + 1e-9, "staff_id"])
    site = jobs.set_index("job")
    home = dict(zip(inputs.cras["staff_id"], inputs.cras["home_country"], strict=True))
    pair = pairs.set_index(["job", "agent"])
    study_cras = {(site.at[j, "study_id"], a) for j, a in held_before.items()}
    moves, new = [], []
    for job, agent in after.items():
        was = owner[job]
        if not isinstance(was, str):
            new.append((site.at[job, "study_id"], site.at[job, "site_id"], agent))
        elif was != agent:
            moves.append((site.at[job, "study_id"], site.at[job, "site_id"], was, agent,
                          _reasons(job, was, agent, pair, site, home, overloaded, study_cras)))
    short = result.overload.assign(country=result.overload["agent"].map(home))
    shortfalls = (short.groupby(["country", "period"])["hours"].sum().round(2).reset_index()
                  .rename(columns={"period": "month"}))
    chosen = pd.DataFrame({"job": list(after), "agent": list(after.values())})
    before = pd.DataFrame({"job": list(held_before), "agent": list(held_before.values())})
    return Rebalance(
        moves=pd.DataFrame(moves, columns=["study_id", "site_id", "from", "to", "reason"]),
        new_assignments=pd.DataFrame(new, columns=["study_id", "site_id", "to"]),
        utilization=table[["staff_id", "month", "before", "after"]], result=result,
        shortfalls=shortfalls[["country", "month", "hours"]],
        unstaffable=unstaffable[["study_id", "site_id", "country"]].reset_index(drop=True),
        subproblems=subproblems,
        travel_before=float(before.merge(pairs, on=["job", "agent"])["travel"].sum()),
        travel_after=float(chosen.merge(pairs, on=["job", "agent"])["travel"].sum()),
        options=options, movable=movable)
