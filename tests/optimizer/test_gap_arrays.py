"""The arrays' bookkeeping (optimizer.gap_arrays) against plain recomputations: what each
agent uses, the (agent, study) pairs charged, and a change of plan priced from the jobs
that moved alone (the sub-MIPs of the sweep and the search compare plans so)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.assignment import objective_of, overload_of
from optimizer.gap_arrays import (
    change_of,
    choice_of,
    from_problem,
    in_sorted,
    objective,
    to_frame,
    usage,
)
from tests.optimizer.test_rebalance_search import grouped_problem


def _random_plan(g, rng: np.random.Generator) -> np.ndarray:  # noqa: ANN001
    return np.array([rng.integers(g.job_ptr[j], g.job_ptr[j + 1]) for j in range(len(g.jobs))])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_usage_and_the_objective_are_the_plain_sums(seed: int) -> None:
    problem, current = grouped_problem(seed)
    g = from_problem(problem)
    rng = np.random.default_rng(seed)
    for plan in (choice_of(g, current), _random_plan(g, rng)):
        used = np.zeros_like(g.capacity)
        for p in plan:
            used[g.pair_agent[p]] += g.load[p]
        assert usage(g, plan) == pytest.approx(used)
        frame = to_frame(g, plan)
        assert objective(g, plan) == pytest.approx(
            objective_of(problem, frame, overload_of(problem, frame)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_change_priced_from_the_moved_jobs_is_the_objectives_difference(seed: int) -> None:
    problem, current = grouped_problem(seed)
    g = from_problem(problem)
    rng = np.random.default_rng(seed)
    choice = choice_of(g, current)
    for _ in range(30):
        jobs = np.sort(rng.choice(len(g.jobs), size=int(rng.integers(1, 8)), replace=False))
        new = choice.copy()
        new[jobs] = _random_plan(g, rng)[jobs]
        fixed = np.ones(len(g.jobs), dtype=bool)
        fixed[jobs] = False
        residual = g.capacity - usage(g, choice[fixed])
        held = g.charged(choice[fixed])
        assert change_of(g, choice, new, jobs, residual, held) == pytest.approx(
            objective(g, new) - objective(g, choice), abs=1e-6)
        choice = new


def test_membership_in_sorted_keys_is_isin() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 50, size=20))
    values = rng.integers(-5, 60, size=200)
    assert np.array_equal(in_sorted(values, keys), np.isin(values, keys))
    assert not in_sorted(values, keys[:0]).any()
