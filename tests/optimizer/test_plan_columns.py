"""A search plan as HiGHS's column vector (optimizer.plan_columns): the same vector as the
model's own start values, a point that satisfies every row of the built model, and the
objective recomputed from the plan by optimizer.assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csc_matrix

from optimizer.assignment import (
    AssignmentProblem,
    build_for_highs,
    objective_of,
    overload_of,
    start_values,
)
from optimizer.gap_arrays import from_problem, to_frame
from optimizer.plan_columns import plan_columns
from tests.optimizer.test_rebalance_search import grouped_problem, idle_site_problem


def _random_plans(problem: AssignmentProblem, count: int, seed: int) -> list[np.ndarray]:
    g = from_problem(problem)
    rng = np.random.default_rng(seed)
    return [g.job_ptr[:-1] + rng.integers(0, np.diff(g.job_ptr)) for _ in range(count)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_vector_is_the_models_start_values(seed: int) -> None:
    """Random plans (overload, moves, studies paid for outside and not) give, column by
    column, what start_values makes through the model's data frames."""
    problem, _ = grouped_problem(seed, agents=7, jobs=40)
    built = build_for_highs(problem)
    g = from_problem(problem)
    columns_of = plan_columns(problem, built, g)
    for plan in _random_plans(problem, 5, seed):
        by_model = start_values(built.model, problem, to_frame(g, plan))
        expected = np.array([by_model.get(id(v), 0.0) for v in built.compiled.columns])
        assert columns_of(plan) == pytest.approx(expected, abs=1e-9)


def _activity(built, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lp = built.compiled.highs.getLp()
    matrix = lp.a_matrix_
    a = csc_matrix((matrix.value_, matrix.index_, matrix.start_),
                   shape=(lp.num_row_, lp.num_col_))
    return a @ values, np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_the_vector_satisfies_the_model_and_prices_the_plan(seed: int) -> None:
    """Every row of the built model (assignment, capacity with overload, shedding, study
    links) holds at the vector, and HiGHS's objective of it is the plan's objective
    recomputed by objective_of."""
    problem, _ = grouped_problem(seed, agents=6, jobs=30)
    built = build_for_highs(problem)
    g = from_problem(problem)
    columns_of = plan_columns(problem, built, g)
    lp = built.compiled.highs.getLp()
    for plan in _random_plans(problem, 5, seed):
        values = columns_of(plan)
        activity, lower, upper = _activity(built, values)
        assert np.all(activity >= lower - 1e-7) and np.all(activity <= upper + 1e-7)
        frame = to_frame(g, plan)
        expected = objective_of(problem, frame, overload_of(problem, frame))
        assert float(np.dot(lp.col_cost_, values)) + lp.offset_ == pytest.approx(expected)


def test_an_idle_sites_plan_keeps_the_shedding_rows() -> None:
    """The idle-site case (A 2 hours over in T1): keeping both sites is 2 hours over, 2,000;
    moving b clears it, 350; each vector meets the shedding rows the model has for A."""
    problem = idle_site_problem()
    built = build_for_highs(problem)
    g = from_problem(problem)
    columns_of = plan_columns(problem, built, g)
    lp = built.compiled.highs.getLp()
    for moved, expected in ((set(), 2000.0), ({"b"}, 350.0)):
        frame = pd.DataFrame({"job": ["b", "c"],
                              "agent": ["B" if job in moved else "A" for job in "bc"]})
        plan = np.array([g.pair_of(np.array([list(g.agents).index(a)]),
                                   np.array([list(g.jobs).index(j)]))[0]
                         for j, a in zip(frame["job"], frame["agent"], strict=True)])
        values = columns_of(plan)
        activity, lower, upper = _activity(built, values)
        assert np.all(activity >= lower - 1e-7) and np.all(activity <= upper + 1e-7)
        assert float(np.dot(lp.col_cost_, values)) + lp.offset_ == pytest.approx(expected)
