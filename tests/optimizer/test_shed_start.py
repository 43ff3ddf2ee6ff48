"""An over-capacity CRA's own shedding problem (optimizer.relief) and the start built from it
(optimizer.shed_start). Optima are checked by enumerating every shed set by hand-coded
brute force; plans' objectives are recomputed by optimizer.assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from optimizer.assignment import AssignmentProblem, objective_of, overload_of, solve_assignment
from optimizer.gap_arrays import choice_of, from_problem, objective, to_frame
from optimizer.greedy import shift_moves
from optimizer.relief import least_relief
from optimizer.repair import repair_start
from optimizer.shed_start import shed_start


def cost_of(z: np.ndarray, hours: np.ndarray, capacity: np.ndarray, stay: np.ndarray,
            leave: np.ndarray, penalty: float, studies: np.ndarray | None,
            study_penalty: float) -> float:
    """What shedding the sites ``z`` costs the CRA, by the module's formula."""
    if np.isinf(leave[z]).any():
        return np.inf
    kept = hours[~z].sum(axis=0)
    cost = leave[z].sum() + stay[~z].sum() + penalty * np.maximum(kept - capacity, 0).sum()
    if studies is not None:
        cost += study_penalty * len({s for s, gone in zip(studies, z, strict=True)
                                     if s >= 0 and not gone})
    return float(cost)


def brute_force(*problem: object) -> float:
    n = len(problem[2])
    return min(cost_of(np.array(bits, dtype=bool), *problem)
               for bits in itertools.product([0, 1], repeat=n))


def test_the_fewest_sites_that_cover_every_month_leave() -> None:
    """Capacity 40 in both months; held 60 and 45. Shedding month 1's largest site (30/0)
    leaves month 2 over by 5 hours; the 20/20 site alone covers both months."""
    hours = np.array([[30.0, 0.0], [20.0, 20.0], [10.0, 25.0]])
    capacity = np.array([40.0, 40.0])
    stay = np.zeros(3)
    leave = np.array([250.0, 250.0, 250.0])
    relief = least_relief(hours, capacity, stay, leave, 1000.0)
    assert relief.value == pytest.approx(250.0)
    assert relief.shed.tolist() == [False, True, False]
    # moving costs differ: the 20/20 site is expensive to place, two cheap ones go instead
    leave = np.array([100.0, 900.0, 100.0])
    relief = least_relief(hours, capacity, stay, leave, 1000.0)
    assert relief.value == pytest.approx(200.0)
    assert relief.shed.tolist() == [True, False, True]


def test_the_optimum_of_every_small_case_by_enumeration() -> None:
    """Sites that cannot leave, studies kept, staying dearer than leaving (a site monitored
    from far away), a CRA with no month over: the value is the enumerated optimum, and
    the shed set costs what the value says."""
    rng = np.random.default_rng(7)
    for case in range(40):
        n = int(rng.integers(3, 8))
        hours = rng.integers(0, 20, size=(n, 3)).astype(float)
        capacity = rng.integers(10, 40, size=3).astype(float) + (200.0 if case % 4 == 0 else 0)
        stay = rng.choice([0.0, 120.0, 900.0], size=n)
        leave = 250.0 + rng.choice([0.0, 0.0, 300.0], size=n)
        leave[rng.random(n) < 0.2] = np.inf
        studies = rng.integers(-1, 3, size=n) if case % 3 else None
        problem = (hours, capacity, stay, leave, 1000.0, studies, 100.0)
        relief = least_relief(*problem)
        expected = brute_force(*problem)
        assert relief.value == pytest.approx(expected)
        assert cost_of(relief.shed, *problem) == pytest.approx(relief.value)
        assert not relief.shed[np.isinf(leave)].any()


def neighbourhood(seed: int) -> tuple[AssignmentProblem, pd.DataFrame]:
    """Two overloaded CRAs (O0, O1) whose sites may go to four CRAs with room (R0–R3),
    which hold sites of some studies already; moves 250, studies 100 per CRA."""
    rng = np.random.default_rng(seed)
    donors, receivers = ["O0", "O1"], ["R0", "R1", "R2", "R3"]
    rows, hours, study = [], [], []
    for j in range(16):
        job, owner = f"J{j:02d}", donors[j % 2]
        rows.append((owner, job, 0.0, False))
        for r in rng.choice(receivers, size=3, replace=False):
            rows.append((str(r), job, 250.0, True))
        hours += [(job, f"T{t}", float(rng.integers(2, 12))) for t in range(3)]
        study.append((job, f"S{rng.integers(5)}"))
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    load = pairs[["agent", "job"]].merge(pd.DataFrame(hours, columns=["job", "period",
                                                                      "amount"]), on="job")
    capacity = pd.DataFrame([(a, f"T{t}", 40.0 if a in donors else 30.0)
                             for a in donors + receivers for t in range(3)],
                            columns=["agent", "period", "capacity"])
    problem = AssignmentProblem(
        pairs, load, capacity, "min", overload_penalty=1000.0,
        groups=pd.DataFrame(study, columns=["job", "group"]), group_penalty=100.0,
        worked=frozenset({("R0", "S1"), ("R2", "S3")}))
    current = pairs.loc[~pairs["move"], ["job", "agent"]]
    return problem, current


def test_the_shed_start_is_a_sound_plan_no_worse_than_its_start_and_near_the_optimum() -> None:
    """On most instances the repair start is 200–300 above the optimum (the
    one-move-at-a-time gains shed the wrong sites) and the shed start is the optimum
    (three of these four with HiGHS 1.16)."""
    optimal = []
    for seed in range(4):
        problem, current = neighbourhood(seed)
        g = from_problem(problem)
        start = shift_moves(g, choice_of(g, repair_start(problem, current)))
        plan = shed_start(g, start, 5.0)
        frame = to_frame(g, plan)
        assert sorted(frame["job"]) == sorted(problem.pairs["job"].unique())
        value = objective_of(problem, frame, overload_of(problem, frame))
        assert abs(value - objective(g, plan)) < 1e-6
        assert value <= objective(g, start) + 1e-9
        optimum = solve_assignment(problem, time_limit=30.0).objective
        assert optimum - 1e-6 <= value <= optimum + 250.0  # within one move of the optimum
        if abs(value - optimum) < 1e-6 < objective(g, start) - value:
            optimal.append(seed)
    assert len(optimal) >= 2


def test_no_shed_start_under_a_move_budget() -> None:
    problem, current = neighbourhood(0)
    budgeted = AssignmentProblem(problem.pairs, problem.load, problem.capacity, "min",
                                 overload_penalty=1000.0, max_moves=2, groups=problem.groups,
                                 group_penalty=100.0, worked=problem.worked)
    g = from_problem(budgeted)
    start = choice_of(g, repair_start(budgeted, current))
    assert (shed_start(g, start, 5.0) == start).all()


def test_without_studies_and_with_a_site_that_has_no_cra() -> None:
    """No study term, and a site without a current CRA: it keeps the start's CRA unless
    the plan moves it, and every site is placed once."""
    problem, current = neighbourhood(1)
    bare = AssignmentProblem(problem.pairs, problem.load, problem.capacity, "min",
                             overload_penalty=1000.0)
    unheld = current[current["job"] != "J05"]  # J05 has no CRA now: its pairs are no moves
    pairs = bare.pairs.copy()
    pairs.loc[pairs["job"] == "J05", ["cost", "move"]] = [0.0, False]
    bare = AssignmentProblem(pairs, bare.load, bare.capacity, "min", overload_penalty=1000.0)
    g = from_problem(bare)
    start = shift_moves(g, choice_of(g, repair_start(bare, unheld)))
    plan = shed_start(g, start, 5.0)
    frame = to_frame(g, plan)
    assert sorted(frame["job"]) == sorted(pairs["job"].unique())
    assert objective_of(bare, frame, overload_of(bare, frame)) <= objective(g, start) + 1e-9
