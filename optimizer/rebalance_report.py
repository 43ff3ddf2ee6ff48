"""What a rebalancing proposes, in the domain's words: moves with their reasons,
utilization before and after, shortfalls by country and month, travel cost."""

from __future__ import annotations

import pandas as pd

from optimizer.assignment import AssignmentResult
from optimizer.lookup import lookup
from optimizer.rebalance_types import Movable, Rebalance, RebalanceInputs, RebalanceOptions


def _utilization(owner: dict[str, str], hours: pd.DataFrame,
                 capacity: pd.DataFrame) -> pd.DataFrame:
    held = hours.assign(staff_id=hours["job"].map(owner)).dropna(subset=["staff_id"])
    used = held.groupby(["staff_id", "month"])["hours"].sum().rename("used").reset_index()
    table = capacity.merge(used, on=["staff_id", "month"], how="left").fillna({"used": 0.0})
    table["utilization"] = table["used"] / table["capacity"]
    return table[["staff_id", "month", "utilization"]]


def _reasons(was: str, agent: str, saved: float, basis: str, country: str, study: str,
             home: dict[str, str], overloaded: set[str],
             study_cras: set[tuple[str, str]]) -> str:
    """Why a site moves from CRA ``was`` to ``agent`` (``saved``: travel cost saved;
    ``basis``: why ``agent`` is eligible; the site's ``country`` and ``study``)."""
    reasons = []
    if was in overloaded:
        reasons.append("overload removed")
    if saved > 0.5:
        reasons.append(f"travel saved {saved:,.0f} USD")
    if basis == "language":
        reasons.append("language fit across the border")
    elif country != home[was]:
        reasons.append("back to a CRA in the site's country")
    if (study, agent) in study_cras:
        reasons.append("joins a CRA already on the study")
    return "; ".join(reasons) or "balance"


def rebalance_report(inputs: RebalanceInputs, jobs: pd.DataFrame, pairs: pd.DataFrame,
                     owner: dict[str, object], result: AssignmentResult,
                     unstaffable: pd.DataFrame, subproblems: pd.DataFrame,
                     options: RebalanceOptions, movable: Movable) -> Rebalance:
    """The proposal from the solver's assignment (``owner``: each job's CRA before)."""
    after = dict(zip(result.assignment["job"].tolist(), result.assignment["agent"].tolist(),
                     strict=True))
    held_before = {j: a for j, a in owner.items() if isinstance(a, str)}
    site_hours = inputs.hours.merge(jobs[["study_id", "site_id", "job"]],
                                    on=["study_id", "site_id"])
    table = _utilization(held_before, site_hours, inputs.capacity).merge(
        _utilization(after, site_hours, inputs.capacity), on=["staff_id", "month"],
        how="outer", suffixes=("_before", "_after")).fillna(0.0)
    table = table.rename(columns={"utilization_before": "before",
                                  "utilization_after": "after"})
    overloaded = set(table.loc[table["before"] > 1 + 1e-9, "staff_id"])
    home = dict(zip(inputs.cras["staff_id"], inputs.cras["home_country"], strict=True))
    names = jobs["job"].tolist()  # lists: pandas' string arrays hand out their items one
    # call at a time, and a row-by-row ``.at`` took 2.3 s of a 3.2 s report at 20,000 sites
    study = dict(zip(names, jobs["study_id"].tolist(), strict=True))
    site_id = dict(zip(names, jobs["site_id"].tolist(), strict=True))
    country = dict(zip(names, jobs["country"].tolist(), strict=True))
    study_cras = {(study[j], a) for j, a in held_before.items()}
    new = [(study[j], site_id[j], a) for j, a in after.items() if not isinstance(owner[j], str)]
    moved = [(j, owner[j], a) for j, a in after.items()
             if isinstance(owner[j], str) and owner[j] != a]
    moves = []
    if moved:  # priced together: only the moved sites' two pairs are looked up
        pair = pairs.set_index(["job", "agent"])
        left = pd.MultiIndex.from_tuples([(j, w) for j, w, _ in moved])
        to = pd.MultiIndex.from_tuples([(j, a) for j, _, a in moved])
        saved = lookup(pair["travel"], left) - lookup(pair["travel"], to)
        basis = lookup(pair["basis"], to)
        moves = [(study[j], site_id[j], w, a,
                  _reasons(w, a, float(s), b, country[j], study[j], home, overloaded,
                           study_cras))
                 for (j, w, a), s, b in zip(moved, saved, basis, strict=True)]
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
