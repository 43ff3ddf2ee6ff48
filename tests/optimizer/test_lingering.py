"""A part's search carried on past its time: it only improves the plan, keeps the bound,
stops when asked, and is stopped once the next part's model is built."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import optimizer.lingering as lingering
import optimizer.rebalance_solve as rebalance_solve
from optimizer.assignment import AssignmentProblem, objective_of, overload_of, solve_assignment
from optimizer.gap_arrays import choice_of, from_problem
from optimizer.lingering import Lingering, searched_result
from optimizer.rebalance_solve import solve_rebalancing
from tests.optimizer.test_rebalance_search import grouped_problem
from tests.optimizer.test_search_exchange import _two_parts


def _lingering(problem: AssignmentProblem, plan: pd.DataFrame, bound: float,
               seconds: float) -> Lingering:
    g = from_problem(problem)
    result = searched_result(problem, plan, bound, False, 1.0, 2.0)
    return Lingering(problem, g, None, choice_of(g, plan), result, 0.0,
                     time.perf_counter() + seconds)


@pytest.mark.parametrize("seed", [1, 4])
def test_a_lingering_search_improves_the_plan_and_keeps_the_bound(seed: int) -> None:
    problem, current = grouped_problem(seed)
    start = objective_of(problem, current, overload_of(problem, current))
    optimum = solve_assignment(problem, rel_gap=0.0).objective
    assert start > optimum + 1.0  # the current plan is not optimal: there is room
    search = _lingering(problem, current, optimum - 10.0, 30.0)
    time.sleep(1.0)
    result = search.result()
    assert optimum - 1e-6 <= result.objective < start
    assert result.objective == pytest.approx(objective_of(problem, result.assignment,
                                                          overload_of(problem,
                                                                      result.assignment)))
    assert result.bound == optimum - 10.0 and result.status == "time_limit"
    assert sorted(result.assignment["job"]) == sorted(current["job"])
    assert (result.build_seconds, result.solve_seconds) == (1.0, 2.0)  # its own turn's


def test_a_stopped_search_ends_within_its_sub_mip() -> None:
    """Asked to stop, the search ends after the sub-MIP it is in (at most 0.5 s, and what
    follows an improvement), not at its deadline a minute away. The margin is the
    sub-MIP's bookkeeping on a loaded machine: 0.71 s once in CI with 0.6 s allowed."""
    problem, current = grouped_problem(2)
    search = _lingering(problem, current, 0.0, 60.0)
    time.sleep(0.2)
    asked = time.perf_counter()
    search.result()
    assert time.perf_counter() - asked < 1.5  # one sub-MIP and its bookkeeping, not 60 s


def test_a_failed_search_raises_when_its_result_is_asked(monkeypatch) -> None:  # noqa: ANN001
    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("search failed")

    monkeypatch.setattr(lingering, "large_neighbourhoods", failing)
    problem, current = grouped_problem(1)
    search = _lingering(problem, current, 0.0, 5.0)
    with pytest.raises(RuntimeError, match="search failed"):
        search.result()


class _Recorder:
    """Stands for a part's lingering search: records when it is stopped and read (and
    fails when read, with ``fails``)."""

    def __init__(self, events: list[str], name: str, result: object,
                 fails: bool = False) -> None:
        self.events, self.name, self._result, self._fails = events, name, result, fails

    def stop(self) -> None:
        self.events.append(f"stop {self.name}")

    def result(self) -> object:
        self.events.append(f"read {self.name}")
        if self._fails:
            raise RuntimeError(f"the search of {self.name} failed")
        return self._result


def test_each_parts_search_lingers_until_the_next_parts_model_is_built(monkeypatch) -> None:  # noqa: ANN001
    """Three parts solved in turn: part k's search is stopped right after part k + 1's
    model is built and read once that part is solved; the last part does not linger."""
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", 1)  # the small parts searched too
    events: list[str] = []
    build = rebalance_solve.build_for_highs
    solve = rebalance_solve.solve_and_linger

    def building(problem):  # noqa: ANN001, ANN202
        built = build(problem)
        events.append(f"built {problem.pairs['job'].iloc[0][:2]}")
        return built

    def solving(problem, model, start, time_limit, rel_gap, relaxed=None, *,  # noqa: ANN001, ANN202
                linger_until=None, on_built=None):  # noqa: ANN001
        name = problem.pairs["job"].iloc[0][:2]
        result, _ = solve(problem, model, start, time_limit, rel_gap, relaxed,
                          on_built=on_built)
        events.append(f"solved {name}")
        return result, None if linger_until is None else _Recorder(events, name, result)

    monkeypatch.setattr(rebalance_solve, "build_for_highs", building)
    monkeypatch.setattr(rebalance_solve, "solve_and_linger", solving)
    data = _two_parts((2, 3, 4))
    result, parts = solve_rebalancing(data, 6.0, 0.0)
    a, b, c = [event.split()[1] for event in events if event.startswith("solved")]
    assert events == [f"built {a}", f"solved {a}", f"built {b}", f"stop {a}", f"solved {b}",
                      f"read {a}", f"built {c}", f"stop {b}", f"solved {c}", f"read {b}"]
    assert len(parts) == 3 and sorted(result.assignment["job"]) == sorted(data.current["job"])


def test_a_failed_part_leaves_no_search_behind(monkeypatch) -> None:  # noqa: ANN001
    """The second part's solve fails: the first part's lingering search is stopped and the
    failure is raised."""
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", 1)
    events: list[str] = []
    solve = rebalance_solve.solve_and_linger

    def solving(problem, model, start, time_limit, rel_gap, relaxed=None, *,  # noqa: ANN001, ANN202
                linger_until=None, on_built=None):  # noqa: ANN001
        if events:
            raise RuntimeError("the second part failed")
        result, _ = solve(problem, model, start, time_limit, rel_gap, relaxed)
        events.append("solved")
        return result, _Recorder(events, "first", result)

    monkeypatch.setattr(rebalance_solve, "solve_and_linger", solving)
    with pytest.raises(RuntimeError, match="the second part failed"):
        solve_rebalancing(_two_parts((2, 3)), 4.0, 0.0)
    assert events == ["solved", "stop first"]


def test_a_failed_search_stops_the_next_parts_search_too(monkeypatch) -> None:  # noqa: ANN001
    """The first part's lingering search fails when read, once the second part is solved:
    the failure is raised and the second part's search is stopped."""
    monkeypatch.setattr(rebalance_solve, "SEARCH_PAIRS", 1)
    events: list[str] = []
    solve = rebalance_solve.solve_and_linger

    def solving(problem, model, start, time_limit, rel_gap, relaxed=None, *,  # noqa: ANN001, ANN202
                linger_until=None, on_built=None):  # noqa: ANN001
        name = "second" if events else "first"
        result, _ = solve(problem, model, start, time_limit, rel_gap, relaxed,
                          on_built=on_built)
        events.append(f"solved {name}")
        return result, _Recorder(events, name, result, fails=name == "first")

    monkeypatch.setattr(rebalance_solve, "solve_and_linger", solving)
    with pytest.raises(RuntimeError, match="the search of first failed"):
        solve_rebalancing(_two_parts((2, 3, 4)), 6.0, 0.0)
    assert events == ["solved first", "stop first", "solved second", "read first",
                      "stop second"]
