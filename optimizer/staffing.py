"""Staffing plan: who meets each role × study × month of demand, at least cost (DESIGN §4).

A MILP in Pyomo, solved by HiGHS. Demand hours D[r, s, t] (role, study, month) are met
by named staff h[p, r, s, t] (person p qualified for role r: their own role, the roles
their role covers, and the roles they personally cover), new hires z[r, s, t] (integer
FTE n[r, t] hired by role and month, working from their lead time on and staying to
the horizon's end), contractors c[r, s, t] at a premium, or unmet demand u[r, s, t] at a
large penalty, so a plan always exists. A person's capacity is per month (cap[p, t]:
their monthly capacity less that month's leave), and h exists only where cap[p, t] > 0.
Options limit the studies a person works on a month (binary y[p, s, t]) and a person's
month-to-month change of hours on a study (churn: a hard limit, a penalty, or both).

Costs are floats in one planning currency (the caller converts): they are planning
costs to compare choices, not payments, so they need not be exact Decimals.

The objective's named-staff term is a choice (``staff_cost``):

* ``"used"`` (default): each hour of named staff costs that person's rate, as a study is
  charged for the hours it books. The plan then prefers the cheapest qualified person,
  and a senior covers a junior role only when their rate beats a contractor or a hire;
  idle staff cost nothing in the plan.
* ``"sunk"``: named staff are paid anyway, so their hours cost nothing and only hires,
  contractors, unmet demand (and churn) are minimized: any idle qualified person is
  used before money is spent. Ties between named staff are then broken arbitrarily.

Hires are paid for every month from their start to the horizon's end, whether used
or not (``rate × hours`` per FTE-month), so a hire near the horizon's end looks cheap:
the horizon is the plan's whole world.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory

from optimizer.runs import highs_status, relative_gap

UNMET_PENALTY = 1_000.0  # per hour of demand nobody meets: above any contractor rate
StaffCost = Literal["used", "sunk"]
PLAN_COLUMNS = ["role", "study_id", "month", "source", "hours"]
HIRE = "hire"
CONTRACTOR = "contractor"
UNMET = "unmet"


class StaffingError(RuntimeError):
    """The solver did not prove an optimum (and the caller did not accept less)."""


def _no_rows(*columns: str) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass(frozen=True)
class StaffingProblem:
    """``demand``: role, study_id, month, hours. ``staff``: staff_id, role, capacity (hours
    a month), rate (per hour). ``capacity``: staff_id, month, capacity (one person's hours
    in one month, e.g. less leave; replaces the staff row's capacity that month; one row
    per person and month). ``coverage``: role, covers (whoever holds ``role`` may work
    on ``covers`` demand, at their own rate; the own role is always covered).
    ``staff_covers``: staff_id, covers (one person's extra roles, e.g. a senior CRA).
    ``hires``: role, rate (per paid hour), hours (paid hours per FTE-month), capacity
    (plannable hours per FTE-month), lead_months (a hire works from month index ≥ lead,
    the horizon's first month being 0), max_fte (NaN: no cap). ``contractors``: role,
    rate, max_hours (per month over all studies; NaN: no cap). ``months``: the horizon
    in order (default: the demand's months, sorted). Roles absent from ``hires`` or
    ``contractors`` cannot be hired or contracted."""

    demand: pd.DataFrame
    staff: pd.DataFrame
    coverage: pd.DataFrame = field(default_factory=lambda: _no_rows("role", "covers"))
    hires: pd.DataFrame = field(default_factory=lambda: _no_rows(
        "role", "rate", "hours", "capacity", "lead_months", "max_fte"))
    contractors: pd.DataFrame = field(default_factory=lambda: _no_rows(
        "role", "rate", "max_hours"))
    staff_covers: pd.DataFrame = field(default_factory=lambda: _no_rows("staff_id", "covers"))
    capacity: pd.DataFrame = field(default_factory=lambda: _no_rows(
        "staff_id", "month", "capacity"))
    months: tuple[str, ...] | None = None
    unmet_penalty: float = UNMET_PENALTY
    max_studies: int | None = None
    max_churn: float | None = None
    churn_penalty: float = 0.0
    staff_cost: StaffCost = "used"

    @property
    def horizon(self) -> list[str]:
        return list(self.months) if self.months else sorted(set(self.demand["month"]))


@dataclass(frozen=True)
class StaffingPlan:
    plan: pd.DataFrame  # role, study_id, month, source (staff_id, hire, contractor, unmet), hours
    hires: pd.DataFrame  # role, month, fte: new hires starting that month
    costs: dict[str, float]  # staff, hire, contractor, unmet, churn (recomputed from the plan)
    objective: float  # the counted costs recomputed from the plan
    solver_objective: float  # HiGHS's value of the same plan: the two must agree
    bound: float
    status: str  # "optimal", or "time_limit" with an incumbent
    build_seconds: float
    solve_seconds: float

    @property
    def gap(self) -> float:
        """Relative gap |objective − bound| / |objective| (0 when proven optimal)."""
        if self.status == "optimal" or np.isnan(self.bound):
            return 0.0 if self.status == "optimal" else float("nan")
        return relative_gap(self.objective, self.bound)

    @property
    def unmet(self) -> pd.DataFrame:
        """role, study_id, month, hours of demand nobody meets."""
        rows = self.plan[self.plan["source"] == UNMET]
        return rows[["role", "study_id", "month", "hours"]].reset_index(drop=True)

    def explain(self) -> list[str]:
        """Unmet demand in words, one line per role and study (empty when all is met)."""
        lines = []
        for (role, study), rows in self.unmet.groupby(["role", "study_id"], sort=True):
            months = sorted(rows["month"])
            when = (", ".join(months) if len(months) <= 3
                    else f"{months[0]} to {months[-1]}")
            lines.append(f"{role} on {study}: {rows['hours'].sum():,.1f} hours unmet in "
                         f"{len(months)} month{'s' if len(months) > 1 else ''} ({when}): "
                         "no qualified staff, hire or contractor hours left")
        return lines


@dataclass
class _Index:
    """The model's sparse index sets, built once from the frames."""

    months: list[str]
    position: dict[str, int]
    demand: dict[tuple[str, str, str], float]  # (role, study, month) → hours
    staff_rows: list[tuple[str, str, str, str]]  # (person, role, study, month) of h
    capacity: dict[tuple[str, str], float]  # (person, month) → cap[p, t], hours
    rate: dict[str, float]
    hire_rows: list[tuple[str, str, str]]  # (role, study, month) of z
    hire_starts: list[tuple[str, str]]  # (role, month) of n
    hire: dict[str, dict]  # role → its hires row
    contract_rows: list[tuple[str, str, str]]  # (role, study, month) of c
    contract: dict[str, dict]


def _index(problem: StaffingProblem) -> _Index:
    months = problem.horizon
    position = {m: i for i, m in enumerate(months)}
    demand = problem.demand[problem.demand["hours"] > 0]
    demand = demand.groupby(["role", "study_id", "month"])["hours"].sum()
    staff = problem.staff.astype({"staff_id": str, "role": str})
    by_role = staff[["staff_id", "role"]].merge(problem.coverage, on="role")
    qualified = pd.concat([staff[["staff_id", "role"]],
                           by_role[["staff_id", "covers"]].rename(columns={"covers": "role"}),
                           problem.staff_covers.rename(columns={"covers": "role"})])
    qualified = qualified[qualified["staff_id"].isin(staff["staff_id"])].drop_duplicates()
    rows = demand.reset_index()[["role", "study_id", "month"]]
    staff_rows = qualified.merge(rows, on="role")
    capacity = _capacity(problem, staff, set(months) | set(rows["month"]))
    hires = {r: row for r, row in problem.hires.set_index("role").to_dict("index").items()
             if not (pd.notna(row["max_fte"]) and row["max_fte"] <= 0)}
    hire_rows = [k for k in demand.index
                 if k[0] in hires and position[k[2]] >= int(hires[k[0]]["lead_months"])]
    hire_starts = [(r, m) for r, row in hires.items() for m in months
                   if position[m] >= int(row["lead_months"])]
    contract = problem.contractors.set_index("role").to_dict("index")
    return _Index(
        months=months, position=position, demand=demand.to_dict(),
        staff_rows=[k for k in staff_rows[["staff_id", "role", "study_id", "month"]]
                    .itertuples(index=False, name=None) if capacity[k[0], k[3]] > 0],
        capacity=capacity,
        rate=dict(zip(staff["staff_id"], staff["rate"].astype(float), strict=True)),
        hire_rows=hire_rows, hire_starts=hire_starts, hire=hires,
        contract_rows=[k for k in demand.index if k[0] in contract], contract=contract)


def _capacity(problem: StaffingProblem, staff: pd.DataFrame, months: set[str]
              ) -> dict[tuple[str, str], float]:
    """cap[p, t]: the staff row's capacity every month, replaced by the ``capacity`` rows
    (people and months outside the problem are ignored)."""
    capacity = {(p, m): c for p, c in zip(staff["staff_id"], staff["capacity"].astype(float),
                                          strict=True) for m in months}
    rows = problem.capacity.astype({"staff_id": str, "month": str})
    for p, m, c in rows[["staff_id", "month", "capacity"]].itertuples(index=False):
        if (p, m) in capacity:
            capacity[p, m] = float(c)
    return capacity


def _person_study_load(model: pyo.ConcreteModel, index: _Index) -> dict[tuple, list]:
    """(person, study, month) → the h variables of that person on that study that month."""
    terms: dict[tuple, list] = defaultdict(list)
    for p, r, s, m in index.staff_rows:
        terms[p, s, m].append(model.h[p, r, s, m])
    return terms


def add_demand_constraints(model: pyo.ConcreteModel, index: _Index) -> None:
    """Every hour of demand has a source, for each role r, study s, month t:
    Σ_{p qualified for r} h[p, r, s, t] + z[r, s, t] + c[r, s, t] + u[r, s, t] = D[r, s, t]
    (z only from the role's lead time on, z and c only where hiring/contracting exist)."""
    sources: dict[tuple, list] = defaultdict(list)
    for p, r, s, m in index.staff_rows:
        sources[r, s, m].append(model.h[p, r, s, m])
    for key in index.hire_rows:
        sources[key].append(model.z[key])
    for key in index.contract_rows:
        sources[key].append(model.c[key])

    def rule(m: pyo.ConcreteModel, role: str, study: str, month: str) -> pyo.Expression:
        key = (role, study, month)
        return pyo.quicksum(sources[key]) + m.u[key] == index.demand[key]

    model.meet = pyo.Constraint(model.demand_keys, rule=rule)


def add_capacity_constraints(model: pyo.ConcreteModel, index: _Index) -> None:
    """Nobody works more than their capacity that month, for each person p and month t:
    Σ_{r, s} h[p, r, s, t] ≤ cap[p, t] (monthly capacity less that month's leave)."""
    terms: dict[tuple, list] = defaultdict(list)
    for p, r, s, m in index.staff_rows:
        terms[p, m].append(model.h[p, r, s, m])
    model.person_months = pyo.Set(initialize=sorted(terms), dimen=2)
    model.capacity = pyo.Constraint(model.person_months, rule=lambda m, p, t: (
        pyo.quicksum(terms[p, t]) <= index.capacity[p, t]))


def add_study_limit_constraints(model: pyo.ConcreteModel, index: _Index,
                                max_studies: int | None) -> None:
    """At most K studies a person and month, with y[p, s, t] ∈ {0, 1}:
    Σ_r h[p, r, s, t] ≤ cap[p, t] · y[p, s, t]   and   Σ_s y[p, s, t] ≤ K."""
    if max_studies is None:
        return
    terms = _person_study_load(model, index)
    model.person_studies = pyo.Set(initialize=sorted(terms), dimen=3)
    model.y = pyo.Var(model.person_studies, domain=pyo.Binary)
    model.on_study = pyo.Constraint(model.person_studies, rule=lambda m, p, s, t: (
        pyo.quicksum(terms[p, s, t]) <= index.capacity[p, t] * m.y[p, s, t]))
    studies: dict[tuple, list] = defaultdict(list)
    for p, s, t in terms:
        studies[p, t].append(model.y[p, s, t])
    model.study_limit = pyo.Constraint(model.person_months, rule=lambda m, p, t: (
        pyo.quicksum(studies[p, t]) <= max_studies))


def add_hire_constraints(model: pyo.ConcreteModel, index: _Index) -> None:
    """Hires work only once hired: for role r and month t,
    Σ_s z[r, s, t] ≤ capacity_r · Σ_{τ ≤ t} n[r, τ], with n[r, τ] ∈ ℤ≥0 defined only for
    τ ≥ lead_r (so z is 0 before the lead time), and Σ_τ n[r, τ] ≤ max_fte_r."""
    hours: dict[tuple, list] = defaultdict(list)
    for r, s, m in index.hire_rows:
        hours[r, m].append(model.z[r, s, m])
    starts: dict[str, list] = defaultdict(list)
    for r, m in index.hire_starts:
        starts[r].append(m)

    def staffed(m: pyo.ConcreteModel, role: str, month: str) -> pyo.Expression:
        hired = [m.n[role, t] for t in starts[role]
                 if index.position[t] <= index.position[month]]
        limit = float(index.hire[role]["capacity"]) * pyo.quicksum(hired) if hired else 0.0
        return pyo.quicksum(hours[role, month]) <= limit

    model.hire_months = pyo.Set(initialize=sorted(hours), dimen=2)
    model.hired_hours = pyo.Constraint(model.hire_months, rule=staffed)
    capped = sorted({r for r, _ in index.hire_starts if pd.notna(index.hire[r]["max_fte"])})
    model.hire_cap = pyo.Constraint(capped, rule=lambda m, r: (
        pyo.quicksum(m.n[r, t] for t in starts[r]) <= float(index.hire[r]["max_fte"])))


def add_contractor_constraints(model: pyo.ConcreteModel, index: _Index) -> None:
    """Contractor hours a month are capped where a cap is given, for role r and month t:
    Σ_s c[r, s, t] ≤ max_hours_r."""
    hours: dict[tuple, list] = defaultdict(list)
    for r, s, m in index.contract_rows:
        if pd.notna(index.contract[r].get("max_hours", np.nan)):
            hours[r, m].append(model.c[r, s, m])
    model.contract_months = pyo.Set(initialize=sorted(hours), dimen=2)
    model.contract_cap = pyo.Constraint(model.contract_months, rule=lambda m, r, t: (
        pyo.quicksum(hours[r, t]) <= float(index.contract[r]["max_hours"])))


def add_churn_constraints(model: pyo.ConcreteModel, index: _Index, max_churn: float | None,
                          penalty: float) -> None:
    """Month-to-month change of a person's hours on a study, for t ≥ 1 (the month before
    the horizon is unknown, so the first month is free): with L[p, s, t] = Σ_r h[p, r, s, t],
    d[p, s, t] ≥ L[p, s, t] − L[p, s, t−1],  d[p, s, t] ≥ L[p, s, t−1] − L[p, s, t],
    0 ≤ d[p, s, t] ≤ max_churn (when given); d costs ``penalty`` an hour."""
    if max_churn is None and penalty <= 0:
        return
    terms = _person_study_load(model, index)
    months = index.months
    keys = sorted({(p, s, months[index.position[t] + d]) for p, s, t in terms
                   for d in (0, 1) if 0 < index.position[t] + d < len(months)})
    model.churn_keys = pyo.Set(initialize=keys, dimen=3)
    model.d = pyo.Var(model.churn_keys, domain=pyo.NonNegativeReals,
                      bounds=(0, max_churn))

    def change(p: str, s: str, t: str) -> pyo.Expression:
        before = months[index.position[t] - 1]
        return pyo.quicksum(terms.get((p, s, t), [])) - pyo.quicksum(
            terms.get((p, s, before), []))

    model.churn_up = pyo.Constraint(model.churn_keys, rule=lambda m, p, s, t: (
        m.d[p, s, t] >= change(p, s, t)))
    model.churn_down = pyo.Constraint(model.churn_keys, rule=lambda m, p, s, t: (
        m.d[p, s, t] >= -change(p, s, t)))


def add_objective(model: pyo.ConcreteModel, index: _Index, problem: StaffingProblem) -> None:
    """min Σ rate_p h[p, r, s, t] (``staff_cost="used"`` only)
    + Σ_{r, τ} rate_r · hours_r · (T − τ) · n[r, τ]   (hired FTE paid to the horizon's end)
    + Σ crate_r c[r, s, t] + penalty · Σ u[r, s, t] + churn_penalty · Σ d[p, s, t]."""
    total = len(index.months)
    terms = [float(index.hire[r]["rate"]) * float(index.hire[r]["hours"])
             * (total - index.position[m]) * model.n[r, m] for r, m in index.hire_starts]
    terms += [float(index.contract[r]["rate"]) * model.c[r, s, m]
              for r, s, m in index.contract_rows]
    terms.append(problem.unmet_penalty * pyo.quicksum(model.u.values()))
    if problem.staff_cost == "used":
        terms += [index.rate[p] * model.h[p, r, s, m] for p, r, s, m in index.staff_rows]
    if problem.churn_penalty > 0 and hasattr(model, "d"):
        terms.append(problem.churn_penalty * pyo.quicksum(model.d.values()))
    model.objective = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.minimize)


def build_model(problem: StaffingProblem) -> tuple[pyo.ConcreteModel, _Index]:
    """The Pyomo model: variables on the sparse sets, each constraint family, the objective."""
    index = _index(problem)
    model = pyo.ConcreteModel(name="staffing")
    model.demand_keys = pyo.Set(initialize=list(index.demand), dimen=3)
    model.h = pyo.Var(pyo.Set(initialize=index.staff_rows, dimen=4),
                      domain=pyo.NonNegativeReals)
    model.z = pyo.Var(pyo.Set(initialize=index.hire_rows, dimen=3), domain=pyo.NonNegativeReals)
    model.n = pyo.Var(pyo.Set(initialize=index.hire_starts, dimen=2),
                      domain=pyo.NonNegativeIntegers)
    model.c = pyo.Var(pyo.Set(initialize=index.contract_rows, dimen=3),
                      domain=pyo.NonNegativeReals)
    model.u = pyo.Var(model.demand_keys, domain=pyo.NonNegativeReals)
    add_demand_constraints(model, index)
    add_capacity_constraints(model, index)
    add_study_limit_constraints(model, index, problem.max_studies)
    add_hire_constraints(model, index)
    add_contractor_constraints(model, index)
    add_churn_constraints(model, index, problem.max_churn, problem.churn_penalty)
    add_objective(model, index, problem)
    return model, index


def costs_of(problem: StaffingProblem, plan: pd.DataFrame, hires: pd.DataFrame
             ) -> dict[str, float]:
    """The plan's cost terms recomputed from its rows (not the solver's floating value)."""
    months = problem.horizon
    named = plan[~plan["source"].isin([HIRE, CONTRACTOR, UNMET])]
    rate = dict(zip(problem.staff["staff_id"].astype(str), problem.staff["rate"], strict=True))
    hire = problem.hires.set_index("role")
    contract = problem.contractors.set_index("role")["rate"]
    bought = plan[plan["source"] == CONTRACTOR]
    load = named.groupby(["source", "study_id", "month"])["hours"].sum().unstack("month")
    load = load.reindex(columns=months).fillna(0.0).to_numpy()
    return {
        "staff": float((named["hours"] * named["source"].map(rate)).sum()),
        "hire": float(sum(f * hire.at[r, "rate"] * hire.at[r, "hours"]
                          * (len(months) - months.index(m))
                          for r, m, f in hires[["role", "month", "fte"]].itertuples(
                              index=False))),
        "contractor": float((bought["hours"] * bought["role"].map(contract)).sum()),
        "unmet": float(plan.loc[plan["source"] == UNMET, "hours"].sum()
                       * problem.unmet_penalty),
        "churn": float(np.abs(np.diff(load, axis=1)).sum() * problem.churn_penalty
                       if load.size else 0.0),
    }


def solve_staffing(problem: StaffingProblem, time_limit: float = 60.0, rel_gap: float = 1e-6,
                   accept_incumbent: bool = False) -> StaffingPlan:
    """Build and solve with HiGHS. A plan not proven optimal raises :class:`StaffingError`
    unless ``accept_incumbent`` and the time limit left a feasible incumbent (always
    feasible: unmet demand is a penalized slack)."""
    started = time.perf_counter()
    model, index = build_model(problem)
    built = time.perf_counter()
    results = SolverFactory("highs").solve(
        model, time_limit=time_limit, rel_gap=rel_gap, load_solutions=False,
        raise_exception_on_nonoptimal_result=False)
    solved = time.perf_counter()
    status = highs_status(results, accept_incumbent, solved - built, StaffingError)
    results.solution_loader.load_vars()
    rows = [(r, s, m, p, model.h[p, r, s, m].value) for p, r, s, m in index.staff_rows]
    rows += [(r, s, m, HIRE, model.z[r, s, m].value) for r, s, m in index.hire_rows]
    rows += [(r, s, m, CONTRACTOR, model.c[r, s, m].value) for r, s, m in index.contract_rows]
    rows += [(r, s, m, UNMET, model.u[r, s, m].value) for r, s, m in index.demand]
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    plan = plan[plan["hours"].fillna(0) > 1e-6].sort_values(
        ["role", "study_id", "month", "source"]).reset_index(drop=True)
    hires = pd.DataFrame([(r, m, int(round(model.n[r, m].value or 0)))
                          for r, m in index.hire_starts], columns=["role", "month", "fte"])
    hires = hires[hires["fte"] > 0].reset_index(drop=True)
    costs = costs_of(problem, plan, hires)
    objective = sum(v for k, v in costs.items() if k != "staff" or problem.staff_cost == "used")
    bound = results.objective_bound
    return StaffingPlan(plan, hires, costs, objective, float(results.incumbent_objective),
                        float(bound) if bound is not None else float("nan"), status,
                        built - started, solved - built)
