"""Solving a rebalancing: sites with one choice taken out, the rest split into components.

A site with a single eligible CRA (pinned, or kept where it is) is no decision:
its hours come off that CRA's capacity, its travel and study count are
constants, and only sites with a choice enter the model. Those split into
connected components of the eligibility graph, each solved on its own (a share
of the time left in proportion to its sites, fewest first, its building reserved
at the last part's rate per pair)
and merged: objectives and bounds add up. A part's search lingers while the next part is
built (:mod:`optimizer.lingering`). A move budget couples the
components, so when their own optima take more moves than allowed, all sites
with a choice are solved in one model under the budget.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from pyomo.common.gc_manager import PauseGC

from optimizer.assignment import (
    AssignmentProblem,
    AssignmentResult,
    build_for_highs,
    fixed_result,
    release,
    solve_built,
)
from optimizer.decompose import components
from optimizer.lingering import Lingering
from optimizer.lp_guided import GuidedStart, lp_guided_start
from optimizer.rebalance_parts import (
    PartTables,
    coded_load,
    fixed_sites,
    joint_tables,
    part_tables,
)
from optimizer.rebalance_search import LP_SHARE, LP_START_PAIRS, searchable, solve_and_linger
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


def _problem(data: Rebalancing, tables: PartTables, worked: frozenset[tuple],
             max_moves: int | None) -> AssignmentProblem:
    return AssignmentProblem(
        pairs=tables.pairs[["agent", "job", "cost", "move"]], load=tables.load,
        capacity=tables.capacity, sense="min", overload_penalty=data.overload_penalty,
        max_moves=max_moves, max_jobs_per_agent=data.max_jobs_per_agent,
        groups=tables.groups, group_penalty=data.group_penalty, worked=worked)


def _solve(problem: AssignmentProblem, current: pd.DataFrame, time_limit: float,
           rel_gap: float, start: pd.DataFrame | None = None) -> AssignmentResult:
    return _solve_lingering(problem, current, time_limit, rel_gap, start)[0]


def _solve_lingering(problem: AssignmentProblem, current: pd.DataFrame, time_limit: float,
                     rel_gap: float, start: pd.DataFrame | None = None,
                     linger_until: float | None = None,
                     on_built: Callable[[], None] | None = None
                     ) -> tuple[AssignmentResult, Lingering | None]:
    """The part's result, and with ``linger_until`` its search carried on meanwhile
    (:mod:`optimizer.lingering`); ``on_built`` is called once its model is built (at once
    where there is none to build)."""
    if problem.pairs["job"].is_unique:  # nothing to choose
        if on_built is not None:
            on_built()
        return fixed_result(problem), None
    started = time.perf_counter()
    resumed = start is not None  # (a second pass: from the part's own plan, no LP again)
    search = len(problem.pairs) >= SEARCH_PAIRS and searchable(problem)
    if start is None and not (search and len(problem.pairs) >= LP_START_PAIRS):  # (there
        # the search's first plan is read off the LP: it starts from the current one)
        start = repair_start(problem, current[current["job"].isin(set(problem.pairs["job"]))])
    lingering = None
    if search:  # built meanwhile
        result, lingering = solve_and_linger(
            problem, functools.partial(build_for_highs, problem), start,
            max(MIN_SECONDS, time_limit - (time.perf_counter() - started)), rel_gap,
            linger_until=linger_until, on_built=on_built)
    else:
        try:
            built = build_for_highs(problem)
        finally:
            if on_built is not None:
                on_built()
        guided = GuidedStart(start) if resumed else lp_guided_start(
            problem, built, start, LP_SHARE * time_limit)
        result = solve_built(problem, built, accept_incumbent=True, start=guided.start,
                             time_limit=max(MIN_SECONDS,
                                            time_limit - (time.perf_counter() - started)),
                             rel_gap=rel_gap)
        release(built)
        if guided.bound > result.bound:  # HiGHS stopped before its root LP: the LP's holds
            result = dataclasses.replace(result, bound=min(guided.bound, result.objective))
    return _with_bound(result), lingering


def _with_bound(result: AssignmentResult) -> AssignmentResult:
    """-inf or NaN bounds (HiGHS stopped before its first) as 0: every cost here is ≥ 0
    (travel premium, moves, overload, studies), so 0 is one."""
    return result if result.bound >= 0.0 else dataclasses.replace(result, bound=0.0)


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


def _solve_in_turn(data: Rebalancing, tables: dict[int, PartTables], label: pd.Series,
                   worked: frozenset[tuple], deadline: float, rel_gap: float
                   ) -> tuple[list[AssignmentProblem], list[AssignmentResult], list[tuple]]:
    """Each part solved in turn, fewest sites first, with its share of the time left (see
    the module docstring); its search lingers while the next part is built. The parts'
    problems, results and (number, sites, CRAs)."""
    pairs = pd.Series({n: len(t.pairs) for n, t in tables.items()})  # what building costs
    sites = label.value_counts()  # what a part decides
    order = sites.sort_values(kind="stable").index  # smallest first
    remaining_pairs = float(pairs.sum())
    remaining_weight = float((sites ** SHARE_EXPONENT).sum())
    built = 0.0  # building seconds per pair of the last (largest) part built, reserved for
    # the parts still to come; not the worst rate so far, which is a small part's (its
    # fixed 0.05–0.2 s over few pairs)
    problems: list[AssignmentProblem] = []
    results: list[AssignmentResult] = []
    shapes: list[tuple] = []
    lingering: Lingering | None = None  # the last part's search, on while the next builds
    try:
        for position, number in enumerate(order):
            weight = sites[number] ** SHARE_EXPONENT
            left = deadline - time.perf_counter() - built * remaining_pairs
            share = max(MIN_SECONDS, built * pairs[number] + left * weight / remaining_weight)
            # (its own build was reserved in ``left``)
            problems.append(_problem(data, tables[number], worked, None))
            result, next_lingering = _solve_lingering(
                problems[-1], data.current, share, rel_gap,
                linger_until=deadline if position < len(order) - 1 else None,
                on_built=lingering.stop if lingering is not None else None)
            previous, lingering = lingering, next_lingering
            if previous is not None:  # (a failure reading it stops this part's search too)
                results[-1] = previous.result()
            built = result.build_seconds / pairs[number]
            remaining_pairs -= pairs[number]
            remaining_weight -= weight
            results.append(result)
            shapes.append((number, sites[number], tables[number].pairs["agent"].nunique()))
        if lingering is not None:
            results[-1] = lingering.result()
            lingering = None
    finally:
        if lingering is not None:  # a part failed: no search left behind
            lingering.stop()
    return problems, results, shapes


def _solve_parts(data: Rebalancing, time_limit: float, rel_gap: float,
                 decompose: bool) -> tuple[AssignmentResult, pd.DataFrame]:
    deadline = time.perf_counter() + time_limit  # splitting into parts counts too
    coded = coded_load(data.load)
    fixed = fixed_sites(data.pairs, data.load, coded, data.capacity, data.groups,
                        data.overload_penalty, data.group_penalty)
    free, worked, constant = fixed.free, fixed.worked, fixed.constant
    assignment, overload = fixed.assignment, fixed.overload
    if free.empty:
        return _merge([], constant, assignment, overload), pd.DataFrame(
            columns=SUBPROBLEM_COLUMNS)

    label = components(free) if decompose else pd.Series(0, index=free["job"].unique())
    tables = part_tables(free, data.load, coded, fixed.capacity, data.groups, label)
    problems, results, shapes = _solve_in_turn(data, tables, label, worked, deadline, rel_gap)
    _second_pass(problems, results, data.current, deadline, rel_gap)
    rows = [(*shape, r.status, r.objective, r.bound, r.build_seconds + r.solve_seconds)
            for shape, r in zip(shapes, results, strict=True)]
    merged = _merge(results, constant, assignment, overload)
    chosen = merged.assignment.merge(data.pairs[["job", "agent", "move"]], on=["job", "agent"])
    if data.max_moves is not None and int(chosen["move"].sum()) > data.max_moves:
        joint = _solve(_problem(data, joint_tables(free, tables), worked, data.max_moves),
                       data.current, max(MIN_SECONDS, deadline - time.perf_counter()),
                       rel_gap)
        merged = _merge([joint], constant, assignment, overload)
        rows = [(-1, free["job"].nunique(), free["agent"].nunique(), joint.status,
                 joint.objective, joint.bound, joint.build_seconds + joint.solve_seconds)]
    return merged, pd.DataFrame(rows, columns=SUBPROBLEM_COLUMNS)
