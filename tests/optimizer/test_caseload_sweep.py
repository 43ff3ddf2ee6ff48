"""The caseload sweep (optimizer.caseload_sweep): each CRA's sites re-placed exactly."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from optimizer.assignment import AssignmentProblem, solve_assignment
from optimizer.caseload_sweep import caseload_sweep, caseloads
from optimizer.gap_arrays import choice_of, from_problem, objective, to_frame
from optimizer.greedy import shift_moves
from tests.optimizer.test_rebalance_search import grouped_problem


def _two_donors() -> tuple[AssignmentProblem, pd.DataFrame]:
    """A (room 10) holds a1 (8 h), a2 (6 h), a3 (5 h); B (room 10) holds b1 (7 h), b2 (5 h);
    C and D (room 13 each) take sites at 250 a move, D 40 dearer in travel. A must give two
    sites away (19 hours, and no site alone covers its 9 over), B one; C has room for two
    of the smaller ones, so D takes the third: the optimum is 250 + 250 + 290 = 790."""
    hours = {"a1": 8.0, "a2": 6.0, "a3": 5.0, "b1": 7.0, "b2": 5.0}
    holder = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B"}
    rows = []
    for job, agent in holder.items():
        rows.append((agent, job, 0.0, False))
        rows.append(("C", job, 250.0, True))
        rows.append(("D", job, 290.0, True))
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    load = pairs[["agent", "job"]].assign(period="T", amount=pairs["job"].map(hours))
    capacity = pd.DataFrame({"agent": list("ABCD"), "period": "T",
                             "capacity": [10.0, 10.0, 13.0, 13.0]})
    current = pd.DataFrame({"job": list(holder), "agent": list(holder.values())})
    return AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0), current


def test_caseloads_are_the_sites_each_cra_holds_today_dearest_first() -> None:
    problem, current = _two_donors()
    g = from_problem(problem)
    plan = current.assign(agent=current["agent"].mask(current["job"] == "b1", "D"))
    loads = [sorted(g.jobs[jobs]) for jobs in caseloads(g, choice_of(g, plan))]
    assert loads == [["b1", "b2"], ["a1", "a2", "a3"]]  # B's cost 290 in that plan, A's 0


def test_a_sweep_finds_each_cras_best_shedding() -> None:
    """From a plan where A gave both its sites to D (a2, a3: 580) and B its larger one to C
    (b1: 250), re-placing A's caseload sends one of A's sites to C instead: the optimum,
    790, with no overload."""
    problem, current = _two_donors()
    g = from_problem(problem)
    start = pd.DataFrame({"job": ["a1", "a2", "a3", "b1", "b2"],
                          "agent": ["A", "D", "D", "C", "B"]})
    found = []
    plan = caseload_sweep(g, choice_of(g, start), None, time.perf_counter() + 10.0,
                          found=found.append)
    assert objective(g, choice_of(g, start)) == pytest.approx(830.0)
    assert objective(g, plan) == pytest.approx(790.0)
    assert solve_assignment(problem, rel_gap=0.0).objective == pytest.approx(790.0)
    held = to_frame(g, plan)["agent"].value_counts().to_dict()
    assert held == {"A": 1, "B": 1, "C": 2, "D": 1}
    assert found and objective(g, found[-1]) == pytest.approx(790.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sweep_never_makes_a_plan_worse(seed: int) -> None:
    problem, current = grouped_problem(seed)
    g = from_problem(problem)
    start = choice_of(g, current)
    plan = caseload_sweep(g, start, None, time.perf_counter() + 10.0)
    assert (g.pair_job[plan] == np.arange(len(g.jobs))).all()
    assert objective(g, plan) <= objective(g, start) + 1e-9
    assert solve_assignment(problem, rel_gap=0.0).objective <= objective(g, plan) + 1e-6


def test_shifts_around_the_changed_cras_are_a_full_scans() -> None:
    """From a plan with no shift left, a few sites put elsewhere at random (as a sub-MIP
    does): shifting around the CRAs they left and joined makes the very moves a scan of
    every pair makes."""
    shifted = []
    for seed in range(1, 9):
        problem, current = grouped_problem(seed, agents=8, jobs=60)
        g = from_problem(problem)
        stable = shift_moves(g, choice_of(g, current))
        rng = np.random.default_rng(seed)
        changed = rng.choice(len(g.jobs), size=6, replace=False)
        new = stable.copy()
        for job in changed:
            new[job] = rng.integers(g.job_ptr[job], g.job_ptr[job + 1])
        around = np.concatenate([g.pair_agent[stable[changed]], g.pair_agent[new[changed]]])
        full = shift_moves(g, new)
        assert (shift_moves(g, new, around=around) == full).all()
        assert (shift_moves(g, stable, around=np.empty(0, dtype=np.int64)) == stable).all()
        shifted.append(int((full != new).sum()))
    assert sum(shifted) > 0  # (not only plans left alone)
