"""`trialplan activation`: which sites to activate when, to reach the target by a date with
a chosen probability at least cost (docs/ACTIVATION.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from contracts.budgets import load_fees, load_terms
from optimizer.activation import (
    COST_PARTS,
    ActivationError,
    ActivationPlan,
    ActivationProblem,
)
from optimizer.activation_costs import CONTRACT, DEFAULT, load_fx
from optimizer.activation_inputs import (
    DEFAULT_CAPACITY,
    activation_problem,
    inputs_hash,
    with_cost_sources,
    with_milestones,
)
from optimizer.activation_plan import plan_activation
from planner.forecast_runs import ACTIVATION_PLAN_MODEL, known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.history import ForecastInputError, RecruitmentHistory
from planner.store import transaction as store_transaction
from planner.study_forecast import iso_date
from planner.tables import ForecastRun, Study
from trialplan import settings
from trialplan.edge import date_option, fail, ready_engine
from trialplan.forecast_view import day_text

MODEL = ACTIVATION_PLAN_MODEL  # the ForecastRun model of a saved plan
LABEL = {CONTRACT: "site contract", DEFAULT: "per-country default"}


def _budget(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        fail(f"--quarter-budget {value!r}: expected a non-negative decimal amount in the "
             "study's currency, e.g. 250000.00")
    return amount


def activation_document(problem: ActivationProblem, history: RecruitmentHistory,
                        result: ActivationPlan, milestones: dict, timings: dict) -> dict:
    """The ``--json`` document: counts are of the whole study (already randomized
    included); money as decimal strings in the study currency, each line rounded once;
    each plan row's cost_source says whether its start-up and per-patient costs come
    from the site contract or the per-country defaults (cost_sources counts the
    candidates by source)."""
    done = history.randomized
    sources = problem.candidates["cost_source"].value_counts()
    return {
        "study_id": history.study_id, "as_of": history.cut.isoformat(),
        "status": result.status, "target": history.target, "randomized": done,
        "target_date": problem.target_date.isoformat(),
        "required_expected": None if result.required_expected is None else
        round(done + result.required_expected, 4),
        "expected_randomized": round(done + result.expected_randomized, 4),
        "probability": problem.probability,
        "achieved_probability": round(result.achieved_probability, 6),
        "simulated_probability": round(milestones["simulated_probability"], 4),
        "currency": result.currency, "fx_date": load_fx(history.cut).date.isoformat(),
        "cost": {k: str(v) for k, v in result.cost.items()},
        "plan": [{"site_id": r.site_id, "country": r.country,
                  "activation_month": r.activation_month,
                  "months_active": float(r.months_active),
                  "expected_randomized": round(float(r.expected_randomized), 4),
                  **{part: str(getattr(r, part)) for part in COST_PARTS},
                  "cost": str(r.cost), "cost_source": r.cost_source}
                 for r in result.plan.itertuples()],
        "fpi": iso_date(result.fpi), "lpi": iso_date(result.lpi),
        "lpi_p10": iso_date(milestones["lpi_p10"]), "lpi_p90": iso_date(milestones["lpi_p90"]),
        "startup_capacity": problem.default_capacity,
        "quarter_budget": None if problem.quarter_budget is None else
        str(problem.quarter_budget["budget"].iloc[0]),
        "candidates": len(problem.candidates),
        "cost_sources": {k: int(sources.get(k, 0)) for k in (CONTRACT, DEFAULT)},
        "gap": round(result.gap, 6),
        "iterations": result.iterations, "explanation": result.explanation,
        "timings": timings,
    }


def _text(document: dict) -> str:
    cost, unit = document["cost"], document["currency"]
    lines = [f"{document['study_id']}: reach {document['target']} randomized by "
             f"{document['target_date']} with probability {document['probability']:.0%} "
             f"({document['randomized']} by the cut {document['as_of']})"]
    if document["status"] == "infeasible":
        lines.append("not reachable:")
        lines += [f"  {line}" for line in document["explanation"]]
        lines.append("the plan below reaches the most:")
    elif document["status"] == "not_needed":
        lines.append("the open sites reach it without new activations")
    lines.append(f"{document['status']}: {len(document['plan'])} sites to activate, cost "
                 f"{cost['total']} {unit} (start-up {cost['startup']}, site monthly "
                 f"{cost['site_monthly']}, monitoring {cost['monitoring']}, per patient "
                 f"{cost['per_patient']})")
    counts = Counter(row["cost_source"] for row in document["plan"])
    if counts:
        lines.append("start-up and per-patient costs from: " + ", ".join(
            f"{LABEL[k]} {counts[k]}" for k in (CONTRACT, DEFAULT) if counts[k]))
    lines.append(f"expected randomized by {document['target_date']}: "
                 f"{document['expected_randomized']:.1f}"
                 + (f" (required {document['required_expected']:.1f})"
                    if document["required_expected"] is not None else "")
                 + "; probability "
                 f"{document['achieved_probability']:.1%}; LPI P50 "
                 f"{day_text(document['lpi'] and dt.date.fromisoformat(document['lpi']))}")
    for row in document["plan"]:
        lines.append(f"  {row['activation_month']}  {row['site_id']:<10} {row['country']}  "
                     f"{row['expected_randomized']:6.1f} expected  {row['cost']:>14} {unit}  "
                     f"({row['cost_source']})")
    if document.get("forecast_run_id"):
        lines.append(f"saved as forecast run {document['forecast_run_id']}")
    return "\n".join(lines)


def activation(
    study: Annotated[str, typer.Argument(help="study id (protocol)")],
    target_date: Annotated[str, typer.Option(help="YYYY-MM-DD the target must be reached by")],
    probability: Annotated[float, typer.Option(help="required confidence, between 0 and 1")],
    candidates: Annotated[Path | None, typer.Option(
        help="CSV of more candidate sites: site_id, country, earliest_month")] = None,
    startup_capacity: Annotated[int, typer.Option(
        min=1, max=1000, help="sites a country can activate in a month")] = DEFAULT_CAPACITY,
    quarter_budget: Annotated[str | None, typer.Option(
        help="cap on the plan's expected site payments per quarter (study currency)")] = None,
    time_limit: Annotated[float, typer.Option(min=1, max=3600, help="seconds per solve")] = 60.0,
    sims: Annotated[int, typer.Option(min=100, max=100_000,
                                      help="simulations for the plan's LPI")] = 4_000,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="random seed")] = 0,
    save: Annotated[bool, typer.Option("--save", help="record the plan as a forecast run "
                                       "(the milestones of record do not change)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Plan which candidate sites to activate in which month, at least cost."""
    deadline = date_option("--target-date", target_date)
    if not 0 < probability < 1:
        fail(f"--probability must be between 0 and 1, exclusive (got {probability})")
    budget = _budget(quarter_budget)
    with store_transaction(ready_engine(), settings.actor()) as session:
        portfolio = load_portfolio(session, study)
        if portfolio.studies.empty:
            known = ", ".join(known_study_ids(session)) or "none"
            raise ForecastInputError(f"study {study!r} is not in the store (studies: {known})")
        problem, history = activation_problem(portfolio, study, deadline, probability,
                                              candidates, startup_capacity, budget,
                                              fees=load_fees(session, study),
                                              terms=load_terms(session, study))
        try:
            result = plan_activation(problem, time_limit, accept_incumbent=True)
        except ActivationError as error:
            fail(f"no activation plan: {error}; try a longer --time-limit", 1)
        result = with_cost_sources(problem, result)
        result, milestones = with_milestones(history, result, deadline, sims, seed)
        timings = {"build_seconds": round(result.build_seconds, 4),
                   "solve_seconds": round(result.solve_seconds, 4)}
        document = activation_document(problem, history, result, milestones, timings)
        document["forecast_run_id"] = None
        if save:
            study_pk = session.scalar(select(Study.id).where(Study.study_id == study))
            options = {"sims": sims, "seed": seed, "time_limit": time_limit}
            run = ForecastRun(study_pk=study_pk, at=dt.datetime.now(dt.UTC),
                              actor=settings.actor(), as_of=history.cut,
                              inputs_sha256=inputs_hash(problem, options), model=MODEL,
                              sims=sims, seed=seed,
                              params={"target_date": deadline.isoformat(),
                                      "probability": probability,
                                      "startup_capacity": startup_capacity,
                                      "quarter_budget": document["quarter_budget"],
                                      "candidates_file": candidates.name if candidates
                                      else None},
                              timings=timings, result={})
            session.add(run)
            session.flush()
            document["forecast_run_id"] = run.id
            run.result = document
    typer.echo(json.dumps(document, indent=2) if as_json else _text(document))
