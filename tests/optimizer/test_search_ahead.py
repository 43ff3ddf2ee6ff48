"""The last part's first plan made ahead in a child process (optimizer.search_ahead), and
the sweep that goes on from it. The child's LP is checked against the same LP solved
here, its plan's objective is recomputed by optimizer.assignment, and optima come from
the Pyomo model solved by HiGHS to a zero gap."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

import optimizer.rebalance_search as rebalance_search
import optimizer.rebalance_solve as rebalance_solve
from optimizer.array_relaxation import relaxation_with_shedding
from optimizer.assignment import (
    AssignmentProblem,
    build_for_highs,
    objective_of,
    overload_of,
    solve_assignment,
)
from optimizer.caseload_sweep import caseload_sweep, held_caseloads
from optimizer.gap_arrays import current_pairs, from_problem, objective, to_frame
from optimizer.rebalance_search import solve_and_linger
from optimizer.rebalance_solve import Rebalancing, solve_rebalancing
from optimizer.repair import current_completed
from optimizer.search_ahead import Progress, SearchAhead
from optimizer.search_exchange import Exchange
from tests.optimizer.test_rebalance_search import grouped_problem


def _value(problem: AssignmentProblem, plan: pd.DataFrame) -> float:
    return objective_of(problem, plan, overload_of(problem, plan))


def _holders(problem: AssignmentProblem) -> set[int]:
    g = from_problem(problem)
    return {int(agent) for agent in np.unique(g.pair_agent[current_pairs(g)])}


def test_the_child_tells_its_lp_its_plan_and_each_caseload_swept() -> None:
    """Given 3 s, the child solves the LP, rounds it, sweeps every caseload and searches on
    until its time is up; what it told is what the same steps give here."""
    problem, _ = grouped_problem(4)
    ahead = SearchAhead()
    g = ahead.begin(problem, 3.0)
    assert ahead.ended(120.0)  # on its own, at its time
    progress = ahead.take()
    here = relaxation_with_shedding(from_problem(problem), problem, 30.0)
    assert progress.guide is not None and here is not None
    assert progress.guide.bound == pytest.approx(here.bound)
    assert np.allclose(progress.guide.x, here.x)
    plan = progress.plan
    assert plan is not None
    assert (g.pair_job[plan] == np.arange(len(g.jobs))).all()  # one pair per site
    value = _value(problem, to_frame(g, plan))
    assert value == pytest.approx(objective(g, plan))
    assert value <= objective(g, current_completed(g)) + 1e-9
    assert value >= solve_assignment(problem, rel_gap=0.0).objective - 1e-6
    assert progress.sweep_done
    assert progress.swept == _holders(problem)


def test_a_child_stopped_before_it_has_a_part_ends_with_nothing_told() -> None:
    ahead = SearchAhead()
    ahead.stop()
    assert ahead.ended()
    progress = ahead.take()
    assert progress.guide is None and progress.plan is None and not progress.swept
    ahead.stop()  # twice is harmless


def test_the_sweep_leaves_out_the_caseloads_swept_ahead() -> None:
    problem, current = grouped_problem(5)
    g = from_problem(problem)
    start = current_completed(g)
    told: list[int] = []
    caseload_sweep(g, start, None, time.perf_counter() + 30.0, done=told.append)
    holders = [holder for holder, _ in held_caseloads(g, start)]
    assert sorted(told) == sorted(holders) == sorted(_holders(problem))
    again: list[int] = []
    kept = caseload_sweep(g, start, None, time.perf_counter() + 30.0,
                          swept=frozenset(holders[1:]), done=again.append)
    assert again == holders[:1]  # only the one not swept
    untouched = caseload_sweep(g, start, None, time.perf_counter() + 30.0,
                               swept=frozenset(holders), done=again.append)
    assert untouched is start and again == holders[:1]
    assert objective(g, kept) <= objective(g, start) + 1e-9


@pytest.mark.parametrize("sweep_done", [False, True])
def test_a_plan_made_ahead_is_not_rounded_or_swept_again(sweep_done: bool) -> None:
    """From a plan the child swept whole, the first search goes straight on: no rounding
    (which would start over from the LP), no caseload re-placed."""
    problem, current = grouped_problem(7)
    g = from_problem(problem)
    plan = current_completed(g)
    swept = set() if sweep_done else _holders(problem)
    guide = relaxation_with_shedding(g, problem, 30.0)
    exchange = Exchange(None, 0.0)
    first = rebalance_search._first_plan(
        g, plan, guide, True, 10.0, time.perf_counter() + 10.0, exchange, lambda: False,
        Progress(guide=guide, plan=plan, swept=swept, sweep_done=sweep_done))
    assert first is plan
    assert exchange.better_than(math.inf) is None  # nothing made, nothing told


def test_a_part_goes_on_from_the_plan_made_ahead_to_its_optimum() -> None:
    problem, current = grouped_problem(8)
    ahead = SearchAhead()
    ahead.begin(problem, 60.0)
    waited = time.perf_counter() + 120.0
    while ahead.guide() is None and time.perf_counter() < waited:
        time.sleep(0.05)
    assert ahead.guide() is not None
    result, lingering = solve_and_linger(problem, lambda: build_for_highs(problem), None,
                                         30.0, 0.0, ahead=ahead)
    assert lingering is None
    assert ahead.ended()  # stopped once its plan was taken
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.objective == pytest.approx(solve_assignment(problem, rel_gap=0.0).objective)


def _two_parts() -> tuple[Rebalancing, AssignmentProblem]:
    """Two rebalancings with no CRA in common: two parts, the larger solved last."""
    small, small_current = grouped_problem(2, agents=4, jobs=16)
    large, large_current = grouped_problem(3)

    def renamed(frame: pd.DataFrame, tag: str) -> pd.DataFrame:
        out = frame.copy()
        for column in ("agent", "job", "group"):
            if column in out:
                out[column] = tag + out[column]
        return out

    pairs = pd.concat([renamed(small.pairs, "s"), renamed(large.pairs, "l")],
                      ignore_index=True)
    load = pd.concat([renamed(small.load, "s"), renamed(large.load, "l")], ignore_index=True)
    capacity = pd.concat([renamed(small.capacity, "s"), renamed(large.capacity, "l")],
                         ignore_index=True)
    groups = pd.concat([renamed(small.groups, "s"), renamed(large.groups, "l")],
                       ignore_index=True)
    current = pd.concat([renamed(small_current, "s"), renamed(large_current, "l")],
                        ignore_index=True)
    data = Rebalancing(pairs=pairs, load=load, capacity=capacity, groups=groups,
                       current=current, overload_penalty=1000.0, group_penalty=100.0,
                       max_moves=None, max_jobs_per_agent=None)
    whole = AssignmentProblem(pairs, load, capacity, "min", 1000.0, groups=groups,
                              group_penalty=100.0)
    return data, whole


def test_a_rebalancing_makes_its_last_parts_plan_ahead(monkeypatch) -> None:  # noqa: ANN001
    """Thresholds at 0, so that a small case takes the path of the 2,000 × 20,000 one: the
    child begins on the larger part, is stopped by the end, and the merged plan is the
    whole model's optimum with every site once."""
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", 0)
    monkeypatch.setattr(rebalance_solve, "LP_START_PAIRS", 0)
    monkeypatch.setattr(rebalance_solve, "AHEAD_SECONDS", 0.0)
    monkeypatch.setattr(rebalance_search, "LP_START_PAIRS", 0)
    data, whole = _two_parts()
    ahead = SearchAhead()
    result, parts = solve_rebalancing(data, 30.0, 0.0, ahead=ahead)
    assert len(parts) == 2
    assert ahead.g is not None and len(ahead.g.jobs) > 16  # begun on the larger part
    assert ahead.ended()
    assert sorted(result.assignment["job"]) == sorted(data.current["job"])
    assert result.objective == pytest.approx(_value(whole, result.assignment))
    assert result.objective == pytest.approx(solve_assignment(whole, rel_gap=0.0).objective)
