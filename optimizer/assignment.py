"""Generalized assignment on sparse eligible pairs, in Pyomo, solved by HiGHS (DESIGN §4).

The shared core of CRA rebalancing and of the OR-Library check: jobs (sites)
go to exactly one eligible agent (CRA); each agent's load in each period
(month) stays within its capacity, or, when an overload penalty is given, may
exceed it at that price. Data are typed frames keyed by the domain's ids; the
model is built one constraint family at a time on those sparse sets.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from optimizer.highs_bridge import CompiledModel, compile_model, solve_compiled

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


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The columns' values row by row, as tuples: from lists, as pandas' string arrays hand
    out their items one call at a time when iterated (``zip`` over the columns, or
    ``itertuples``: 0.2–0.4 s of a 77,725-pair part's build)."""
    return list(zip(*(frame[column].tolist() for column in columns), strict=True))


def _pair_index(problem: AssignmentProblem) -> list[tuple]:
    return rows_of(problem.pairs, ["agent", "job"])


def add_assignment_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """Each job goes to exactly one eligible agent:  Σ_{a ∈ A(j)} x[a, j] = 1  ∀ j."""
    variables_of = _pair_variables(model, problem).groupby("job", sort=True)["var"].agg(list)
    model.jobs = pyo.Set(initialize=variables_of.index.tolist())
    options = dict(zip(variables_of.index.tolist(), variables_of.tolist(), strict=True))

    def rule(m: pyo.ConcreteModel, job: object) -> pyo.Expression:
        return LinearExpression(args=options[job]) == 1  # coefficients of 1: the variables

    model.assign = pyo.Constraint(model.jobs, rule=rule)


def _pair_variables(model: pyo.ConcreteModel, problem: AssignmentProblem) -> pd.DataFrame:
    """agent, job, var: each pair's x (looked up once; Pyomo's keyed lookup is what a
    large model's build spends its time on)."""
    return problem.pairs[["agent", "job"]].assign(var=list(model.x.values()))


@dataclass(frozen=True)
class _CapacityTerms:
    """The capacity rows' terms, sorted by agent then period (the names' order), each
    row's terms in the load's order: per term its pair's position and amount; per row its
    (agent, period) and where its terms begin (``starts``)."""

    pair: np.ndarray
    amount: np.ndarray
    rows: list[tuple]
    starts: np.ndarray


def _capacity_terms(problem: AssignmentProblem) -> _CapacityTerms:
    """The non-zero load terms of eligible pairs, found by integer keys (merging and
    sorting the 580,000 terms of a 77,725-pair part by names took 0.4 s of its build)."""
    load = problem.load[problem.load["amount"] != 0]
    n = len(problem.pairs)
    agent, agents = pd.factorize(pd.concat([problem.pairs["agent"], load["agent"]],
                                           ignore_index=True), sort=True)
    job, _ = pd.factorize(pd.concat([problem.pairs["job"], load["job"]], ignore_index=True))
    key = agent.astype(np.int64) * (int(job.max(initial=0)) + 1) + job
    order = np.argsort(key[:n], kind="stable")
    pair_keys = key[:n][order]
    at = np.minimum(np.searchsorted(pair_keys, key[n:]), max(n - 1, 0))
    found = pair_keys[at] == key[n:] if n else np.zeros(len(load), dtype=bool)
    period, periods = pd.factorize(load["period"], sort=True)
    term_agent, term_period = agent[n:][found], period[found]
    sort = np.lexsort((term_period, term_agent))  # stable: the load's order within a row
    term_agent, term_period = term_agent[sort], term_period[sort]
    starts = np.flatnonzero(np.r_[True, (np.diff(term_agent) != 0)
                                  | (np.diff(term_period) != 0)]) if len(sort) else sort
    rows = list(zip(np.asarray(agents, dtype=object)[term_agent[starts]].tolist(),
                    np.asarray(periods, dtype=object)[term_period[starts]].tolist(),
                    strict=True))
    return _CapacityTerms(order[at[found]][sort], load["amount"].to_numpy(float)[found][sort],
                          rows, starts)


def add_capacity_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """Per agent a and period t:  Σ_j load[a, j, t] · x[a, j] ≤ capacity[a, t] (+ over[a, t]
    when overload is allowed, 0 ≤ over)."""
    terms = _capacity_terms(problem)
    x = list(model.x.values())
    amounts, variables = terms.amount.tolist(), [x[i] for i in terms.pair.tolist()]
    ends = np.append(terms.starts[1:], len(terms.pair))
    spans = dict(zip(terms.rows, zip(terms.starts.tolist(), ends.tolist(), strict=True),
                     strict=True))
    capacity = dict(zip(rows_of(problem.capacity, ["agent", "period"]),
                        problem.capacity["capacity"].astype(float).tolist(), strict=True))
    model.agent_periods = pyo.Set(initialize=terms.rows, dimen=2)
    if problem.overload_penalty is not None:
        model.over = pyo.Var(model.agent_periods, domain=pyo.NonNegativeReals)

    def rule(m: pyo.ConcreteModel, agent: object, period: object) -> pyo.Expression:
        first, last = spans[agent, period]
        coefs, row_vars = amounts[first:last], variables[first:last]
        if problem.overload_penalty is not None:  # over inside the one linear expression:
            # Pyomo's compiler walks ``used <= limit + over`` term by term, 3 times slower
            coefs, row_vars = [*coefs, -1.0], [*row_vars, m.over[agent, period]]
        used = LinearExpression(constant=0.0, linear_coefs=coefs, linear_vars=row_vars)
        return used <= capacity.get((agent, period), 0.0)

    model.capacity = pyo.Constraint(model.agent_periods, rule=rule)


def kept_excess(problem: AssignmentProblem) -> pd.DataFrame:
    """agent, period, excess, jobs, hours: agents whose current jobs alone exceed their
    capacity in a period, with those of the jobs that take hours in that period and their
    amounts there (a job idle in the period sheds none of its overload)."""
    owned = problem.pairs.groupby("job")["move"].transform("any")
    current = problem.pairs.loc[owned & ~problem.pairs["move"], ["agent", "job"]]
    held = current.merge(problem.load, on=["agent", "job"])
    held = held[held["amount"] > 0]
    load = held.groupby(["agent", "period"])["amount"].sum().rename("load").reset_index()
    table = load.merge(problem.capacity, on=["agent", "period"], how="left").fillna(
        {"capacity": 0.0})
    table["excess"] = table["load"] - table["capacity"]
    table = table[table["excess"] > 1e-9]
    held = held.merge(table[["agent", "period"]], on=["agent", "period"])  # the lists only
    # for the months over capacity
    active = held.groupby(["agent", "period"]).agg(jobs=("job", list), hours=("amount", list))
    return table.merge(active.reset_index(), on=["agent", "period"])


def shedding_lines(excess: float, hours: list[float]) -> list[tuple[float, float, int]]:
    """(f(r−1), f(r−1) − f(r), r) for r = 1..k: f(L) = max(0, e − the L largest hours) is
    the least overload left when L of the jobs leave; k the fewest that cover e."""
    largest = np.concatenate([[0.0], np.cumsum(np.sort(np.asarray(hours, float))[::-1])])
    least = np.maximum(excess - largest, 0.0)
    lines = []
    for r in range(1, len(largest)):
        lines.append((float(least[r - 1]), float(least[r - 1] - least[r]), r))
        if least[r] <= 1e-9:
            break
    return lines


def add_shedding_constraints(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """An agent whose current jobs alone exceed its capacity in period t by e[a, t] keeps
    overload until enough of them leave. Let J(a, t) be those of its current jobs that
    take hours in t, L = Σ_{j ∈ J(a, t)} (1 − x[a, j]) how many of them leave, and f(L) =
    max(0, e[a, t] − the L largest amounts of J(a, t) in t); every plan has over[a, t] ≥
    f(L) (jobs coming in only add). f is convex in L, so each secant through
    (r − 1, f(r − 1)) and (r, f(r)) is below it at every integer L:
        over[a, t] ≥ f(r − 1) − (f(r − 1) − f(r)) · (L − r + 1),   r = 1..k[a, t]
    (k the fewest jobs that cover e). r = 1 with f(1) = 0 is "give up one or keep the
    overload"; the others stop the LP relaxation from removing overload with fractions
    of the largest jobs where whole jobs must go. Counting only the jobs active in t
    keeps a job that is idle in t from passing for one that sheds t's overload: on the
    largest 2,000 × 20,000 part the LP's bound rose by 1,741 and the root's, in its share,
    by 1,792 over counting all of the agent's jobs (benchmarks/README.md). At CRO scale,
    where HiGHS has no time to branch, the root's bound is the bound."""
    if problem.overload_penalty is None or "move" not in problem.pairs:
        return
    table = kept_excess(problem)
    if table.empty:
        return
    rows = {}
    for r in table.itertuples():
        variables = [model.x[r.agent, job] for job in r.jobs]
        for value, slope, number in shedding_lines(r.excess, r.hours):
            rows[r.agent, r.period, number] = (value, slope, variables)
    model.shedding_lines = pyo.Set(initialize=list(rows), dimen=3)

    def rule(m: pyo.ConcreteModel, agent: object, period: object,
             number: int) -> pyo.Expression:
        value, slope, variables = rows[agent, period, number]
        # f(r−1) − slope·(|J(a, t)| − Σx − r + 1), rearranged: slope·Σx + constant
        kept = LinearExpression(constant=value - slope * (len(variables) - number + 1),
                                linear_coefs=[slope] * len(variables),
                                linear_vars=variables)
        return m.over[agent, period] >= kept

    model.shedding = pyo.Constraint(model.shedding_lines, rule=rule)


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


def _spread_pairs(problem: AssignmentProblem) -> pd.DataFrame:
    """(agent, job, group, alone) of the eligible pairs whose (agent, group) is not paid for
    already; ``alone``: that job is the agent's only eligible one of its group."""
    rows = _agent_groups(problem.pairs, problem.groups)
    if problem.worked:
        paid = [(a, g) in problem.worked for a, g in rows_of(rows, ["agent", "group"])]
        rows = rows[~pd.Series(paid, index=rows.index, dtype=bool)]
    return rows.assign(alone=rows.groupby(["agent", "group"])["job"].transform("size") == 1)


def _charged_alone(problem: AssignmentProblem) -> np.ndarray:
    """Per pair (in the problem's order): its agent pays the group's penalty on it alone."""
    if not problem.spreads_groups:
        return np.zeros(len(problem.pairs), dtype=bool)
    rows = _spread_pairs(problem)
    alone = pd.MultiIndex.from_frame(rows.loc[rows["alone"], ["agent", "job"]])
    return pd.MultiIndex.from_frame(problem.pairs[["agent", "job"]]).isin(alone)


def add_group_spread_constraints(model: pyo.ConcreteModel,
                                 problem: AssignmentProblem) -> None:
    """An agent works on a group as soon as it holds one of its jobs:
    y[a, g] ≥ x[a, j]  ∀ (a, j) eligible, j ∈ g; y ∈ {0, 1} is charged in the objective
    (the disaggregated form keeps the LP relaxation tight). An agent eligible for a
    single job j of g pays on x[a, j] itself (:func:`add_objective`): y[a, g] = x[a, j] at
    any optimum, the LP's included, so the bound is the same with a variable and a row
    fewer per such pair (most pairs at CRO scale: 55,777 of 65,470 on a 4,524-site part)."""
    if not problem.spreads_groups:
        return
    rows = _spread_pairs(problem)
    rows = rows.loc[~rows["alone"], ["agent", "job", "group"]]
    model.agent_groups = pyo.Set(
        initialize=rows_of(rows[["agent", "group"]].drop_duplicates(), ["agent", "group"]),
        dimen=2)
    model.works_on = pyo.Var(model.agent_groups, domain=pyo.Binary)
    keys = rows_of(rows, ["agent", "job", "group"])
    model.pair_groups = pyo.Set(initialize=keys, dimen=3)
    works_on = dict(zip(model.agent_groups, model.works_on.values(), strict=True))
    linked = rows.merge(_pair_variables(model, problem), on=["agent", "job"])  # no keyed
    links = {(a, j, g): (x, works_on[a, g])  # lookups: each pair's x found once
             for a, j, g, x in rows_of(linked, ["agent", "job", "group", "var"])}

    def rule(m: pyo.ConcreteModel, agent: object, job: object, group: object
             ) -> pyo.Expression:
        pair, works_on = links[agent, job, group]
        return works_on >= pair

    model.group_spread = pyo.Constraint(model.pair_groups, rule=rule)


def add_objective(model: pyo.ConcreteModel, problem: AssignmentProblem) -> None:
    """min (or max) Σ cost[a, j] x[a, j]  −/+ penalty · Σ over[a, t] (overload always costs)
    −/+ group penalty · (Σ y[a, g] + Σ x[a, j] over the pairs alone in their group at
    their agent) (each agent on a group costs)."""
    sign = 1.0 if problem.sense == "min" else -1.0
    costs = problem.pairs["cost"].to_numpy(float) + sign * problem.group_penalty * (
        _charged_alone(problem))
    expression = LinearExpression(constant=0.0, linear_coefs=costs.tolist(),
                                  linear_vars=list(model.x.values()))
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
    add_shedding_constraints(model, problem)
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


def overload_of(problem: AssignmentProblem, assignment: pd.DataFrame) -> pd.DataFrame:
    """agent, period, hours over capacity (positive ones only) of an assignment (job, agent)."""
    held = problem.load.merge(assignment[["agent", "job"]], on=["agent", "job"])
    used = held.groupby(["agent", "period"])["amount"].sum().rename("used")
    table = problem.capacity.set_index(["agent", "period"]).join(used, how="outer").fillna(0.0)
    table["hours"] = table["used"] - table["capacity"]
    return table.loc[table["hours"] > 1e-6, ["hours"]].reset_index()


def fixed_result(problem: AssignmentProblem) -> AssignmentResult:
    """The result of a problem with one eligible agent per job: nothing to solve."""
    assignment = problem.pairs[["job", "agent"]].sort_values("job", kind="stable")
    over = overload_of(problem, assignment)
    if problem.overload_penalty is None and len(over):
        raise AssignmentError("the assignment is infeasible: the jobs cannot all fit within "
                              "the agents' capacities")
    value = objective_of(problem, assignment, over)
    return AssignmentResult(assignment.reset_index(drop=True), over, value, value,
                            "optimal", 0.0, 0.0)


def start_values(model: pyo.ConcreteModel, problem: AssignmentProblem,
                  start: pd.DataFrame) -> dict[int, float]:
    """A starting solution for HiGHS: x from ``start`` (job, agent), the overload and the
    groups worked it implies; id(variable) → value."""
    chosen = set(zip(start["agent"], start["job"], strict=True))
    values = {id(model.x[p]): 1.0 for p in model.pairs if p in chosen}
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
            if key in model.works_on:  # else charged on its pair alone
                values[id(model.works_on[key])] = 1.0
    return values


@dataclass(frozen=True)
class BuiltModel:
    """A problem's Pyomo model, loaded into HiGHS, and the seconds that took."""

    model: pyo.ConcreteModel
    compiled: CompiledModel
    seconds: float


def build_for_highs(problem: AssignmentProblem) -> BuiltModel:
    """Build in Pyomo and translate into HiGHS (as whole matrices:
    :mod:`optimizer.linear_form`), with Python's cyclic garbage collector paused, as
    Pyomo's own writers do: the model's million expression objects set off collections
    that scan every object made so far (on a 77,725-pair part: building 3.7–4.8 s with
    it, 1.5–1.7 s without)."""
    started = time.perf_counter()
    with PauseGC():
        model = build_model(problem)
        compiled = compile_model(model)
    return BuiltModel(model, compiled, time.perf_counter() - started)


def release(built: BuiltModel) -> None:
    """Free a solved model's objects now, once nothing reads it any more. Its components
    refer to themselves (a scalar component holds itself as its data), so the whole model
    otherwise waits for the cyclic collector, which the rebalancing pauses: the one
    collection after it scanned every part's models (two million objects on the largest
    2,000 × 20,000 part; 1.06 s of that rebalancing's tail). Deleting the components
    breaks the cycles, and reference counting frees the rows and their expressions at
    once; the variables may stay until a collection (0.3 s of the tail with Pyomo's
    standard-form compiler, whose own cycles held them)."""
    model = built.model
    for component in list(model.component_objects(descend_into=False)):
        model.del_component(component)


def solve_assignment(problem: AssignmentProblem, time_limit: float = 60.0,
                     rel_gap: float = 1e-6, threads: int | None = None,
                     accept_incumbent: bool = False,
                     start: pd.DataFrame | None = None) -> AssignmentResult:
    """Build in Pyomo, solve with HiGHS, from ``start`` (job, agent rows, e.g. the
    greedy's) when given: see :func:`solve_built`."""
    return solve_built(problem, build_for_highs(problem), time_limit, rel_gap, threads,
                       accept_incumbent, start)


def solve_built(problem: AssignmentProblem, built: BuiltModel, time_limit: float = 60.0,
                rel_gap: float = 1e-6, threads: int | None = None,
                accept_incumbent: bool = False,
                start: pd.DataFrame | None = None,
                abandoned: threading.Event | None = None,
                start_columns: np.ndarray | None = None) -> AssignmentResult:
    """Solve a built model with HiGHS, from ``start`` when given (or from
    ``start_columns``, its column vector, made faster from arrays by the caller:
    :mod:`optimizer.plan_columns`). A result that is not
    proven optimal raises :class:`AssignmentError` unless ``accept_incumbent`` and the
    time limit left a feasible incumbent. Build seconds include the translation. Once
    ``abandoned`` is set (the caller went on without this run), HiGHS's return raises
    at once instead of reading the plan back (a second of Python on a large model)."""
    model = built.model
    started = time.perf_counter()
    initial = start_columns if start_columns is not None else (
        start_values(model, problem, start) if start is not None else None)
    run = solve_compiled(built.compiled, time_limit, rel_gap, threads, initial,
                         wanted=lambda: abandoned is None or not abandoned.is_set())
    solved = time.perf_counter()
    if abandoned is not None and abandoned.is_set():
        raise AssignmentError("HiGHS's run was given up on before it ended")
    if run.outcome == "infeasible":
        raise AssignmentError("the assignment is infeasible: the jobs cannot all fit within "
                              "the agents' capacities")
    if run.outcome == "stopped" or (run.outcome == "time_limit" and not accept_incumbent):
        raise AssignmentError(f"no proven optimum: HiGHS stopped ({run.message}) after "
                              f"{solved - started:.1f} s")
    x = run.values
    chosen = [p for p in model.pairs if x.get(id(model.x[p]), 0.0) > 0.5]
    assignment = pd.DataFrame(chosen, columns=["agent", "job"])[["job", "agent"]]
    over = []
    if problem.overload_penalty is not None:
        over = [(a, t, x[id(model.over[a, t])]) for a, t in model.agent_periods
                if x.get(id(model.over[a, t]), 0.0) > 1e-6]
    overload = pd.DataFrame(over, columns=["agent", "period", "hours"])
    return AssignmentResult(
        assignment=assignment.sort_values("job", kind="stable").reset_index(drop=True),
        overload=overload, objective=objective_of(problem, assignment, overload),
        bound=run.bound, status=run.outcome, build_seconds=built.seconds,
        solve_seconds=solved - started)
