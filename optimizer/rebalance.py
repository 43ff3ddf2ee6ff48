"""CRA rebalancing: move sites between CRAs to remove overload, with few moves (DESIGN §4).

A generalized assignment with continuity on eligible pairs only (home country,
a neighbouring country whose language the CRA speaks, or the current CRA:
:mod:`optimizer.eligibility`); each site to one CRA; per CRA and month, hours ≤
capacity + overload. Objective: on-site trips' travel cost from the CRA's home
beyond a domestic trip's (the same for every CRA of the site's country) +
overload (per hour) + moves away from the current CRA (per move) + each extra
CRA on a study (keeps a study's sites with few CRAs); options: at most K moves,
at most M sites per CRA, pinned sites. Overload is a penalized slack, so a plan
always exists; what the best plan keeps is the shortfall, by country and month.

Sites with one choice leave the model; the rest split into independent
components of the eligibility graph (:mod:`optimizer.rebalance_solve`), each
solved from the current assignment repaired greedily (:mod:`optimizer.repair`).
At CRO scale (``movable="auto"`` above ``AUTO_ALL_LIMIT`` load terms) only the
sites with a reason to move keep choices, each towards the CRAs with most room
(:mod:`optimizer.neighbourhood`), so the proven gap is then the gap of that
neighbourhood, not of every conceivable reassignment.
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from optimizer.eligibility import eligible_pair_count, eligible_pairs, travel_costs
from optimizer.geography import TRIP_COST_DOMESTIC
from optimizer.lookup import lookup
from optimizer.neighbourhood import movable_sites, narrow
from optimizer.rebalance_report import rebalance_report
from optimizer.rebalance_solve import Rebalancing, solve_rebalancing
from optimizer.rebalance_types import (
    MOVE_PENALTY,
    OVERLOAD_PENALTY,
    STUDY_SPREAD_PENALTY,
    Rebalance,
    RebalanceInputs,
    RebalanceOptions,
    RebalanceTimings,
)
from optimizer.small_pages import small_pages

__all__ = ["MOVE_PENALTY", "OVERLOAD_PENALTY", "STUDY_SPREAD_PENALTY", "Rebalance",
           "RebalanceInputs", "RebalanceOptions", "RebalanceTimings", "rebalance"]
TAIL_SECONDS, TAIL_SECONDS_PER_SITE = 0.85, 7.5e-5  # kept back from the solve for what
# follows its last part: at 20,000 sites (30 timed runs) its stop 0.2–0.5 s past its
# deadline, the report 0.3–0.45 s, and 0.25–0.7 s as the solve returns: the collection
# Python deferred while the solve paused it (0.26 s, 830,000 objects, timed in session 20).
# With 1.85 s kept back, runs ended at 60.7 and 60.8 s (session 18) and 60.2 and 60.5 s
# (two of six, session 19), so 2.35 s now (1.1 s at 3,000 sites); one run of 40 still
# ended at 60.1 s (benchmarks/README.md)
AUTO_ALL_LIMIT = 1_500_000  # load terms (pairs × months) above which only sites with a
# reason to move may move: Pyomo builds about 100,000 terms a second


def _jobs(inputs: RebalanceInputs) -> pd.DataFrame:
    """Sites with a job key (one row per study and site) and its trips."""
    sites = inputs.sites.assign(job=inputs.sites["study_id"].astype(str) + "\x1f"
                                + inputs.sites["site_id"].astype(str))  # a key, never split
    trips = inputs.trips.set_index(["study_id", "site_id"])["trips"]
    keys = pd.MultiIndex.from_frame(sites[["study_id", "site_id"]].astype(str))
    sites["trips"] = trips.reindex(keys).fillna(0.0).to_numpy(float)
    return sites


def _scope(movable: str, jobs: pd.DataFrame, cras: pd.DataFrame, pinned: set[str],
           months: int) -> str:
    """``movable``, or for "auto" the scope the model's size asks for, when the pair
    counts settle it without making the pairs ("auto" when they do not)."""
    if movable != "auto":
        return movable
    least, most = eligible_pair_count(jobs, cras, pinned)
    if most * months <= AUTO_ALL_LIMIT:
        return "all"
    return "overloaded" if least * months > AUTO_ALL_LIMIT else "auto"


def rebalance(inputs: RebalanceInputs,
              options: RebalanceOptions = RebalanceOptions()) -> Rebalance:  # noqa: B008
    """The best site moves under ``options`` (see the module docstring). NumPy's arrays
    get ordinary pages meanwhile (:mod:`optimizer.small_pages`): 0.5–0.9 s of set-up."""
    with small_pages():
        return _rebalance(inputs, options)


def _rebalance(inputs: RebalanceInputs, options: RebalanceOptions) -> Rebalance:
    started = time.perf_counter()
    jobs = _jobs(inputs)
    pinned = {f"{s}\x1f{t}" for s, t in options.pinned}
    site_hours = inputs.hours.merge(jobs[["study_id", "site_id", "job"]],
                                    on=["study_id", "site_id"])
    capacity = inputs.capacity.rename(columns={"staff_id": "agent", "month": "period"})
    hours = site_hours[["job", "month", "hours"]].rename(
        columns={"month": "period", "hours": "amount"})
    scope = _scope(options.movable, jobs, inputs.cras, pinned, hours["period"].nunique())
    choosing = None
    if scope == "overloaded":  # only the sites that may move get all their pairs
        choosing = movable_sites(jobs, inputs.cras, hours, capacity)
    pairs = eligible_pairs(jobs, inputs.cras, pinned, choosing)
    unstaffable = jobs[~jobs["job"].isin(pairs["job"].unique())]  # (those have no CRA:
    # they may move, so all their pairs are made)
    if scope == "auto":  # the counts did not decide it
        scope = "all" if len(pairs) * hours["period"].nunique() <= AUTO_ALL_LIMIT \
            else "overloaded"
    if scope == "overloaded":  # before pricing the pairs: 181,027 of 3.96 million are kept
        pairs = narrow(pairs, jobs, inputs.cras, hours, capacity)
    owner = dict(zip(jobs["job"], jobs["cra"], strict=True))
    by_job = jobs.set_index("job")
    held = lookup(by_job["cra"], pairs["job"])
    names = pd.Index(pairs["agent"].unique())  # compared as numbers: a string column
    # against an object one went row by row (3 s for 4 million pairs)
    pairs["move"] = pd.notna(held) & (names.get_indexer(held) != names.get_indexer(
        pairs["agent"]))
    travel = travel_costs(pairs, jobs, inputs.cras, by_job["trips"])
    pairs["travel"] = travel
    premium = travel - TRIP_COST_DOMESTIC * lookup(by_job["trips"], pairs["job"], 0.0)
    pairs["cost"] = (premium if options.travel else 0.0) + pairs["move"] * options.move_penalty
    load = pairs[["agent", "job"]].merge(hours, on="job")
    data = Rebalancing(
        pairs=pairs, load=load, capacity=capacity,
        groups=jobs[["job", "study_id"]].rename(columns={"study_id": "group"}),
        current=jobs.dropna(subset=["cra"]).rename(columns={"cra": "agent"})[["job", "agent"]],
        overload_penalty=options.overload_penalty, group_penalty=options.study_spread_penalty,
        max_moves=options.max_moves, max_jobs_per_agent=options.max_sites_per_cra)
    solving = time.perf_counter()
    allowed = max(0.0, options.time_limit - (solving - started) - TAIL_SECONDS
                  - TAIL_SECONDS_PER_SITE * len(jobs))
    result, subproblems = solve_rebalancing(data, allowed, options.rel_gap, options.decompose)
    reporting = time.perf_counter()
    proposal = rebalance_report(inputs, jobs, pairs, owner, result, unstaffable, subproblems,
                                options, scope)
    return dataclasses.replace(proposal, timings=RebalanceTimings(
        set_up=solving - started, solve_allowed=allowed, solve=reporting - solving,
        report=time.perf_counter() - reporting))


