"""CRA rebalancing: move sites between CRAs to remove overload, with few moves (DESIGN §4).

A generalized assignment with continuity on eligible pairs only (home country,
a neighbouring country whose language the CRA speaks, or the current CRA:
:mod:`optimizer.eligibility`); each site to one CRA; per CRA and month, hours ≤
capacity + overload. Objective: on-site trips' travel cost from the CRA's home
+ overload (per hour) + moves away from the current CRA (per move) + each extra
CRA on a study (keeps a study's sites with few CRAs); options: at most K moves,
at most M sites per CRA, pinned sites. Overload is a penalized slack, so a plan
always exists; what the best plan keeps is the shortfall, by country and month.

The eligibility graph splits into independent components (a country or a
language cluster), each solved on its own from the current assignment repaired
greedily (:mod:`optimizer.repair`); a move budget couples them, so when the
components' own optima need more moves than allowed the coupled ones are solved
together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from optimizer.assignment import (
    AssignmentProblem,
    AssignmentResult,
    fixed_result,
    solve_assignment,
)
from optimizer.decompose import components
from optimizer.eligibility import eligible_pairs, travel_costs
from optimizer.repair import repair_start

OVERLOAD_PENALTY = 1_000.0  # per hour over capacity: removing overload comes first
MOVE_PENALTY = 250.0  # per site moved: a handover (co-monitoring visit, site relations)
STUDY_SPREAD_PENALTY = 100.0  # per CRA working on a study: a study's sites stay together


@dataclass(frozen=True)
class RebalanceInputs:
    """``sites``: study_id, site_id, country, cra (current, may be missing); ``cras``:
    staff_id, home_country, languages (list); ``hours``: study_id, site_id, month, hours;
    ``trips``: study_id, site_id, trips (on-site visits over the horizon); ``capacity``:
    staff_id, month, capacity (hours)."""

    sites: pd.DataFrame
    cras: pd.DataFrame
    hours: pd.DataFrame
    trips: pd.DataFrame
    capacity: pd.DataFrame


@dataclass(frozen=True)
class RebalanceOptions:
    max_moves: int | None = None
    max_sites_per_cra: int | None = None
    pinned: frozenset[tuple[str, str]] = frozenset()  # (study_id, site_id) kept where they are
    travel: bool = True
    move_penalty: float = MOVE_PENALTY
    overload_penalty: float = OVERLOAD_PENALTY
    study_spread_penalty: float = STUDY_SPREAD_PENALTY
    time_limit: float = 60.0
    rel_gap: float = 1e-4
    decompose: bool = True


@dataclass(frozen=True)
class Rebalance:
    moves: pd.DataFrame  # study_id, site_id, from, to, reason
    new_assignments: pd.DataFrame  # study_id, site_id, to: sites that had no CRA
    utilization: pd.DataFrame  # staff_id, month, before, after (fractions of capacity)
    result: AssignmentResult  # merged over the subproblems
    shortfalls: pd.DataFrame  # country, month, hours: capacity missing after the best plan
    unstaffable: pd.DataFrame  # study_id, site_id, country: no eligible CRA at all
    subproblems: pd.DataFrame  # component, sites, cras, status, objective, bound, seconds
    travel_before: float = 0.0
    travel_after: float = 0.0
    options: RebalanceOptions = field(default_factory=RebalanceOptions)

    def explain(self) -> list[str]:
        """What is short, where and by how much, in words (empty when nothing is)."""
        budget = self.options.max_moves
        if budget is not None and len(self.moves) >= budget and len(self.shortfalls):
            lines = [f"{r.country} {r.month}: {r.hours:,.1f} hours over its CRAs' capacity "
                     "remain" for r in self.shortfalls.itertuples()]
            lines.append(f"the budget of {budget} moves is used up: more moves may remove "
                         "some of this")
        else:
            lines = [f"{r.country} {r.month}: {r.hours:,.1f} hours more than its eligible "
                     "CRAs can take" for r in self.shortfalls.itertuples()]
        lines += [f"site {r.site_id} of {r.study_id} ({r.country}): no CRA may monitor it "
                  "(none based there or nearby with its language)"
                  for r in self.unstaffable.itertuples()]
        return lines


def _jobs(inputs: RebalanceInputs) -> pd.DataFrame:
    """Sites with a job key (one row per study and site) and its trips."""
    sites = inputs.sites.assign(job=inputs.sites["study_id"].astype(str) + "\x1f"
                                + inputs.sites["site_id"].astype(str))  # a key, never split
    trips = inputs.trips.set_index(["study_id", "site_id"])["trips"]
    keys = pd.MultiIndex.from_frame(sites[["study_id", "site_id"]].astype(str))
    sites["trips"] = trips.reindex(keys).fillna(0.0).to_numpy(float)
    return sites


def _problem(jobs: pd.DataFrame, pairs: pd.DataFrame, load: pd.DataFrame,
             capacity: pd.DataFrame, options: RebalanceOptions,
             max_moves: int | None) -> AssignmentProblem:
    keep = set(pairs["job"])
    agents = set(pairs["agent"])
    return AssignmentProblem(
        pairs=pairs[["agent", "job", "cost", "move"]],
        load=load[load["job"].isin(keep) & load["agent"].isin(agents)],
        capacity=capacity[capacity["agent"].isin(agents)], sense="min",
        overload_penalty=options.overload_penalty, max_moves=max_moves,
        max_jobs_per_agent=options.max_sites_per_cra,
        groups=jobs.loc[jobs["job"].isin(keep), ["job", "study_id"]].rename(
            columns={"study_id": "group"}),
        group_penalty=options.study_spread_penalty)


def _solve(problem: AssignmentProblem, current: pd.DataFrame, time_limit: float,
           rel_gap: float) -> AssignmentResult:
    if problem.pairs["job"].is_unique:  # nothing to choose: every site has one CRA
        return fixed_result(problem)
    start = repair_start(problem, current[current["job"].isin(set(problem.pairs["job"]))])
    return solve_assignment(problem, time_limit=time_limit, rel_gap=rel_gap,
                            accept_incumbent=True, start=start)


def _merge(results: list[AssignmentResult]) -> AssignmentResult:
    """One result from independent subproblems: objectives and bounds add up."""
    return AssignmentResult(
        assignment=pd.concat([r.assignment for r in results], ignore_index=True)
        .sort_values("job", kind="stable").reset_index(drop=True),
        overload=pd.concat([r.overload for r in results], ignore_index=True),
        objective=sum(r.objective for r in results), bound=sum(r.bound for r in results),
        status="optimal" if all(r.status == "optimal" for r in results) else "time_limit",
        build_seconds=sum(r.build_seconds for r in results),
        solve_seconds=sum(r.solve_seconds for r in results))


def rebalance(inputs: RebalanceInputs,
              options: RebalanceOptions = RebalanceOptions()) -> Rebalance:  # noqa: B008
    """The best site moves under ``options`` (see the module docstring)."""
    jobs = _jobs(inputs)
    pinned = {f"{s}\x1f{t}" for s, t in options.pinned}
    pairs = eligible_pairs(jobs, inputs.cras, pinned)
    owner = dict(zip(jobs["job"], jobs["cra"], strict=True))
    pairs["move"] = [isinstance(owner[j], str) and owner[j] != a
                     for j, a in zip(pairs["job"], pairs["agent"], strict=True)]
    travel = travel_costs(pairs, jobs, inputs.cras, jobs.set_index("job")["trips"])
    pairs["travel"] = travel
    pairs["cost"] = (travel if options.travel else 0.0) + pairs["move"] * options.move_penalty
    unstaffable = jobs[~jobs["job"].isin(set(pairs["job"]))]
    site_hours = inputs.hours.merge(jobs[["study_id", "site_id", "job"]],
                                    on=["study_id", "site_id"])
    load = pairs[["agent", "job"]].merge(site_hours[["job", "month", "hours"]], on="job")
    load = load.rename(columns={"month": "period", "hours": "amount"})
    capacity = inputs.capacity.rename(columns={"staff_id": "agent", "month": "period"})
    current = jobs.dropna(subset=["cra"]).rename(columns={"cra": "agent"})[["job", "agent"]]

    label = components(pairs) if options.decompose else pd.Series(0, index=pairs["job"].unique())
    pairs["component"] = pairs["job"].map(label)
    results, rows = [], []
    order = pairs.groupby("component").size().sort_values()
    remaining_time, remaining_size = options.time_limit, float(order.sum())
    for number, size in order.items():
        part = pairs[pairs["component"] == number]
        share = max(1.0, remaining_time * size / remaining_size)
        problem = _problem(jobs, part, load, capacity, options, None)
        result = _solve(problem, current, share, options.rel_gap)
        remaining_time = max(1.0, remaining_time - result.build_seconds - result.solve_seconds)
        remaining_size -= size
        results.append(result)
        rows.append((number, part["job"].nunique(), part["agent"].nunique(), result.status,
                     result.objective, result.bound,
                     result.build_seconds + result.solve_seconds))
    merged = _merge(results)
    moved = merged.assignment.merge(pairs[["job", "agent", "move"]], on=["job", "agent"])
    if options.max_moves is not None and int(moved["move"].sum()) > options.max_moves:
        problem = _problem(jobs, pairs, load, capacity, options, options.max_moves)
        merged = _solve(problem, current, options.time_limit, options.rel_gap)
        rows = [(-1, pairs["job"].nunique(), pairs["agent"].nunique(), merged.status,
                 merged.objective, merged.bound, merged.build_seconds + merged.solve_seconds)]
    subproblems = pd.DataFrame(rows, columns=["component", "sites", "cras", "status",
                                              "objective", "bound", "seconds"])
    return _report(inputs, jobs, pairs, owner, merged, unstaffable, subproblems, options)


def _report(inputs: RebalanceInputs, jobs: pd.DataFrame, pairs: pd.DataFrame,
            owner: dict[str, object], result: AssignmentResult, unstaffable: pd.DataFrame,
            subproblems: pd.DataFrame, options: RebalanceOptions) -> Rebalance:
    """Moves with their reasons, utilization before and after, shortfalls."""
    after = dict(zip(result.assignment["job"], result.assignment["agent"], strict=True))
    site_hours = inputs.hours.merge(jobs[["study_id", "site_id", "job"]],
                                    on=["study_id", "site_id"])
    before_use = _utilization({j: a for j, a in owner.items() if isinstance(a, str)},
                              site_hours, inputs.capacity)
    after_use = _utilization(after, site_hours, inputs.capacity)
    table = before_use.merge(after_use, on=["staff_id", "month"], how="outer",
                             suffixes=("_before", "_after")).fillna(0.0)
    table = table.rename(columns={"utilization_before": "before",
                                  "utilization_after": "after"})
    overloaded = set(table.loc[table["before"] > 1 + 1e-9, "staff_id"])
    pair = pairs.set_index(["job", "agent"])
    study_cras = {(jobs.set_index("job").at[j, "study_id"], a) for j, a in owner.items()
                  if isinstance(a, str)}
    key = jobs.set_index("job")
    moves, new = [], []
    for job, agent in after.items():
        study_id, site_id = key.at[job, "study_id"], key.at[job, "site_id"]
        was = owner[job]
        if not isinstance(was, str):
            new.append((study_id, site_id, agent))
            continue
        if was == agent:
            continue
        reasons = []
        if was in overloaded:
            reasons.append("overload removed")
        saved = pair.at[(job, was), "travel"] - pair.at[(job, agent), "travel"]
        if saved > 0.5:
            reasons.append(f"travel saved {saved:,.0f} USD")
        if pair.at[(job, agent), "basis"] == "language":
            reasons.append("language fit across the border")
        elif pair.at[(job, was), "basis"] == "current" and \
                key.at[job, "country"] != _home(inputs.cras, was):
            reasons.append("back to a CRA in the site's country")
        if (study_id, agent) in study_cras:
            reasons.append("joins a CRA already on the study")
        moves.append((study_id, site_id, was, agent, "; ".join(reasons) or "balance"))
    home = dict(zip(inputs.cras["staff_id"], inputs.cras["home_country"], strict=True))
    short = result.overload.assign(country=result.overload["agent"].map(home))
    shortfalls = (short.groupby(["country", "period"])["hours"].sum().round(2).reset_index()
                  .rename(columns={"period": "month"}))
    chosen = pd.DataFrame({"job": list(after), "agent": list(after.values())})
    travel_after = float(chosen.merge(pairs, on=["job", "agent"])["travel"].sum())
    held = pd.DataFrame([(j, a) for j, a in owner.items() if isinstance(a, str)],
                        columns=["job", "agent"])
    travel_before = float(held.merge(pairs, on=["job", "agent"])["travel"].sum())
    return Rebalance(
        moves=pd.DataFrame(moves, columns=["study_id", "site_id", "from", "to", "reason"]),
        new_assignments=pd.DataFrame(new, columns=["study_id", "site_id", "to"]),
        utilization=table[["staff_id", "month", "before", "after"]], result=result,
        shortfalls=shortfalls[["country", "month", "hours"]],
        unstaffable=unstaffable[["study_id", "site_id", "country"]].reset_index(drop=True),
        subproblems=subproblems, travel_before=travel_before, travel_after=travel_after,
        options=options)


def _home(cras: pd.DataFrame, staff_id: str) -> str:
    return str(cras.loc[cras["staff_id"] == staff_id, "home_country"].iloc[0])


def _utilization(owner: dict[str, str], hours: pd.DataFrame,
                 capacity: pd.DataFrame) -> pd.DataFrame:
    held = hours.assign(staff_id=hours["job"].map(owner)).dropna(subset=["staff_id"])
    used = held.groupby(["staff_id", "month"])["hours"].sum().rename("used").reset_index()
    table = capacity.merge(used, on=["staff_id", "month"], how="left").fillna({"used": 0.0})
    table["utilization"] = table["used"] / table["capacity"]
    return table[["staff_id", "month", "utilization"]]
