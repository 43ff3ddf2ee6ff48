"""HiGHS and the neighbourhood search telling each other what they found
(optimizer.search_exchange), and the time each rebalancing part gets. Objectives are
recomputed from the plans by optimizer.assignment."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import optimizer.highs_bridge as highs_bridge
import optimizer.rebalance_search as rebalance_search
import optimizer.rebalance_solve as rebalance_solve
from optimizer.assignment import (
    AssignmentError,
    AssignmentProblem,
    build_for_highs,
    objective_of,
    overload_of,
    solve_assignment,
    solve_built,
)
from optimizer.gap_arrays import choice_of, from_problem, objective, to_frame
from optimizer.local_search import SearchLog, large_neighbourhoods
from optimizer.plan_columns import plan_columns
from optimizer.rebalance_search import BESIDE_SEARCH, solve_with_search
from optimizer.rebalance_solve import Rebalancing, solve_rebalancing
from optimizer.search_exchange import Exchange
from tests.optimizer.test_rebalance_search import grouped_problem


def _value(problem: AssignmentProblem, plan: pd.DataFrame) -> float:
    return objective_of(problem, plan, overload_of(problem, plan))


def _quiet_run(problem: AssignmentProblem, current: pd.DataFrame, offered: pd.DataFrame | None,
               seconds: float) -> tuple[float, Exchange]:
    """HiGHS without its own heuristics for ``seconds`` from ``current``, with a plan the
    search offers (``offered``) when given."""
    built = build_for_highs(problem)
    for name, value in BESIDE_SEARCH.items():
        built.compiled.highs.setOptionValue(name, value)
    g = from_problem(problem)
    exchange = Exchange(plan_columns(problem, built, g), 0.0)
    if offered is not None:
        choice = choice_of(g, offered)
        exchange.offer(choice, objective(g, choice))
        exchange.attach(built.compiled.highs)
    result = solve_built(problem, built, seconds, 0.0, 1, True, current)
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    return result.objective, exchange


def test_a_plan_the_search_offers_becomes_highs_incumbent() -> None:
    """8 CRAs × 60 sites, 1 s: alone and without heuristics HiGHS keeps a poor plan; handed
    a good one, it ends with that plan or a better one."""
    problem, current = grouped_problem(2, agents=8, jobs=60)
    good = solve_assignment(problem, time_limit=3.0, rel_gap=0.0, accept_incumbent=True)
    alone, _ = _quiet_run(problem, current, None, 1.0)
    helped, exchange = _quiet_run(problem, current, good.assignment, 1.0)
    assert exchange.handed == 1
    assert helped <= good.objective + 1e-6
    assert alone > good.objective  # what the handover changed


def test_search_and_highs_stop_once_the_gap_is_met() -> None:
    """Given 30 s and a 5 % gap, both stop as soon as the best plan is within 5 % of HiGHS's
    bound; the result says optimal (within the gap), as HiGHS would."""
    problem, current = grouped_problem(2, agents=8, jobs=60)
    started = time.perf_counter()
    result = solve_with_search(problem, build_for_highs(problem), current, 30.0, 0.05)
    assert time.perf_counter() - started < 15.0
    assert result.status == "optimal"
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.bound <= result.objective
    assert result.objective - result.bound <= 0.05 * result.objective


def test_a_plan_that_cannot_be_handed_over_does_not_end_highs_run() -> None:
    """An exception in a callback would end HiGHS's run with an error: the exchange keeps
    it, stops handing plans over, and HiGHS finishes as usual."""
    problem, current = grouped_problem(1)
    built = build_for_highs(problem)

    def broken(choice: np.ndarray) -> np.ndarray:
        raise ValueError("no columns")

    exchange = Exchange(broken, 0.0)
    g = from_problem(problem)
    choice = choice_of(g, current)
    exchange.offer(choice, objective(g, choice) - 1.0)  # looks better than HiGHS's start
    exchange.attach(built.compiled.highs)
    result = solve_built(problem, built, 20.0, 0.0, 1, True, current)
    assert exchange.failed == "ValueError: no columns"
    assert result.status == "optimal"
    assert result.objective == pytest.approx(solve_assignment(problem, rel_gap=0.0).objective)


def _two_parts(pairs_per_site: tuple[int, int]) -> Rebalancing:
    """Two independent parts of 10 sites each (no shared CRA), one site per CRA over its
    capacity so that neither is trivial; part k's sites are eligible for
    ``pairs_per_site[k]`` CRAs."""
    rows, load, capacity, current = [], [], [], []
    for part, n_agents in enumerate(pairs_per_site):
        agents = [f"P{part}A{a}" for a in range(n_agents)]
        for s in range(10):
            site = f"P{part}S{s}"
            holder = agents[s % n_agents]
            current.append((site, holder))
            for agent in agents:
                rows.append((agent, site, 250.0 * (agent != holder), agent != holder))
                load.append((agent, site, "T", 3.0))
        capacity += [(agent, "T", 10.0) for agent in agents]
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    return Rebalancing(
        pairs=pairs, load=pd.DataFrame(load, columns=["agent", "job", "period", "amount"]),
        capacity=pd.DataFrame(capacity, columns=["agent", "period", "capacity"]),
        groups=pd.DataFrame({"job": pairs["job"].unique(), "group": "X"}),
        current=pd.DataFrame(current, columns=["job", "agent"]), overload_penalty=1000.0,
        group_penalty=0.0, max_moves=None, max_jobs_per_agent=None)


def test_parts_get_time_in_proportion_to_their_sites_not_their_pairs(monkeypatch) -> None:  # noqa: ANN001
    """Two parts of 10 sites, one with 2 CRAs per site (20 pairs), one with 6 (60 pairs):
    the first solved (the fewer sites first; a tie keeps the order) gets half the time,
    not a quarter (its share of the pairs)."""
    shares = []
    solve = rebalance_solve._solve_lingering

    def spy(problem, current, time_limit, rel_gap, start=None, linger_until=None,  # noqa: ANN001, ANN202
            on_built=None):  # noqa: ANN001
        shares.append((len(problem.pairs), time_limit))
        return solve(problem, current, time_limit, rel_gap, start, linger_until, on_built)

    monkeypatch.setattr(rebalance_solve, "_solve_lingering", spy)
    result, parts = solve_rebalancing(_two_parts((2, 6)), 10.0, 0.0)
    assert shares[0][0] in (20, 60) and len(parts) == 2
    assert shares[0][1] == pytest.approx(5.0, abs=0.2)
    assert sorted(result.assignment["job"]) == sorted(_two_parts((2, 6)).current["job"])


def test_a_search_carries_on_from_a_better_plan_found_elsewhere() -> None:
    """Another search's plan (here the optimum) is better than this one's start: it is
    taken up, and the result is no worse."""
    problem, current = grouped_problem(3)
    g = from_problem(problem)
    exact = solve_assignment(problem, rel_gap=0.0)
    best = choice_of(g, exact.assignment)
    start = choice_of(g, current)
    found = large_neighbourhoods(
        g, start, None, time.perf_counter() + 0.5, SearchLog(),
        better=lambda value: best.copy() if objective(g, best) < value - 1e-7 else None)
    assert objective(g, found) == pytest.approx(exact.objective)
    assert _value(problem, to_frame(g, found)) == pytest.approx(exact.objective)


def test_a_second_search_takes_highs_core_when_its_share_is_over(monkeypatch) -> None:  # noqa: ANN001
    """HiGHS has 30 % of 3 s on a part it cannot prove; then a second search runs to the
    deadline beside the first. The plan stays sound and no worse than the start."""
    monkeypatch.setattr(rebalance_search, "HIGHS_SHARE", 0.3)
    seeds = []
    search = rebalance_search.large_neighbourhoods

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seeds.append(args[6])
        return search(*args, **kwargs)

    monkeypatch.setattr(rebalance_search, "large_neighbourhoods", counted)
    problem, current = grouped_problem(4, agents=8, jobs=60)
    started = time.perf_counter()
    result = solve_with_search(problem, build_for_highs(problem), current, 3.0, 0.0)
    assert time.perf_counter() - started < 6.0
    assert sorted(seeds) == [0, 1]
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.bound <= result.objective
    assert result.objective <= _value(problem, current)


def test_the_exchange_hands_out_only_a_better_plan_and_keeps_the_best() -> None:
    exchange = Exchange(None, 0.01, bound=95.0)
    assert exchange.better_than(np.inf) is None and not exchange.met()
    exchange.offer(np.array([1, 2]), 100.0)
    exchange.offer(np.array([3, 4]), 120.0)  # worse: not kept
    assert list(exchange.better_than(101.0)) == [1, 2]
    assert exchange.better_than(100.0) is None
    assert not exchange.met()  # 100 − 95 > 1 % of 100
    exchange.offer(np.array([5, 6]), 95.5)
    assert exchange.met()  # 0.5 ≤ 0.955


def test_a_run_given_up_on_stops_at_its_next_callback_and_reads_nothing_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Retired, the exchange's callbacks only stop HiGHS: a run given 30 s on a model it
    does not prove within 1 s returns within 1 s, at its first callback, and, abandoned,
    raises instead of reading its plan back."""
    problem, current = grouped_problem(2, agents=8, jobs=60)
    built = build_for_highs(problem)
    for name, value in BESIDE_SEARCH.items():
        built.compiled.highs.setOptionValue(name, value)
    exchange = Exchange(plan_columns(problem, built, from_problem(problem)), 0.0)
    exchange.attach(built.compiled.highs)
    exchange.retired.set()
    read_back = []  # HiGHS's column values turned into a plan (none, given up on)
    monkeypatch.setattr(highs_bridge, "_by_variable",
                        lambda compiled, values: read_back.append(len(values)) or {})
    started = time.perf_counter()
    with pytest.raises(AssignmentError, match="given up on"):
        solve_built(problem, built, 30.0, 0.0, 1, True, current, exchange.retired)
    assert time.perf_counter() - started < 1.0
    assert exchange.handed == 0 and read_back == []
    monkeypatch.undo()
    again = build_for_highs(problem)  # the same run, not given up on, is not over in 1 s
    for name, value in BESIDE_SEARCH.items():
        again.compiled.highs.setOptionValue(name, value)
    assert solve_built(problem, again, 1.0, 0.0, 1, True, current).status == "time_limit"


def test_highs_is_stopped_once_its_bound_stalls() -> None:
    """8 CRAs × 60 sites, which HiGHS cannot prove in a minute: told to stop once its bound
    has not risen by 1 % of the gap left for 1 s, it ends within seconds as a time-limited
    run with a sound bound (below its plan, and below the plan of a run without the rule
    given 2 s more)."""
    problem, current = grouped_problem(4, agents=8, jobs=60)
    g = from_problem(problem)
    built = build_for_highs(problem)
    for name, value in BESIDE_SEARCH.items():
        built.compiled.highs.setOptionValue(name, value)
    exchange = Exchange(plan_columns(problem, built, g), 0.0, stall_seconds=1.0)
    start = choice_of(g, current)
    exchange.offer(start, objective(g, start))
    exchange.attach(built.compiled.highs)
    started = time.perf_counter()
    result = solve_built(problem, built, 60.0, 0.0, 1, True, current)
    took = time.perf_counter() - started
    assert exchange.stalled and took < 20.0
    assert result.status == "time_limit"
    assert result.bound <= result.objective + 1e-6
    longer = solve_assignment(problem, time_limit=took + 2.0, rel_gap=0.0,
                              accept_incumbent=True)
    assert result.bound <= longer.objective + 1e-6

