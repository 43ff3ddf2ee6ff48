"""`trialplan staffing`: who meets each role × study × month of demand, at least cost."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import pandas as pd
import typer

from optimizer.activation_costs import load_fx
from optimizer.runs import record_run, solver_figures
from optimizer.staffing import (
    CONTRACTOR,
    HIRE,
    UNMET,
    StaffingError,
    StaffingPlan,
    StaffingProblem,
    solve_staffing,
)
from optimizer.staffing_inputs import MAX_STUDIES, PLANNING_CURRENCY, staffing_inputs
from optimizer.staffing_runs import inputs_hash, options_document
from planner.frames import load_portfolio
from planner.store import transaction as store_transaction
from planner.tables import StaffingRun
from trialplan import settings
from trialplan.edge import fail, ready_engine


class StaffCostChoice(StrEnum):
    USED = "used"
    SUNK = "sunk"


def staffing(
    months: Annotated[int, typer.Option(min=1, max=36, help="months from the data cut")] = 12,
    time_limit: Annotated[float, typer.Option(min=1, max=3600, help="seconds")] = 60.0,
    max_studies: Annotated[int, typer.Option(min=1, max=50,
                                             help="studies a person a month")] = MAX_STUDIES,
    max_churn: Annotated[float | None, typer.Option(
        min=0, help="hours a person's load on a study may change a month")] = None,
    staff_cost: Annotated[StaffCostChoice, typer.Option(
        help="used: named staff hours cost their rate; sunk: they are paid anyway")
    ] = StaffCostChoice.USED,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Staffing plan by role × study × month: named staff, hires, contractors, unmet
    (every run is stored with its inputs' hash)."""
    engine = ready_engine()
    with store_transaction(engine, settings.actor()) as session:
        portfolio = load_portfolio(session)
    as_of = portfolio.as_of
    if as_of is None:
        fail("nothing recorded yet: no data cut to plan from")
    fx = load_fx(as_of)
    problem = staffing_inputs(portfolio, months, fx, max_studies, staff_cost.value,
                              max_churn=max_churn)
    try:
        plan = solve_staffing(problem, time_limit=time_limit, accept_incumbent=True)
    except StaffingError as exc:
        fail(f"{exc}; try a longer --time-limit")
    document = _document(problem, plan, fx.date)
    options = options_document(problem, months, time_limit)
    with store_transaction(engine, settings.actor()) as session:
        run = record_run(session, StaffingRun, document, options,
                         inputs_hash(problem, options), as_of, settings.actor())
        document = {"run": run.id} | document
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    _print(problem, plan, document)


def _document(problem: StaffingProblem, plan: StaffingPlan, fx_date: object) -> dict:
    def records(frame: pd.DataFrame, digits: dict[str, int]) -> list[dict]:
        return [{k: (round(float(v), digits[k]) if k in digits else v) for k, v in row.items()}
                for row in frame.to_dict("records")]

    hires = problem.hires.drop(columns=["max_fte"])
    return solver_figures(plan.status, plan.objective, plan.bound, plan.gap,
                          plan.build_seconds, plan.solve_seconds) | {
        "currency": PLANNING_CURRENCY, "fx_date": str(fx_date), "staff_cost": problem.staff_cost,
        "max_studies": problem.max_studies, "unmet_penalty": problem.unmet_penalty,
        "costs": {k: round(v, 2) for k, v in plan.costs.items()},
        "plan": records(plan.plan, {"hours": 2}),
        "hires": [{"role": r, "month": m, "fte": int(f)}
                  for r, m, f in plan.hires.itertuples(index=False)],
        "unmet": records(plan.unmet, {"hours": 2}),
        "explanation": plan.explain(),
        "demand": records(problem.demand, {"hours": 2}),
        "staff": records(problem.staff[["staff_id", "role", "capacity", "rate"]],
                         {"capacity": 2, "rate": 4}),
        "capacity": records(problem.capacity[["staff_id", "month", "capacity"]],
                            {"capacity": 2}),
        "hire_options": records(hires, {"rate": 4, "hours": 2, "capacity": 2}),
        "contractor_options": records(problem.contractors[["role", "rate"]], {"rate": 4}),
        "coverage": records(problem.coverage, {}),
    }


def _print(problem: StaffingProblem, plan: StaffingPlan, document: dict) -> None:
    months = problem.horizon
    typer.echo(f"staffing run {document['run']}: {plan.status}, gap {plan.gap:.2%}, "
               f"{document['seconds']} s")
    typer.echo(f"staffing plan {months[0]} to {months[-1]} in {PLANNING_CURRENCY} (FX rates "
               f"of {document['fx_date']})")
    costs = plan.costs
    note = "" if problem.staff_cost == "used" else " (sunk: not minimized)"
    typer.echo(f"cost: named staff {costs['staff']:,.0f}{note}; hires {costs['hire']:,.0f}; "
               f"contractors {costs['contractor']:,.0f}; unmet {costs['unmet']:,.0f} "
               f"(penalty {problem.unmet_penalty:,.0f} an hour); objective "
               f"{plan.objective:,.0f}")
    rows = plan.plan.assign(source=plan.plan["source"].where(
        plan.plan["source"].isin([HIRE, CONTRACTOR, UNMET]), "staff"))
    grid = rows.pivot_table(index=["role", "source"], columns="month", values="hours",
                            aggfunc="sum").reindex(columns=months).fillna(0.0)
    typer.echo("hours by role and source:")
    typer.echo(grid.map(lambda v: f"{v:,.0f}").to_string())
    hires = ", ".join(f"{r} {f} FTE from {m}" for r, m, f in plan.hires.itertuples(index=False))
    typer.echo(f"hires: {hires or 'none'}")
    for line in plan.explain():
        typer.echo(f"  unmet: {line}")
