"""Solving a rebalancing: sites with one choice taken out, the rest split into components.

A site with a single eligible CRA (pinned, or kept where it is) is no decision:
its hours come off that CRA's capacity, its travel and study count are
constants, and only sites with a choice enter the model. Those split into
connected components of the eligibility graph, each solved on its own (a share
of the time left in proportion to its sites, fewest first, its building reserved
at the last part's rate per pair)
and merged: objectives and bounds add up. A move budget couples the
components, so when their own optima take more moves than allowed, all sites
with a choice are solved in one model under the budget.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

import pandas as pd
from pyomo.common.gc_manager import PauseGC

from optimizer.assignment import (
    AssignmentProblem,
    AssignmentResult,
    build_for_highs,
    fixed_result,
    solve_built,
)
from optimizer.decompose import components
from optimizer.lp_guided import GuidedStart, lp_guided_start
from optimizer.rebalance_search import LP_SHARE, LP_START_PAIRS, searchable, solve_with_search
from optimizer.repair import repair_start

SHARE_EXPONENT = 1.0  # time shares ∝ sites: small parts are proven (or nearly) in a second
# or two, and a large one needs its share to get HiGHS past the root (benchmarks/README.md)
MIN_SECONDS = 0.5  # HiGHS's least time for one subproblem, even past the deadline
SEARCH_PAIRS = 1_000  # parts at least this large also get the neighbourhood search
SUBPROBLEM_COLUMNS = ["component", "sites", "cras", "status", "objective", "bound", "seconds"]


@dataclass(frozen=True)
class Rebalancing:
    """The model's data: eligible ``pairs`` (agent, job, cost, move), ``load`` (agent, job,
    period, amount), ``capacity`` (agent, period, capacity), ``groups`` (job, group: the
    site's study), the ``current`` assignment (job, agent) and the penalties."""

    pairs: pd.DataFrame
    load: pd.DataFrame
    capacity: pd.DataFrame
    groups: pd.DataFrame
    current: pd.DataFrame
    overload_penalty: float
    group_penalty: float
    max_moves: int | None
    max_jobs_per_agent: int | None


def _problem(data: Rebalancing, pairs: pd.DataFrame, capacity: pd.DataFrame,
             worked: frozenset[tuple], max_moves: int | None) -> AssignmentProblem:
    jobs, agents = set(pairs["job"]), set(pairs["agent"])
    return AssignmentProblem(
        pairs=pairs[["agent", "job", "cost", "move"]],
        load=data.load[data.load["job"].isin(jobs) & data.load["agent"].isin(agents)],
        capacity=capacity[capacity["agent"].isin(agents)], sense="min",
        overload_penalty=data.overload_penalty, max_moves=max_moves,
        max_jobs_per_agent=data.max_jobs_per_agent,
        groups=data.groups[data.groups["job"].isin(jobs)], group_penalty=data.group_penalty,
        worked=worked)


def _solve(problem: AssignmentProblem, current: pd.DataFrame, time_limit: float,
           rel_gap: float, start: pd.DataFrame | None = None) -> AssignmentResult:
    if problem.pairs["job"].is_unique:  # nothing to choose
        return fixed_result(problem)
    started = time.perf_counter()
    resumed = start is not None  # (a second pass: from the part's own plan, no LP again)
    search = len(problem.pairs) >= SEARCH_PAIRS and searchable(problem)
    if start is None and not (search and len(problem.pairs) >= LP_START_PAIRS):  # (there
        # the search's first plan is read off the LP: it starts from the current one)
        start = repair_start(problem, current[current["job"].isin(set(problem.pairs["job"]))])
    if search:  # built meanwhile
        result = solve_with_search(problem, functools.partial(build_for_highs, problem), start,
                                   max(MIN_SECONDS, time_limit - (time.perf_counter() - started)),
                                   rel_gap)
    else:
        built = build_for_highs(problem)
        guided = GuidedStart(start) if resumed else lp_guided_start(
            problem, built, start, LP_SHARE * time_limit)
        result = solve_built(problem, built, accept_incumbent=True, start=guided.start,
                             time_limit=max(MIN_SECONDS,
                                            time_limit - (time.perf_counter() - started)),
                             rel_gap=rel_gap)
        if guided.bound > result.bound:  # HiGHS stopped before its root LP: the LP's holds
            result = dataclasses.replace(result, bound=min(guided.bound, result.objective))
    if not result.bound >= 0.0:  # -inf or NaN when HiGHS stopped before its first bound:
        # every cost here is ≥ 0 (travel premium, moves, overload, studies), so 0 is one
        result = dataclasses.replace(result, bound=0.0)
    return result


def _better(first: AssignmentResult, second: AssignmentResult) -> AssignmentResult:
    """Two runs of one problem: the better incumbent, the higher (valid) bound, the time
    of both."""
    best = second if second.objective < first.objective else first
    bound = max(first.bound, second.bound)
    return AssignmentResult(
        best.assignment, best.overload, best.objective, bound,
        "optimal" if best.objective - bound <= 1e-9 * max(1.0, abs(best.objective))
        or "optimal" in (first.status, second.status) else "time_limit",
        first.build_seconds + second.build_seconds, first.solve_seconds + second.solve_seconds)


def _second_pass(problems: list[AssignmentProblem], results: list[AssignmentResult],
                 current: pd.DataFrame, deadline: float, rel_gap: float) -> None:
    """Time left once every part had its share goes to the parts not proven optimal,
    the largest absolute gap first, each resumed from its own incumbent."""
    open_parts = sorted((i for i, r in enumerate(results) if r.status != "optimal"),
                        key=lambda i: results[i].bound - results[i].objective)
    gaps = {i: results[i].objective - results[i].bound for i in open_parts}
    for position, i in enumerate(open_parts):
        left = deadline - time.perf_counter()
        if left < 2 * MIN_SECONDS:
            return
        weight = gaps[i] / max(sum(gaps[j] for j in open_parts[position:]), 1e-9)
        again = _solve(problems[i], current, max(MIN_SECONDS, left * weight), rel_gap,
                       start=results[i].assignment)
        results[i] = _better(results[i], again)


def _merge(results: list[AssignmentResult], constant: float, assignment: pd.DataFrame,
           overload: pd.DataFrame) -> AssignmentResult:
    """One result from independent parts plus the fixed sites' constant share."""
    return AssignmentResult(
        assignment=pd.concat([assignment, *[r.assignment for r in results]], ignore_index=True)
        .sort_values("job", kind="stable").reset_index(drop=True),
        overload=pd.concat([overload, *[r.overload for r in results]], ignore_index=True),
        objective=constant + sum(r.objective for r in results),
        bound=constant + sum(r.bound for r in results),
        status="optimal" if all(r.status == "optimal" for r in results) else "time_limit",
        build_seconds=sum(r.build_seconds for r in results),
        solve_seconds=sum(r.solve_seconds for r in results), constant=constant)


def solve_rebalancing(data: Rebalancing, time_limit: float, rel_gap: float,
                      decompose: bool = True) -> tuple[AssignmentResult, pd.DataFrame]:
    """The merged result and one row per subproblem solved (SUBPROBLEM_COLUMNS).

    Python's cyclic garbage collector is paused meanwhile, as Pyomo's writers do: the
    models' expressions and the plans' column dicts are millions of objects, and each
    collection they set off scans every object alive (0.5–2 s of a large part's build at
    2,000 × 20,000). The parts' models are cycles (a Pyomo block refers to itself), so
    they stay until the collection that follows the solve (0.9 s there; peak memory
    1.83 GB instead of 1.67). The pause is process-wide: a web server's other sessions
    go without collections for the solve's time too."""
    with PauseGC():
        return _solve_parts(data, time_limit, rel_gap, decompose)


def _solve_parts(data: Rebalancing, time_limit: float, rel_gap: float,
                 decompose: bool) -> tuple[AssignmentResult, pd.DataFrame]:
    deadline = time.perf_counter() + time_limit  # splitting into parts counts too
    choices = data.pairs.groupby("job")["agent"].transform("size")
    fixed, free = data.pairs[choices == 1], data.pairs[choices > 1]
    fixed_load = data.load.merge(fixed[["agent", "job"]], on=["agent", "job"]).groupby(
        ["agent", "period"])["amount"].sum()
    capacity = data.capacity.set_index(["agent", "period"])["capacity"]
    keys = capacity.index.union(fixed_load.index)
    room = capacity.reindex(keys, fill_value=0.0) - fixed_load.reindex(keys, fill_value=0.0)
    free_capacity = room.rename("capacity").reset_index()
    movable = data.load[data.load["job"].isin(set(free["job"])) & (data.load["amount"] != 0)]
    inside = pd.MultiIndex.from_frame(movable[["agent", "period"]].drop_duplicates())
    outside = (-room[~room.index.isin(inside)]).clip(lower=0.0)
    overload = outside[outside > 1e-6].rename("hours").reset_index()
    held = fixed[["agent", "job"]].merge(data.groups, on="job")
    worked = frozenset(zip(held["agent"], held["group"], strict=True))
    constant = (float(fixed["cost"].sum()) + data.overload_penalty * float(overload["hours"].sum())
                + data.group_penalty * len(worked))
    assignment = fixed[["job", "agent"]]
    if free.empty:
        return _merge([], constant, assignment, overload), pd.DataFrame(
            columns=SUBPROBLEM_COLUMNS)

    label = components(free) if decompose else pd.Series(0, index=free["job"].unique())
    part_of = free["job"].map(label)
    results: list[AssignmentResult] = []
    pairs = part_of.value_counts()  # what building a part costs
    sites = free.drop_duplicates("job")["job"].map(label).value_counts()  # what it decides
    order = sites.sort_values(kind="stable").index  # smallest first
    remaining_pairs = float(pairs.sum())
    remaining_weight = float((sites ** SHARE_EXPONENT).sum())
    built = 0.0  # building seconds per pair of the last (largest) part built, reserved for
    # the parts still to come; not the worst rate so far, which is a small part's (its
    # fixed 0.05–0.2 s over few pairs)
    problems, shapes = [], []
    for number in order:
        part = free[part_of == number]
        weight = sites[number] ** SHARE_EXPONENT
        left = deadline - time.perf_counter() - built * remaining_pairs
        share = max(MIN_SECONDS, built * pairs[number] + left * weight / remaining_weight)
        # (its own build was reserved in ``left``)
        problems.append(_problem(data, part, free_capacity, worked, None))
        result = _solve(problems[-1], data.current, share, rel_gap)
        built = result.build_seconds / pairs[number]
        remaining_pairs -= pairs[number]
        remaining_weight -= weight
        results.append(result)
        shapes.append((number, sites[number], part["agent"].nunique()))
    _second_pass(problems, results, data.current, deadline, rel_gap)
    rows = [(*shape, r.status, r.objective, r.bound, r.build_seconds + r.solve_seconds)
            for shape, r in zip(shapes, results, strict=True)]
    merged = _merge(results, constant, assignment, overload)
    chosen = merged.assignment.merge(data.pairs[["job", "agent", "move"]], on=["job", "agent"])
    if data.max_moves is not None and int(chosen["move"].sum()) > data.max_moves:
        joint = _solve(_problem(data, free, free_capacity, worked, data.max_moves),
                       data.current, max(MIN_SECONDS, deadline - time.perf_counter()),
                       rel_gap)
        merged = _merge([joint], constant, assignment, overload)
        rows = [(-1, free["job"].nunique(), free["agent"].nunique(), joint.status,
                 joint.objective, joint.bound, joint.build_seconds + joint.solve_seconds)]
    return merged, pd.DataFrame(rows, columns=SUBPROBLEM_COLUMNS)
