"""The assignment core against OR-Library gap1–gap12: all 60 published optima (maximization),
with every invariant recomputed from the solution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.assignment import AssignmentError, AssignmentProblem, solve_assignment
from optimizer.greedy import greedy_assignment
from optimizer.orlib import InstanceFormatError, as_problem, read_gap_file

DATA = Path(__file__).resolve().parents[1] / "data" / "orlib-gap"
# one line per file, in the files' name order (gap1, gap10, gap11, gap12, gap2, ...)
OPTIMA = dict(zip(sorted(f"gap{n}" for n in range(1, 13)),
                  ([int(v) for v in line.split()] for line in
                   (DATA / "opt_gap_1_12.txt").read_text().splitlines() if line.strip()),
                  strict=True))


@pytest.mark.parametrize("number", range(1, 13))
def test_gap_file_solved_to_the_published_optimum(number: int) -> None:
    instances = read_gap_file(DATA / f"gap{number}.txt")
    assert len(instances) == 5
    for instance, published in zip(instances, OPTIMA[f"gap{number}"], strict=True):
        result = solve_assignment(as_problem(instance, "max"), time_limit=60)
        assert result.status == "optimal"
        assignment = result.assignment
        # each job exactly once, to a real agent
        assert sorted(assignment["job"]) == list(range(instance.jobs))
        agents, jobs = assignment["agent"].to_numpy(), assignment["job"].to_numpy()
        # capacities respected, recomputed from the data
        used = np.zeros(instance.agents)
        np.add.at(used, agents, instance.use[agents, jobs])
        assert np.all(used <= instance.capacity)
        # the objective is the published optimum, recomputed from the chosen pairs
        assert instance.cost[agents, jobs].sum() == published == result.objective, instance.name


def test_names_follow_the_published_tables() -> None:
    names = [i.name for i in read_gap_file(DATA / "gap12.txt")]
    assert names == [f"c1060_{k}" for k in range(1, 6)]


def test_an_infeasible_instance_is_an_error_not_a_wrong_answer() -> None:
    instance = read_gap_file(DATA / "gap1.txt")[0]
    tight = as_problem(instance, "min")
    capacity = tight.capacity.assign(capacity=1.0)  # no job fits anywhere
    with pytest.raises(AssignmentError, match="infeasible"):
        solve_assignment(AssignmentProblem(tight.pairs, tight.load, capacity, "min"))


def test_malformed_files_say_what_is_wrong(tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("2 3\n1 2 3\n4 5 6\n")
    with pytest.raises(InstanceFormatError, match="needs 14 numbers"):
        read_gap_file(short)
    text = tmp_path / "text.txt"
    text.write_text("2 3\n1 2 x\n")
    with pytest.raises(InstanceFormatError, match="not all integers"):
        read_gap_file(text)


@pytest.mark.parametrize("number", [1, 6, 12])
def test_greedy_start_is_feasible_and_the_solver_keeps_the_optimum(number: int) -> None:
    """The greedy gives each job one agent within every capacity (recomputed here), never
    better than the optimum; started from it HiGHS still proves the published optimum."""
    for instance, published in zip(read_gap_file(DATA / f"gap{number}.txt"),
                                   OPTIMA[f"gap{number}"], strict=True):
        problem = as_problem(instance, "max")
        start = greedy_assignment(problem)
        assert start is not None and sorted(start["job"]) == list(range(instance.jobs))
        agents, jobs = start["agent"].to_numpy(), start["job"].to_numpy()
        used = np.zeros(instance.agents)
        np.add.at(used, agents, instance.use[agents, jobs])
        assert np.all(used <= instance.capacity)
        assert instance.cost[agents, jobs].sum() <= published
        assert solve_assignment(problem, start=start).objective == published


def test_greedy_reports_no_start_when_nothing_fits() -> None:
    problem = as_problem(read_gap_file(DATA / "gap1.txt")[0], "min")
    tight = AssignmentProblem(problem.pairs, problem.load,
                              problem.capacity.assign(capacity=1.0), "min")
    assert greedy_assignment(tight) is None
