"""The part's LP relaxation from its arrays (optimizer.array_relaxation) is the Pyomo
model's, shedding rows included, and solve_with_search builds the model while the first
search works from it."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer.rebalance_search as rebalance_search
from optimizer.array_relaxation import relaxation_with_shedding
from optimizer.assignment import (
    AssignmentProblem,
    build_for_highs,
    objective_of,
    overload_of,
    solve_assignment,
)
from optimizer.gap_arrays import from_problem
from optimizer.highs_bridge import relaxation
from optimizer.local_search import SearchLog, lp_relaxation
from optimizer.rebalance_search import solve_with_search
from tests.optimizer.test_rebalance_search import grouped_problem, idle_site_problem


def test_the_shedding_rows_make_the_hand_worked_bound() -> None:
    problem = idle_site_problem()
    g = from_problem(problem)
    guide = relaxation_with_shedding(g, problem, 10.0)
    assert guide is not None
    assert guide.bound == pytest.approx(350.0)
    assert lp_relaxation(g, SearchLog()).bound == pytest.approx(350.0 / 6.0)  # no rows
    moved = {(g.agents[g.pair_agent[p]], g.jobs[g.pair_job[p]]): guide.x[p]
             for p in range(len(g.cost))}
    assert moved[("B", "b")] == pytest.approx(1.0) and moved[("A", "c")] == pytest.approx(1.0)


def test_a_part_without_overload_has_no_shedding_rows() -> None:
    """Nobody is over capacity: the LP is the plain one, and here it is whole (each site
    stays at no cost)."""
    problem = idle_site_problem()
    roomy = problem.capacity.assign(capacity=100.0)
    problem = AssignmentProblem(problem.pairs, problem.load, roomy, "min",
                                overload_penalty=1000.0)
    guide = relaxation_with_shedding(from_problem(problem), problem, 10.0)
    assert guide is not None and guide.bound == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_arrays_lp_is_the_models_lp(seed: int) -> None:
    """Same optimum as the Pyomo model's LP relaxation (its shedding rows and studies),
    below the MIP's optimum; each pair's value is a fraction and each site sums to 1."""
    problem, _ = grouped_problem(seed)
    g = from_problem(problem)
    guide = relaxation_with_shedding(g, problem, 10.0)
    model_lp = relaxation(build_for_highs(problem).compiled, 10.0)
    assert guide is not None and model_lp is not None
    assert guide.bound == pytest.approx(model_lp.objective, abs=1e-6)
    assert guide.bound <= solve_assignment(problem, rel_gap=0.0).objective + 1e-6
    assert np.all(guide.x >= -1e-9) and np.all(guide.x <= 1 + 1e-9)
    assert np.bincount(g.pair_job, weights=guide.x) == pytest.approx(np.ones(len(g.jobs)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_part_built_while_searched_reaches_the_optimum(seed: int, monkeypatch) -> None:  # noqa: ANN001
    """The model built on the calling thread while the first search solves the LP from the
    arrays and makes its first plan (forced to the LP-rounding start): built once, and the
    plan is the exact optimum, proven."""
    monkeypatch.setattr(rebalance_search, "LP_START_PAIRS", 0)
    problem, current = grouped_problem(seed)
    builds = []

    def build():  # noqa: ANN202
        builds.append(build_for_highs(problem))
        return builds[-1]

    result = solve_with_search(problem, build, current, 30.0, 0.0)
    exact = solve_assignment(problem, rel_gap=0.0).objective
    assert len(builds) == 1
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(objective_of(
        problem, result.assignment, overload_of(problem, result.assignment)))
    assert result.objective == pytest.approx(exact)
    assert result.status == "optimal" and result.bound <= exact + 1e-6


def test_a_part_too_large_for_highs_is_left_to_the_searches_with_the_arrays_lp(
        monkeypatch) -> None:  # noqa: ANN001
    """No time for HiGHS's root: no HiGHS run, two searches, and the bound is the LP's from
    the arrays (the Pyomo model's, recomputed here)."""
    monkeypatch.setattr(rebalance_search, "LP_START_PAIRS", 0)
    monkeypatch.setattr(rebalance_search, "MIP_SECONDS_PER_PAIR", 1e9)
    problem, current = grouped_problem(2)
    result = solve_with_search(problem, lambda: build_for_highs(problem), current, 1.0, 0.0)
    lp = relaxation(build_for_highs(problem).compiled, 10.0)
    exact = solve_assignment(problem, rel_gap=0.0).objective
    assert result.bound == pytest.approx(min(lp.objective, result.objective))
    assert result.bound <= exact + 1e-6 <= result.objective + 1e-6


def test_a_failed_build_fails_the_part_and_stops_its_search() -> None:
    """The build's error reaches the caller, and the first search (given 30 s) does not go
    on alone in the background."""
    import threading
    import time

    problem, current = grouped_problem(3)

    def build():  # noqa: ANN202
        raise RuntimeError("no model")

    before = set(threading.enumerate())  # (other tests' HiGHS runs may still be ending)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="no model"):
        solve_with_search(problem, build, current, 30.0, 0.0)

    def ours() -> list:
        return [t for t in threading.enumerate() if t not in before]

    for _ in range(50):  # the search sees the failure at its next check
        if not ours():
            break
        time.sleep(0.1)
    assert not ours()
    assert time.perf_counter() - started < 10.0
