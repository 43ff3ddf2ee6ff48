"""Site activation plan: which candidate sites to activate in which month (DESIGN §4).

A MILP in Pyomo solved by HiGHS. Binary z[i, m] = 1 activates candidate i at
the start of month m, on the sparse pairs with m no earlier than i's earliest
month and starting before the target date D. A site activated at the start
s_m of month m recruits for τ_m = (D − s_m) months before D (days / 30.44,
fractional), so it is expected to randomize r_i·τ_m by D. Open sites add their
expected randomizations as a constant E₀. Costs per pair: the start-up fee,
the monthly site and monitoring costs for τ_m months and the per-patient cost
of the r_i·τ_m expected randomizations. The model needs an expected count μ;
the confidence p is reached by raising μ until the plan's exact probability of
reaching the target (:mod:`optimizer.activation_probability`) is at least p
(:func:`plan_activation`, docs/ACTIVATION.md).

Money here is float (planning figures, not payments); the plan's costs are
reported as Decimal, each line rounded once to the currency's minor unit.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition

from optimizer.runs import highs_status, relative_gap
from planner.money import quantum
from planner.recruitment.history import DAYS_PER_MONTH

COST_PARTS = ("startup", "site_monthly", "monitoring", "per_patient")


class ActivationError(RuntimeError):
    """The solver did not prove an optimum (and the caller did not accept less)."""


@dataclass(frozen=True)
class ActivationProblem:
    """``candidates``: site_id, country, rate (expected randomized per month once active,
    the never-enroll chance included), shape (Gamma shape of the rate), never
    (never-enroll probability), earliest_month (YYYY-MM), startup_fee, monthly_cost
    (site), monitoring_cost (per active month), per_patient_cost — in ``currency``;
    ``open_sites``: site_id, rate, shape of the sites recruiting now; ``capacity``:
    country, month, capacity (start-ups a country can take that month; others get
    ``default_capacity``); ``quarter_budget``: quarter (YYYYQn), budget for the plan's
    expected site payments. ``remaining``: randomizations still needed after the cut."""

    candidates: pd.DataFrame
    open_sites: pd.DataFrame
    cut: dt.date
    target_date: dt.date
    remaining: int
    probability: float
    currency: str
    capacity: pd.DataFrame | None = None
    default_capacity: int = 2
    quarter_budget: pd.DataFrame | None = None

    @property
    def horizon(self) -> float:
        """Months from the cut to the target date."""
        return (self.target_date - self.cut).days / DAYS_PER_MONTH

    @property
    def open_expected(self) -> float:
        """E₀: what the open sites are expected to randomize by the target date."""
        return float(self.open_sites["rate"].sum()) * self.horizon


@dataclass(frozen=True)
class ActivationPlan:
    plan: pd.DataFrame  # site_id, country, activation_month, expected_randomized, cost parts, cost
    cost: dict[str, Decimal]  # startup, site_monthly, monitoring, per_patient, total
    currency: str
    status: str  # optimal, time_limit, not_needed (open sites suffice), infeasible
    remaining: int
    required_expected: float | None  # μ: expected new randomizations the final solve
    # required (None when no solve required one: nothing needed, or infeasible)
    expected_randomized: float  # expected new randomizations of open sites + plan by D
    probability: float  # asked
    achieved_probability: float  # P(new randomizations ≥ remaining) of the plan
    gap: float
    build_seconds: float
    solve_seconds: float
    iterations: list[dict] = field(default_factory=list)  # required, expected, probability
    explanation: list[str] = field(default_factory=list)  # why infeasible, in words
    fpi: dt.date | None = None  # P50 dates of the plan, filled from the recruitment
    lpi: dt.date | None = None  # simulation (optimizer.activation_inputs.with_milestones)


def month_starts(cut: dt.date, target_date: dt.date) -> pd.DataFrame:
    """month (YYYY-MM) and start (date) of every month starting after the cut and before D."""
    rows = []
    start = dt.date(cut.year, cut.month, 1)
    while start < target_date:
        if start > cut:
            rows.append((start.strftime("%Y-%m"), start))
        start = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return pd.DataFrame(rows, columns=["month", "start"])


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _quarter_bounds(label: str) -> tuple[dt.date, dt.date]:
    year, q = int(label[:4]), int(label[-1])
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return start, end


def candidate_pairs(problem: ActivationProblem) -> pd.DataFrame:
    """The sparse (site, month) pairs with their exposure τ_m, expected count r_i·τ_m and
    cost c[i, m] = fee_i + (monthly_i + monitoring_i + per_patient_i·r_i)·τ_m."""
    months = month_starts(problem.cut, problem.target_date)
    months["exposure"] = [(problem.target_date - s).days / DAYS_PER_MONTH
                          for s in months["start"]]
    pairs = problem.candidates.merge(months, how="cross")
    pairs = pairs[pairs["month"] >= pairs["earliest_month"].astype(str)].reset_index(drop=True)
    money = {c: pairs[c].astype(float) for c in ("startup_fee", "monthly_cost",
                                                  "monitoring_cost", "per_patient_cost")}
    pairs["expected"] = pairs["rate"].astype(float) * pairs["exposure"]
    pairs["cost"] = (money["startup_fee"] + (money["monthly_cost"] + money["monitoring_cost"])
                     * pairs["exposure"] + money["per_patient_cost"] * pairs["expected"])
    return pairs


def add_once_constraints(model: pyo.ConcreteModel, pairs: pd.DataFrame) -> None:
    """Each candidate is activated at most once:  Σ_m z[i, m] ≤ 1  ∀ i.
    (Not before its earliest month: such pairs are not in the index set at all.)"""
    months_of = pairs.groupby("site_id")["month"].agg(list)
    model.sites = pyo.Set(initialize=list(months_of.index))
    model.once = pyo.Constraint(model.sites, rule=lambda m, s: pyo.quicksum(
        m.z[s, month] for month in months_of[s]) <= 1)


def add_startup_capacity_constraints(model: pyo.ConcreteModel, pairs: pd.DataFrame,
                                     problem: ActivationProblem) -> None:
    """A country c starts at most cap[c, m] sites in month m:
    Σ_{i in c} z[i, m] ≤ cap[c, m]  ∀ (c, m) — only where more candidates could start."""
    limits = {}
    if problem.capacity is not None:
        limits = {(c, m): int(v) for c, m, v in problem.capacity[
            ["country", "month", "capacity"]].itertuples(index=False)}
    groups = pairs.groupby(["country", "month"])["site_id"].agg(list)
    keys = [k for k, sites in groups.items()
            if len(sites) > limits.get(k, problem.default_capacity)]
    model.country_months = pyo.Set(initialize=keys, dimen=2)
    model.startup_capacity = pyo.Constraint(model.country_months, rule=lambda m, c, month: (
        pyo.quicksum(m.z[s, month] for s in groups[c, month])
        <= limits.get((c, month), problem.default_capacity)))


def add_expected_randomization_constraints(model: pyo.ConcreteModel, pairs: pd.DataFrame,
                                           required: float) -> None:
    """Expected new randomizations by D reach μ (E₀ already subtracted from ``required``):
    Σ_{i, m} r_i·τ_m·z[i, m] ≥ μ − E₀."""
    model.expected = pyo.Constraint(expr=pyo.quicksum(
        e * model.z[s, m] for s, m, e in pairs[["site_id", "month", "expected"]].itertuples(
            index=False)) >= required)


def quarter_payments(pairs: pd.DataFrame, problem: ActivationProblem) -> pd.DataFrame:
    """site_id, month, quarter, payment: the start-up fee in the quarter of s_m plus the
    per-patient cost of the r_i·overlap(q, [s_m, D)) expected randomizations of quarter q."""
    rows = []
    if problem.quarter_budget is None:
        return pd.DataFrame(rows, columns=["site_id", "month", "quarter", "payment"])
    for quarter in problem.quarter_budget["quarter"].astype(str):
        q_start, q_end = _quarter_bounds(quarter)
        for row in pairs.itertuples(index=False):
            days = (min(q_end, problem.target_date) - max(q_start, row.start)).days
            paid = float(row.per_patient_cost) * float(row.rate) * max(days, 0) / DAYS_PER_MONTH
            if q_start <= row.start < q_end:
                paid += float(row.startup_fee)
            if paid > 0:
                rows.append((row.site_id, row.month, quarter, paid))
    return pd.DataFrame(rows, columns=["site_id", "month", "quarter", "payment"])


def add_grant_budget_constraints(model: pyo.ConcreteModel, pairs: pd.DataFrame,
                                 problem: ActivationProblem) -> None:
    """The plan's expected site payments in quarter q stay within its budget B_q:
    Σ_{i, m} (fee_i·[s_m ∈ q] + pp_i·r_i·|q ∩ [s_m, D)|)·z[i, m] ≤ B_q  ∀ q with a budget."""
    payments = quarter_payments(pairs, problem)
    budget = ({} if problem.quarter_budget is None else dict(zip(
        problem.quarter_budget["quarter"].astype(str),
        problem.quarter_budget["budget"].astype(float), strict=True)))
    terms = payments.groupby("quarter")[["site_id", "month", "payment"]].apply(
        lambda g: list(g.itertuples(index=False, name=None))) if len(payments) else {}
    model.quarters = pyo.Set(initialize=list(terms.keys()) if len(payments) else [])
    model.grant_budget = pyo.Constraint(model.quarters, rule=lambda m, q: pyo.quicksum(
        p * m.z[s, month] for s, month, p in terms[q]) <= budget[q])


def add_objective(model: pyo.ConcreteModel, pairs: pd.DataFrame, maximize: bool) -> None:
    """min Σ c[i, m]·z[i, m] (fees, monthly costs until D, per-patient costs); or, to find
    the most a plan can reach, max Σ r_i·τ_m·z[i, m]."""
    column = "expected" if maximize else "cost"
    model.objective = pyo.Objective(
        expr=pyo.quicksum(v * model.z[s, m] for s, m, v in pairs[
            ["site_id", "month", column]].itertuples(index=False)),
        sense=pyo.maximize if maximize else pyo.minimize)


def build_model(pairs: pd.DataFrame, problem: ActivationProblem, required: float | None
                ) -> pyo.ConcreteModel:
    """z on the sparse pairs, each constraint family, the objective. ``required`` None
    maximizes the expected count instead of requiring one."""
    model = pyo.ConcreteModel(name="site_activation")
    model.pairs = pyo.Set(initialize=list(zip(pairs["site_id"], pairs["month"], strict=True)),
                          dimen=2)
    model.z = pyo.Var(model.pairs, domain=pyo.Binary)
    add_once_constraints(model, pairs)
    add_startup_capacity_constraints(model, pairs, problem)
    if required is not None:
        add_expected_randomization_constraints(model, pairs, required)
    add_grant_budget_constraints(model, pairs, problem)
    add_objective(model, pairs, maximize=required is None)
    return model


@dataclass(frozen=True)
class SolveOutcome:
    chosen: pd.DataFrame | None  # the pairs chosen; None when infeasible
    status: str
    gap: float
    build_seconds: float
    solve_seconds: float


def solve_model(pairs: pd.DataFrame, problem: ActivationProblem, required: float | None,
                time_limit: float = 60.0, accept_incumbent: bool = False) -> SolveOutcome:
    """One HiGHS solve; infeasible gives ``chosen`` None, other non-optimal ends raise
    :class:`ActivationError` unless ``accept_incumbent`` and a time-limited incumbent."""
    started = time.perf_counter()
    if pairs.empty:
        ok = required is None or required <= 1e-9
        return SolveOutcome(pairs.iloc[:0] if ok else None, "optimal" if ok else "infeasible",
                      0.0, 0.0, 0.0)
    model = build_model(pairs, problem, required)
    built = time.perf_counter()
    results = SolverFactory("highs").solve(
        model, time_limit=time_limit, rel_gap=1e-9, load_solutions=False,
        raise_exception_on_nonoptimal_result=False)
    solved = time.perf_counter()
    condition = results.termination_condition
    if condition in (TerminationCondition.provenInfeasible,
                     TerminationCondition.infeasibleOrUnbounded):
        return SolveOutcome(None, "infeasible", 0.0, built - started, solved - built)
    status = highs_status(results, accept_incumbent, solved - built, ActivationError)
    results.solution_loader.load_vars()
    keep = np.array([model.z[s, m].value > 0.5 for s, m in model.pairs])
    objective, bound = results.incumbent_objective, results.objective_bound
    gap = 0.0 if status == "optimal" or bound is None or objective is None else (
        relative_gap(objective, bound))
    return SolveOutcome(pairs[keep].reset_index(drop=True), status, float(gap), built - started,
                  solved - built)


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def plan_frame(chosen: pd.DataFrame, currency: str) -> tuple[pd.DataFrame, dict[str, Decimal]]:
    """The plan's rows with each cost part rounded once to the currency's minor unit
    (Decimal), and the totals as sums of the rounded parts."""
    unit = quantum(currency)
    rows, totals = [], dict.fromkeys((*COST_PARTS, "total"), Decimal(0))
    for row in chosen.sort_values(["month", "site_id"]).itertuples(index=False):
        months = Decimal(str(round(row.exposure, 9)))
        expected = Decimal(str(round(row.expected, 9)))
        parts = {"startup": _decimal(row.startup_fee),
                 "site_monthly": _decimal(row.monthly_cost) * months,
                 "monitoring": _decimal(row.monitoring_cost) * months,
                 "per_patient": _decimal(row.per_patient_cost) * expected}
        parts = {k: v.quantize(unit, ROUND_HALF_UP) for k, v in parts.items()}
        cost = sum(parts.values(), Decimal(0))
        for key, value in (*parts.items(), ("total", cost)):
            totals[key] += value
        rows.append({"site_id": row.site_id, "country": row.country,
                     "activation_month": row.month, "months_active": round(row.exposure, 4),
                     "expected_randomized": float(row.expected), **parts, "cost": cost})
    totals = {k: v.quantize(unit) for k, v in totals.items()}  # 0 → 0.00: sums of rounded lines
    columns = ["site_id", "country", "activation_month", "months_active",
               "expected_randomized", *COST_PARTS, "cost"]
    return pd.DataFrame(rows, columns=columns), totals
