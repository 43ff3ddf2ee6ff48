"""The neighbourhood search on rebalancing parts (groups, i.e. a study's CRAs, in the arrays)
and its run beside HiGHS (optimizer.rebalance_search). Every objective is recomputed by
optimizer.assignment from the plan, never taken from the search's bookkeeping; optima
come from the Pyomo model solved by HiGHS to a zero gap."""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from pyomo.common.gc_manager import PauseGC

import optimizer.rebalance_search as rebalance_search
import optimizer.rebalance_solve as rebalance_solve
from optimizer.assignment import (
    AssignmentError,
    AssignmentProblem,
    build_for_highs,
    objective_of,
    overload_of,
    release,
    shedding_lines,
    solve_assignment,
    solve_built,
)
from optimizer.gap_arrays import choice_of, from_problem, highs_model, objective, to_frame
from optimizer.greedy import shift_moves
from optimizer.highs_bridge import relaxation
from optimizer.local_search import (
    SearchLog,
    disagreeing_jobs,
    large_neighbourhoods,
    lp_relaxation,
    relaxation_induced,
)
from optimizer.rebalance_search import solve_with_search
from optimizer.rebalance_solve import Rebalancing, solve_rebalancing
from optimizer.repair import current_completed, repair_start


def grouped_problem(seed: int, agents: int = 6, jobs: int = 36, periods: int = 3,
                    groups: int = 7) -> tuple[AssignmentProblem, pd.DataFrame]:
    """A small rebalancing: overloaded current holders, moves at 250, travel on some pairs,
    studies charged 100 per CRA, two (CRA, study) pairs paid for by sites outside."""
    rng = np.random.default_rng(seed)
    names = [f"A{i}" for i in range(agents)]
    holder = rng.choice(agents, size=jobs, p=np.linspace(2, 1, agents) / np.linspace(
        2, 1, agents).sum())
    rows = []
    for j in range(jobs):
        for a in range(agents):
            if a == holder[j] or rng.random() < 0.6:
                travel = 0.0 if rng.random() < 0.7 else float(rng.integers(50, 400))
                rows.append((names[a], f"J{j:02d}", travel + 250.0 * (a != holder[j]),
                             a != holder[j]))
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    hours = pd.DataFrame([(f"J{j:02d}", f"T{t}", float(rng.integers(0, 12)))
                          for j in range(jobs) for t in range(periods)],
                         columns=["job", "period", "amount"])
    load = pairs[["agent", "job"]].merge(hours, on="job")
    capacity = pd.DataFrame([(a, f"T{t}", 40.0) for a in names for t in range(periods)],
                            columns=["agent", "period", "capacity"])
    study = pd.DataFrame({"job": [f"J{j:02d}" for j in range(jobs)],
                          "group": [f"S{rng.integers(groups)}" for _ in range(jobs)]})
    problem = AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0,
                                groups=study, group_penalty=100.0,
                                worked=frozenset({("A0", "S1"), ("A3", "S2")}))
    current = pd.DataFrame({"job": [f"J{j:02d}" for j in range(jobs)],
                            "agent": [names[a] for a in holder]})
    return problem, current


def _value(problem: AssignmentProblem, plan: pd.DataFrame) -> float:
    return objective_of(problem, plan, overload_of(problem, plan))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_arrays_price_groups_as_the_model_does(seed: int) -> None:
    problem, current = grouped_problem(seed)
    g = from_problem(problem)
    rng = np.random.default_rng(seed)
    for _ in range(5):  # random plans: one eligible pair per job
        choice = np.array([rng.integers(g.job_ptr[j], g.job_ptr[j + 1])
                           for j in range(len(g.jobs))])
        assert objective(g, choice) == pytest.approx(_value(problem, to_frame(g, choice)))
    assert objective(g, choice_of(g, current)) == pytest.approx(_value(problem, current))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_arrays_model_has_the_pyomo_models_optimum(seed: int) -> None:
    """The same MIP built twice (arrays with x, overload and y columns; Pyomo): one optimum."""
    problem, _ = grouped_problem(seed)
    g = from_problem(problem)
    h = highs_model(g, np.arange(len(g.cost)), np.arange(len(g.jobs)), g.capacity, True, None)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.run()
    exact = solve_assignment(problem, rel_gap=0.0)
    assert h.getInfo().objective_function_value == pytest.approx(exact.objective)
    lp = lp_relaxation(g, SearchLog())
    assert lp.bound <= exact.objective + 1e-6


def _shift_case(cost_to_b: float) -> tuple[AssignmentProblem, pd.DataFrame]:
    """Site j1 of study X is A's only X site; B holds X's other site. Moving j1 to B
    costs ``cost_to_b`` and saves A's X (100)."""
    pairs = pd.DataFrame({"agent": ["A", "B", "B"], "job": ["j1", "j1", "j2"],
                          "cost": [0.0, cost_to_b, 0.0], "move": [False, True, False]})
    load = pd.DataFrame({"agent": ["A", "B", "B"], "job": ["j1", "j1", "j2"],
                         "period": "T", "amount": 1.0})
    capacity = pd.DataFrame({"agent": ["A", "B"], "period": "T", "capacity": 10.0})
    groups = pd.DataFrame({"job": ["j1", "j2"], "group": ["X", "X"]})
    problem = AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0,
                                groups=groups, group_penalty=100.0)
    return problem, pd.DataFrame({"job": ["j1", "j2"], "agent": ["A", "B"]})


@pytest.mark.parametrize(("cost_to_b", "moves"), [(60.0, True), (140.0, False)])
def test_shifts_count_the_study_a_cra_stops_or_starts(cost_to_b: float, moves: bool) -> None:
    """60 to move, 100 saved: worth it; 140 to move: not (a shift blind to studies would
    see only the cost and never move)."""
    problem, current = _shift_case(cost_to_b)
    g = from_problem(problem)
    after = to_frame(g, shift_moves(g, choice_of(g, current)))
    assert (after.set_index("job")["agent"]["j1"] == "B") is moves
    assert _value(problem, after) == min(_value(problem, current), 100.0 + cost_to_b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_neighbourhood_search_only_improves(seed: int) -> None:
    problem, current = grouped_problem(seed)
    g = from_problem(problem)
    start = choice_of(g, current)
    log = SearchLog()
    found = large_neighbourhoods(g, shift_moves(g, start), lp_relaxation(g, log),
                                 time.perf_counter() + 2.0, log)
    plan = to_frame(g, found)
    assert sorted(plan["job"]) == sorted(current["job"])  # each site once
    assert _value(problem, plan) == pytest.approx(objective(g, found))
    assert _value(problem, plan) <= _value(problem, current)
    assert _value(problem, plan) >= solve_assignment(problem, rel_gap=0.0).objective - 1e-6


@pytest.mark.parametrize("seed", [2, 4, 5, 6])
def test_rins_reaches_the_optimum_of_the_jobs_the_lp_disagrees_on(seed: int) -> None:
    """RINS from the current plan: the sites whose pair the LP takes whole stay where they
    are, the others are re-placed exactly. The restricted problem solved by the Pyomo model
    to a zero gap (those sites' pairs only) is what it must reach at least (its shifts may
    only improve on it), never below the whole problem's optimum."""
    problem, current = grouped_problem(seed, agents=8, jobs=48)
    g = from_problem(problem)
    start = shift_moves(g, choice_of(g, current))
    guide = lp_relaxation(g, SearchLog())
    freed = set(g.jobs[disagreeing_jobs(start, guide)])
    assert 0 < len(freed) < len(g.jobs)
    plan = to_frame(g, start)
    kept = set(zip(plan["agent"], plan["job"], strict=True))
    restricted = problem.pairs[[job in freed or (agent, job) in kept for agent, job in
                                zip(problem.pairs["agent"], problem.pairs["job"],
                                    strict=True)]]
    best_there = solve_assignment(dataclasses.replace(problem, pairs=restricted),
                                  rel_gap=0.0).objective
    assert best_there < objective(g, start) - 1.0  # the case has something to find
    found = relaxation_induced(g, start, guide, 10.0, SearchLog())
    value = _value(problem, to_frame(g, found))
    assert value == pytest.approx(objective(g, found))
    assert value <= best_there + 1e-6
    assert value >= solve_assignment(problem, rel_gap=0.0).objective - 1e-6
    assert sorted(to_frame(g, found)["job"]) == sorted(current["job"])  # each site once


@pytest.mark.parametrize("seed", [4, 5])
def test_search_beside_highs_reaches_the_optimum(seed: int) -> None:
    problem, current = grouped_problem(seed)
    exact = solve_assignment(problem, rel_gap=0.0)
    result = solve_with_search(problem, build_for_highs(problem), current, 20.0, 0.0)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(exact.objective)
    assert _value(problem, result.assignment) == pytest.approx(result.objective)
    assert result.bound <= result.objective + 1e-6
    assert result.overload["hours"].sum() == pytest.approx(
        overload_of(problem, result.assignment)["hours"].sum())


def test_rebalancing_parts_with_the_search_keep_every_invariant(monkeypatch) -> None:  # noqa: ANN001
    """Every part through the search (threshold 0): each site once, the objective
    recomputed, the bound below it, the optimum of the whole model."""
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", 0)
    problem, current = grouped_problem(6)
    data = Rebalancing(pairs=problem.pairs, load=problem.load, capacity=problem.capacity,
                       groups=problem.groups, current=current, overload_penalty=1000.0,
                       group_penalty=100.0, max_moves=None, max_jobs_per_agent=None)
    result, parts = solve_rebalancing(data, 20.0, 0.0)
    whole = AssignmentProblem(problem.pairs, problem.load, problem.capacity, "min", 1000.0,
                              groups=problem.groups, group_penalty=100.0)
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(_value(whole, result.assignment))
    assert result.bound <= result.objective + 1e-6
    assert result.objective == pytest.approx(solve_assignment(whole, rel_gap=0.0).objective)
    assert len(parts) >= 1


def test_a_released_model_is_freed_without_the_cyclic_collector() -> None:
    problem, _ = grouped_problem(3)
    with PauseGC():  # as during a rebalancing
        kept = build_for_highs(problem)
        waiting = weakref.ref(kept.model.capacity)  # (the rows: most of a model's objects)
        del kept
        assert waiting() is not None  # a cycle: it waits for the collector
        built = build_for_highs(problem)
        freed = weakref.ref(built.model.capacity)
        release(built)
        del built
        assert freed() is None


@pytest.mark.parametrize("search_pairs", [0, 10**9])  # beside the search, HiGHS alone
def test_each_parts_model_is_freed_once_the_part_is_solved(monkeypatch,  # noqa: ANN001
                                                           search_pairs: int) -> None:
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", search_pairs)
    models: list[weakref.ref] = []

    def recorded(problem: AssignmentProblem) -> object:
        built = build_for_highs(problem)
        models.append(weakref.ref(built.model.capacity))
        return built

    monkeypatch.setattr(rebalance_solve, "build_for_highs", recorded)
    problem, current = grouped_problem(6)
    data = Rebalancing(pairs=problem.pairs, load=problem.load, capacity=problem.capacity,
                       groups=problem.groups, current=current, overload_penalty=1000.0,
                       group_penalty=100.0, max_moves=None, max_jobs_per_agent=None)
    with PauseGC():
        result, _ = solve_rebalancing(data, 20.0, 0.0)
        assert models and all(model() is None for model in models)
    assert sorted(result.assignment["job"]) == sorted(current["job"])


def test_a_model_left_to_a_highs_run_that_does_not_stop_is_freed_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A HiGHS run past its root cuts checks no interrupt (its analytic centre: seconds
    on a large part); the part goes on without it. Here the run stands in for that phase:
    it ignores the cancel until the test lets it end. The part's plan is the search's,
    and its model is freed when the part returns, not when the run ends (on the largest
    2,000 × 20,000 part that was during the report: a 0.8 s collection)."""
    ended = threading.Event()

    def uninterruptible(*args: object) -> object:
        ended.wait(30.0)
        raise AssignmentError("HiGHS's run was given up on before it ended")

    monkeypatch.setattr(rebalance_search, "solve_built", uninterruptible)
    problem, current = grouped_problem(4, agents=8, jobs=60)
    models: list[weakref.ref] = []

    def build() -> object:
        built = build_for_highs(problem)
        models.append(weakref.ref(built.model.capacity))
        return built

    try:
        with PauseGC():
            result = solve_with_search(problem, build, current, 1.5, 0.0)
            assert models and models[0]() is None and not ended.is_set()
    finally:
        ended.set()
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.objective <= _value(problem, current)


def test_a_second_search_takes_highs_core_for_the_last_half_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS's share ends 0.5 s before the part's (here its run stands in, ending without
    a plan at its time limit): its core goes to a second search for that half second
    instead of staying idle; the part's plan is still sound and no worse than the current
    one."""
    def highs_without_a_plan(problem, built, time_limit, *args):  # noqa: ANN001, ANN002, ANN202
        time.sleep(time_limit)
        raise AssignmentError("no plan")

    seeds: list[int] = []
    search = rebalance_search.large_neighbourhoods

    def searching(*args: object, **kwargs: object) -> object:
        seeds.append(args[6])
        return search(*args, **kwargs)

    monkeypatch.setattr(rebalance_search, "solve_built", highs_without_a_plan)
    monkeypatch.setattr(rebalance_search, "large_neighbourhoods", searching)
    problem, current = grouped_problem(4, agents=8, jobs=60)
    result = solve_with_search(problem, build_for_highs(problem), current, 1.5, 0.0)
    assert 1 in seeds
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.objective <= _value(problem, current)


def test_a_part_too_large_for_highs_in_its_share_is_searched_with_the_lps_bound(
        monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(rebalance_search, "MIP_SECONDS_PER_PAIR", 1e9)
    problem, current = grouped_problem(2)
    built = build_for_highs(problem)
    lp = relaxation(built.compiled, 10.0)
    result = solve_with_search(problem, built, current, 1.0, 0.0, lp)
    exact = solve_assignment(problem, rel_gap=0.0).objective
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.bound == pytest.approx(min(lp.objective, result.objective))
    assert result.bound <= exact + 1e-6 <= result.objective + 1e-6
    assert result.objective <= _value(problem, current)


def test_the_repair_removes_overloads_of_several_cras_in_one_pass() -> None:
    """A and B are each 5 hours over; C and D have room. Moving a1 (5 h) and b1 (5 h)
    removes both overloads for two moves: 500, where each hour kept would cost 1,000."""
    sites = {"a1": ("A", 5.0), "a2": ("A", 10.0), "b1": ("B", 5.0), "b2": ("B", 10.0)}
    rows = [(agent, job, 250.0 * (agent != holder), agent != holder)
            for job, (holder, _) in sites.items() for agent in "ABCD"]
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    load = pairs[["agent", "job"]].assign(period="T", amount=[
        sites[j][1] for j in pairs["job"]])
    capacity = pd.DataFrame({"agent": list("ABCD"), "period": "T",
                             "capacity": [10.0, 10.0, 6.0, 6.0]})
    problem = AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0)
    current = pd.DataFrame({"job": list(sites), "agent": [h for h, _ in sites.values()]})
    repaired = repair_start(problem, current)
    assert _value(problem, repaired) == 500.0
    assert overload_of(problem, repaired).empty
    held = repaired.set_index("job")["agent"]
    assert {held["a1"], held["b1"]} == {"C", "D"} and held["a2"] == "A" and held["b2"] == "B"


def test_the_current_assignment_completed_keeps_every_cra_and_places_the_rest() -> None:
    """a1, a2 stay with A (6 hours over: not repaired); b1 stays with B. n1 and n2 have no
    CRA: n1 (4 h) goes where the room in its tightest month is most, C (10 − 4 = 6
    against B's 10 − 3 − 4 = 3 and A's −6 − 4); then n2 (5 h) sees C's 6 hours left and
    B's 7 and goes to B (7 − 5 = 2 against 6 − 5 = 1)."""
    sites = {"a1": ("A", 8.0), "a2": ("A", 8.0), "b1": ("B", 3.0), "n1": (None, 4.0),
             "n2": (None, 5.0)}
    rows = [(agent, job, 250.0 * (holder is not None and agent != holder),
             holder is not None and agent != holder)
            for job, (holder, _) in sites.items() for agent in "ABC"]
    pairs = pd.DataFrame(rows, columns=["agent", "job", "cost", "move"])
    load = pairs[["agent", "job"]].assign(period="T", amount=[
        sites[j][1] for j in pairs["job"]])
    capacity = pd.DataFrame({"agent": list("ABC"), "period": "T",
                             "capacity": [10.0, 10.0, 10.0]})
    problem = AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0)
    g = from_problem(problem)
    plan = to_frame(g, current_completed(g)).set_index("job")["agent"].to_dict()
    assert plan == {"a1": "A", "a2": "A", "b1": "B", "n1": "C", "n2": "B"}


def testshedding_lines_follow_the_least_overload_left() -> None:
    """e = 25 over four jobs of 10, 8, 6 and 4 hours: with L of them gone (largest first)
    at least 25, 15, 7, 1, 0 hours stay over; one secant per step until none stays."""
    assert shedding_lines(25.0, [6.0, 10.0, 4.0, 8.0]) == [
        (25.0, 10.0, 1), (15.0, 8.0, 2), (7.0, 6.0, 3), (1.0, 1.0, 4)]
    assert shedding_lines(5.0, [10.0, 8.0]) == [(5.0, 5.0, 1)]


def test_the_lp_must_shed_whole_sites() -> None:
    """A holds three 10-hour sites with room for 15: two must go (250 each), or each hour
    kept costs 1,000. Without the shedding rows the LP moves 1.5 sites (375)."""
    pairs = pd.DataFrame({"agent": list("AAABBB"), "job": ["s1", "s2", "s3"] * 2,
                          "cost": [0.0] * 3 + [250.0] * 3, "move": [False] * 3 + [True] * 3})
    load = pairs[["agent", "job"]].assign(period="T", amount=10.0)
    capacity = pd.DataFrame({"agent": ["A", "B"], "period": "T", "capacity": [15.0, 100.0]})
    problem = AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0)
    assert relaxation(build_for_highs(problem).compiled, 10.0).objective == pytest.approx(500.0)
    assert solve_assignment(problem, rel_gap=0.0).objective == pytest.approx(500.0)


def idle_site_problem() -> AssignmentProblem:
    """A is 2 hours over in T1 with site b (12 hours in T1; moving it costs 350) and site c
    (5 hours in T2 only; moving it costs 250). Only b sheds T1's overload: the optimum
    moves b, 350. Counting every site of A as shedding T1, the LP moved 5/6 of c and 1/6
    of b (208.33 + 58.33 = 266.67); with no shedding rows it moves 1/6 of b (350 / 6)."""
    pairs = pd.DataFrame({"agent": list("AABB"), "job": ["b", "c"] * 2,
                          "cost": [0.0, 0.0, 350.0, 250.0], "move": [False] * 2 + [True] * 2})
    amounts = {("b", "T1"): 12.0, ("c", "T2"): 5.0}
    load = pd.DataFrame([(a, j, t, h) for a in "AB" for (j, t), h in amounts.items()],
                        columns=["agent", "job", "period", "amount"])
    capacity = pd.DataFrame({"agent": ["A", "A", "B", "B"], "period": ["T1", "T2"] * 2,
                             "capacity": [10.0, 100.0, 100.0, 100.0]})
    return AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0)


def test_a_site_idle_in_the_month_sheds_none_of_its_overload() -> None:
    """See :func:`idle_site_problem`."""
    problem = idle_site_problem()
    assert relaxation(build_for_highs(problem).compiled, 10.0).objective == pytest.approx(350.0)
    solved = solve_assignment(problem, rel_gap=0.0)
    assert solved.objective == pytest.approx(350.0)
    assert solved.assignment.set_index("job")["agent"].to_dict() == {"b": "B", "c": "A"}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_lp_with_its_shedding_rows_stays_below_the_optimum(seed: int) -> None:
    problem, _ = grouped_problem(seed)
    lp = relaxation(build_for_highs(problem).compiled, 10.0)
    assert lp.objective <= solve_assignment(problem, rel_gap=0.0).objective + 1e-6


def test_a_plan_cut_short_by_the_deadline_stays_sound() -> None:
    """8 CRAs × 60 sites: HiGHS cannot prove this one in a minute; given 1.5 s beside the
    search, it ends then with a plan and a bound that are still sound."""
    problem, current = grouped_problem(4, agents=8, jobs=60)
    started = time.perf_counter()
    result = solve_with_search(problem, build_for_highs(problem), current, 1.5, 0.0)
    assert time.perf_counter() - started < 10.0  # far from the minute HiGHS would need
    assert result.status == "time_limit"
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.bound <= result.objective
    assert result.objective <= _value(problem, current)


def test_an_interrupted_highs_run_keeps_its_plan_and_bound() -> None:
    """What the search does at the deadline: cancelSolve on a HiGHS run that would take a
    minute; it returns within seconds as a time-limited result (kInterrupt), not as an
    error, with a feasible plan and a bound below it."""
    problem, current = grouped_problem(4, agents=8, jobs=60)
    built = build_for_highs(problem)
    built.compiled.highs.HandleUserInterrupt = True
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(solve_built, problem, built, 60.0, 0.0, 1, True, current)
        time.sleep(1.0)
        built.compiled.highs.cancelSolve()
        result = running.result()
    assert time.perf_counter() - started < 20.0  # far from the 60 s limit it was given
    assert result.status == "time_limit"
    assert result.objective == pytest.approx(_value(problem, result.assignment))
    assert result.bound <= result.objective + 1e-6
