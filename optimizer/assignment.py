"""Generalized assignment on sparse eligible pairs, in Pyomo, solved by HiGHS (DESIGN §4).

The shared core of CRA rebalancing and of the OR-Library check: jobs (sites)
go to exactly one eligible agent (CRA); each agent's load in each period
(month) stays within its capacity, or, when an overload penalty is given, may
exceed it at that price. Data are typed frames keyed by the domain's ids; the
model is built one constraint family at a time on those sparse sets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

Sense = Literal["min", "max"]


class AssignmentError(RuntimeError):
    """The solver did not prove an optimum (and the caller did not accept less)."""


@dataclass(frozen=True)
class AssignmentProblem:
    """``pairs``: agent, job, cost (eligible pairs only), and optionally ``move`` (True
    where giving the job to that agent moves it away from its current agent); ``load``:
    agent, job, period, amount (what the job takes of the agent's capacity in that
    period); ``capacity``: agent, period, capacity. ``overload_penalty`` None makes
    capacities hard; ``max_moves`` caps the number of moves; ``max_jobs_per_agent``
    caps how many jobs one agent holds; ``groups`` (job, group: a site's study) with
    ``group_penalty`` charges each agent working on a group, so a group's jobs stay
    with few agents (``worked``: pairs of agent and group that are paid for already, by jobs
    outside the model)."""

    pairs: pd.DataFrame
    load: pd.DataFrame
    capacity: pd.DataFrame
    sense: Sense = "min"
    overload_penalty: float | None = None
    max_moves: int | None = None
    max_jobs_per_agent: int | None = None
    groups: pd.DataFrame | None = None
    group_penalty: float = 0.0
    worked: frozenset[tuple] = frozenset()  # (agent, group) already paid for: free to join

    @property
    def spreads_groups(self) -> bool:
        return self.groups is not None and self.group_penalty > 0


@dataclass(frozen=True)
class AssignmentResult:
    assignment: pd.DataFrame  # job, agent
    overload: pd.DataFrame  # agent, period, hours over capacity (only positive ones)
    objective: float
    bound: float
    status: str  # "optimal", or "time_limit" with an incumbent
    build_seconds: float
    solve_seconds: float
    constant: float = 0.0  # the part of objective and bound no decision changes

    @property
    def gap(self) -> float:
        """Relative gap |objective − bound| / |objective − constant| (0 when proven
        optimal): constants would only make the gap look smaller than it is."""
        if self.objective == self.bound:
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective - self.constant), 1e-9)


def _pair_index(problem: AssignmentProblem) -> list[tuple]:
    return list(zip(problem.pairs["agent"], problem.pairs["job"], strict=True))


def add_assignment_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """Each job goes to exactly one eligible agent:  Σ_{a ∈ A(j)} x[a, j] = 1  ∀ j."""
    agents_of = problem.pairs.groupby("job")["agent"].agg(list)
    model.jobs = pyo.Set(initialize=list(agents_of.index))

    def rule(m: pyo.ConcreteModel, job: object) -> pyo.Expression:
        return pyo.quicksum(m.x[agent, job] for agent in agents_of[job]) == 1

    model.assign = pyo.Constraint(model.jobs, rule=rule)


def add_capacity_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """Per agent a and period t:  Σ_j load[a, j, t] · x[a, j] ≤ capacity[a, t] (+ over[a, t]
    when overload is allowed, 0 ≤ over)."""
    load = problem.load[problem.load["amount"] != 0]
    terms = load.groupby(["agent", "period"])[["job", "amount"]].apply(
        lambda g: list(zip(g["job"], g["amount"], strict=True)))
    capacity = problem.capacity.set_index(["agent", "period"])["capacity"]
    keys = [k for k in terms.index]
    model.agent_periods = pyo.Set(initialize=keys, dimen=2)
    if problem.overload_penalty is not None:
        model.over = pyo.Var(model.agent_periods, domain=pyo.NonNegativeReals)

    def rule(m: pyo.ConcreteModel, agent: object, period: object) -> pyo.Expression:
        used = pyo.quicksum(amount * m.x[agent, job] for job, amount in terms[agent, period])
        limit = float(capacity.get((agent, period), 0.0))
        if problem.overload_penalty is not None:
            return used <= limit + m.over[agent, period]
        return used <= limit

    model.capacity = pyo.Constraint(model.agent_periods, rule=rule)


def add_move_budget_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """At most K jobs leave their current agent:  Σ_{(a, j) : move} x[a, j] ≤ K."""
    if problem.max_moves is None:
        return
    moving = [p for p, flag in zip(_pair_index(problem), problem.pairs["move"], strict=True)
              if flag]
    model.move_budget = pyo.Constraint(
        expr=pyo.quicksum(model.x[p] for p in moving) <= problem.max_moves)


def add_agent_job_limit_constraints(model: pyo.ConcreteModel,
                                    problem: AssignmentProblem) -> None:
    """At most M jobs per agent:  Σ_{j ∈ J(a)} x[a, j] ≤ M  ∀ a."""
    if problem.max_jobs_per_agent is None:
        return
    jobs_of = problem.pairs.groupby("agent")["job"].agg(list)
    jobs_of = jobs_of[jobs_of.map(len) > problem.max_jobs_per_agent]
    model.limited_agents = pyo.Set(initialize=list(jobs_of.index))
    model.agent_job_limit = pyo.Constraint(
        model.limited_agents, rule=lambda m, agent: pyo.quicksum(
            m.x[agent, job] for job in jobs_of[agent]) <= problem.max_jobs_per_agent)


def _agent_groups(pairs: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Eligible pairs with their job's group: (agent, job, group)."""
    return pairs[["agent", "job"]].merge(groups[["job", "group"]], on="job")


def add_group_spread_constraints(model: pyo.ConcreteModel,
                                 problem: AssignmentProblem) -> None:
    """An agent works on a group as soon as it holds one of its jobs:
    y[a, g] ≥ x[a, j]  ∀ (a, j) eligible, j ∈ g; y ∈ {0, 1} is charged in the objective
    (the disaggregated form keeps the LP relaxation tight)."""
    if problem.groups is None or problem.group_penalty <= 0:
        return
    rows = _agent_groups(problem.pairs, problem.groups)
    if problem.worked:
        paid = [(a, g) in problem.worked for a, g in zip(rows["agent"], rows["group"],
                                                       strict=True)]
        rows = rows[~pd.Series(paid, index=rows.index, dtype=bool)]
    model.agent_groups = pyo.Set(
        initialize=list(rows[["agent", "group"]].drop_duplicates().itertuples(
            index=False, name=None)), dimen=2)
    model.works_on = pyo.Var(model.agent_groups, domain=pyo.Binary)
    model.pair_groups = pyo.Set(initialize=list(rows.itertuples(index=False, name=None)),
                                dimen=3)
    model.group_spread = pyo.Constraint(
        model.pair_groups,
        rule=lambda m, agent, job, group: m.works_on[agent, group] >= m.x[agent, job])


def add_objective(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """min (or max) Σ cost[a, j] x[a, j]  −/+ penalty · Σ over[a, t] (overload always costs)
    + group penalty · Σ y[a, g] (each agent on a group costs)."""
    cost = dict(zip(_pair_index(problem), problem.pairs["cost"].astype(float), strict=True))
    expression = pyo.quicksum(c * model.x[p] for p, c in cost.items())
    sign = 1.0 if problem.sense == "min" else -1.0
    if problem.overload_penalty is not None:
        expression = expression + sign * problem.overload_penalty * pyo.quicksum(
            model.over[k] for k in model.agent_periods)
    if problem.spreads_groups:
        expression = expression + sign * problem.group_penalty * pyo.quicksum(
            model.works_on[k] for k in model.agent_groups)
    model.objective = pyo.Objective(
        expr=expression, sense=pyo.minimize if problem.sense == "min" else pyo.maximize)


def build_model(problem: AssignmentProblem) -> pyo.ConcreteModel:
    """The Pyomo model: x on eligible pairs, then each constraint family, then the objective."""
    model = pyo.ConcreteModel(name="generalized_assignment")
    model.pairs = pyo.Set(initialize=_pair_index(problem), dimen=2)
    model.x = pyo.Var(model.pairs, domain=pyo.Binary)
    add_assignment_constraints(model, problem)
    add_capacity_constraints(model, problem)
    add_move_budget_constraints(model, problem)
    add_agent_job_limit_constraints(model, problem)
    add_group_spread_constraints(model, problem)
    add_objective(model, problem)
    return model


def objective_of(problem: AssignmentProblem, assignment: pd.DataFrame,
                 overload: pd.DataFrame) -> float:
    """The objective recomputed from a solution (not the solver's floating value)."""
    costs = assignment.merge(problem.pairs, on=["agent", "job"], how="left")["cost"]
    value = float(costs.sum())
    sign = 1.0 if problem.sense == "min" else -1.0
    if problem.overload_penalty is not None and len(overload):
        value += sign * problem.overload_penalty * float(overload["hours"].sum())
    if problem.spreads_groups:
        value += sign * problem.group_penalty * groups_worked(problem, assignment)
    return value


def groups_worked(problem: AssignmentProblem, assignment: pd.DataFrame) -> int:
    """How many (agent, group) pairs an assignment has: what the group penalty counts."""
    if problem.groups is None:
        return 0
    held = assignment.merge(problem.groups[["job", "group"]], on="job")
    pairs = set(zip(held["agent"], held["group"], strict=True))
    return len(pairs - problem.worked)


def fixed_result(problem: AssignmentProblem) -> AssignmentResult:
    """The result of a problem with one eligible agent per job: nothing to solve."""
    assignment = problem.pairs[["job", "agent"]].sort_values("job", kind="stable")
    used = problem.load.groupby(["agent", "period"])["amount"].sum().rename("used")
    table = problem.capacity.set_index(["agent", "period"]).join(used, how="outer").fillna(0.0)
    table["hours"] = table["used"] - table["capacity"]
    over = table.loc[table["hours"] > 1e-6, ["hours"]].reset_index()
    if problem.overload_penalty is None and len(over):
        raise AssignmentError("the assignment is infeasible: the jobs cannot all fit within "
                              "the agents' capacities")
    value = objective_of(problem, assignment, over)
    return AssignmentResult(assignment.reset_index(drop=True), over, value, value,
                            "optimal", 0.0, 0.0)


def _warm_start(solver: object, model: pyo.ConcreteModel, problem: AssignmentProblem,
                start: pd.DataFrame) -> None:
    """Hand HiGHS a starting solution (x from ``start``, the overload it implies), through
    the persistent interface's HiGHS object: Pyomo's HiGHS interface has no warm start."""
    chosen = set(zip(start["agent"], start["job"], strict=True))
    values = {id(model.x[p]): float(p in chosen) for p in model.pairs}
    if problem.overload_penalty is not None:
        used = start.merge(problem.load, on=["agent", "job"]).groupby(
            ["agent", "period"])["amount"].sum()
        capacity = problem.capacity.set_index(["agent", "period"])["capacity"]
        for key in model.agent_periods:
            values[id(model.over[key])] = max(0.0, float(used.get(key, 0.0))
                                              - float(capacity.get(key, 0.0)))
    if problem.groups is not None and problem.spreads_groups:
        held = start.merge(problem.groups[["job", "group"]], on="job")
        for key in set(zip(held["agent"], held["group"], strict=True)) - problem.worked:
            values[id(model.works_on[key])] = 1.0
    columns = solver._pyomo_var_to_solver_var_map  # noqa: SLF001 - no public warm start
    col_value = [0.0] * len(columns)
    for var_id, column in columns.items():
        col_value[column] = values.get(var_id, 0.0)
    solution = highspy.HighsSolution()
    solution.col_value = col_value
    solution.value_valid = True
    solver._solver_model.setSolution(solution)  # noqa: SLF001


def solve_assignment(problem: AssignmentProblem, time_limit: float = 60.0,
                     rel_gap: float = 1e-6, threads: int | None = None,
                     accept_incumbent: bool = False,
                     start: pd.DataFrame | None = None) -> AssignmentResult:
    """Build and solve with HiGHS (Pyomo's persistent interface), from ``start`` (job,
    agent rows, e.g. the greedy's) when given. A result that is not proven optimal
    raises :class:`AssignmentError` unless ``accept_incumbent`` and the time limit left
    a feasible incumbent."""
    started = time.perf_counter()
    model = build_model(problem)
    built = time.perf_counter()
    solver = SolverFactory("highs")
    if start is not None:
        solver.set_instance(model)
        _warm_start(solver, model, problem, start)
    options = {"time_limit": time_limit, "rel_gap": rel_gap, "load_solutions": False,
               "raise_exception_on_nonoptimal_result": False}
    if threads:
        options["threads"] = threads
    results = solver.solve(model, **options)
    solved = time.perf_counter()
    condition = results.termination_condition
    if condition == TerminationCondition.convergenceCriteriaSatisfied:
        status = "optimal"
    elif (accept_incumbent and results.solution_status == SolutionStatus.feasible
          and condition == TerminationCondition.maxTimeLimit):
        status = "time_limit"
    elif condition in (TerminationCondition.provenInfeasible,
                       TerminationCondition.infeasibleOrUnbounded):
        raise AssignmentError("the assignment is infeasible: the jobs cannot all fit within "
                              "the agents' capacities")
    else:
        raise AssignmentError(f"no proven optimum: HiGHS stopped with {condition.name} "
                              f"({results.solution_status.name}) after {solved - built:.1f} s")
    results.solution_loader.load_vars()
    chosen = [p for p in model.pairs if model.x[p].value > 0.5]
    assignment = pd.DataFrame(chosen, columns=["agent", "job"])[["job", "agent"]]
    over = []
    if problem.overload_penalty is not None:
        over = [(a, t, model.over[a, t].value) for a, t in model.agent_periods
                if model.over[a, t].value and model.over[a, t].value > 1e-6]
    overload = pd.DataFrame(over, columns=["agent", "period", "hours"])
    return AssignmentResult(
        assignment=assignment.sort_values("job", kind="stable").reset_index(drop=True),
        overload=overload, objective=objective_of(problem, assignment, overload),
        bound=float(results.objective_bound if results.objective_bound is not None
                    else np.nan),
        status=status, build_seconds=built - started, solve_seconds=solved - built)
