"""A study's activation problem from the store, and the plan's FPI/LPI by simulation.

Rates come from the study's Poisson-Gamma fit (plug-in α, β) at its data cut:
a site recruiting now has its posterior Gamma(α+k, β+τ) (its mean taken from
:func:`planner.workload.rates.fitted_site_rates`); a candidate has the prior
Gamma(α, β) and the forecast's never-enroll share q, so its expected rate is
(1 − q)·α/β. Candidates are the study's sites not open yet (the forecast's
planned sites, earliest at their planned activation; identified sites without a
date, earliest after the shortest start-up) and the rows of a candidates CSV
(docs/FORMATS.md). A site activated in month m can be active from the first
month starting on or after its earliest date. Costs come from the study's site
contracts (fees in force at the cut) where a candidate has one, else from the
per-country defaults (:mod:`optimizer.activation_costs`); every candidate and plan
row says which in ``cost_source``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.activation import ActivationPlan, ActivationProblem, month_starts, quarter_of
from optimizer.activation_costs import ContractBook, candidate_costs, load_fx
from optimizer.runs import inputs_digest
from planner.countries import country_code
from planner.domain import SiteStatus
from planner.frames import Portfolio
from planner.recruitment.evidence import evidence_of
from planner.recruitment.forecast import forecast_recruitment, never_enroll_share
from planner.recruitment.history import (
    DAYS_PER_MONTH,
    ForecastInputError,
    RecruitmentHistory,
    date_after,
    history_at,
)
from planner.recruitment.models import Model, fit_model
from planner.timeline import milestone_forecasts
from planner.workload.rates import fitted_site_rates

STARTUP_MONTHS = 4.0  # shortest start-up (DESIGN §3): earliest opening of a site without a date
DEFAULT_CAPACITY = 2  # start-ups a country can take in a month
CANDIDATE_COLUMNS = ("site_id", "country")


def first_month_from(day: dt.date) -> str:
    """The first month (YYYY-MM) starting on or after ``day``."""
    if day.day == 1:
        return day.strftime("%Y-%m")
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1).strftime("%Y-%m")


def store_candidates(portfolio: Portfolio, history: RecruitmentHistory) -> pd.DataFrame:
    """site_id, country, earliest_month of the study's sites not open at the cut."""
    planned = history.sites[history.sites["opens"] > 0]
    rows = [(s, c, first_month_from(date_after(history.cut, o)))
            for s, c, o in zip(planned["site_id"], planned["country"], planned["opens"],
                               strict=True)]
    sites = portfolio.sites[portfolio.sites["study_id"] == history.study_id]
    unplanned = sites[~sites["site_id"].astype(str).isin(history.sites["site_id"])
                      & (sites["status"] != SiteStatus.CLOSED.value)
                      & sites["actual_activation"].isna()]
    later = first_month_from(date_after(history.cut, STARTUP_MONTHS))
    rows += [(str(s), str(c), later) for s, c in zip(unplanned["site_id"], unplanned["country"],
                                                     strict=True)]
    return pd.DataFrame(rows, columns=["site_id", "country", "earliest_month"])


def read_candidates(path: Path, history: RecruitmentHistory, taken: set[str]) -> pd.DataFrame:
    """The candidates CSV: site_id, country (ISO), earliest_month (YYYY-MM, blank: after
    the shortest start-up); refused with file, row, column, value and what was expected."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:
        raise ForecastInputError(f"{path}: cannot read the candidates CSV ({exc})") from None
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in CANDIDATE_COLUMNS if c not in table.columns]
    if missing:
        raise ForecastInputError(f"{path}: missing column(s) {', '.join(missing)} (expected "
                                 "site_id, country and optionally earliest_month)")
    default = first_month_from(date_after(history.cut, STARTUP_MONTHS))
    rows, seen = [], set(taken)
    for number, row in enumerate(table.to_dict(orient="records"), start=2):
        where = f"{path} row {number}"
        site = row["site_id"].strip()
        if not site or site in seen:
            raise ForecastInputError(f"{where}, column site_id: {site!r}: expected a site id "
                                     "not already a site of the study or of the file")
        code = country_code(row["country"].strip())
        if code is None:
            raise ForecastInputError(f"{where}, column country: {row['country']!r}: expected "
                                     "an ISO 3166 country code such as DE or DEU")
        month = row.get("earliest_month", "").strip() or default
        try:
            dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ForecastInputError(f"{where}, column earliest_month: {month!r}: expected a "
                                     "YYYY-MM month") from None
        seen.add(site)
        rows.append((site, code, month))
    return pd.DataFrame(rows, columns=["site_id", "country", "earliest_month"])


def activation_problem(portfolio: Portfolio, study_id: str, target_date: dt.date,
                       probability: float, candidates_file: Path | None = None,
                       capacity: int = DEFAULT_CAPACITY,
                       quarter_budget: Decimal | None = None,
                       fees: pd.DataFrame | None = None, terms: pd.DataFrame | None = None
                       ) -> tuple[ActivationProblem, RecruitmentHistory]:
    """The study's problem at its data cut (refused: probability outside (0, 1), a target
    date not after the cut, a bad candidates file). ``fees`` and ``terms`` are the study's
    site contracts (:func:`contracts.budgets.load_fees`, ``load_terms``); without them
    every cost is a per-country default."""
    if not 0 < probability < 1:
        raise ForecastInputError(f"--probability must be between 0 and 1 (got {probability})")
    history = history_at(portfolio, study_id)
    if target_date <= history.cut:
        raise ForecastInputError(f"--target-date {target_date} is not after the study's data "
                                 f"cut {history.cut}")
    evidence = evidence_of(history)
    fitted = fit_model(evidence, Model.PLUG_IN)
    never = never_enroll_share(evidence, fitted)
    sites = history.sites
    recruiting = sites[(sites["opens"] == 0) & ~sites["closed"]]
    rates = fitted_site_rates(history, fitted)
    open_sites = pd.DataFrame({
        "site_id": recruiting["site_id"].to_numpy(),
        "shape": fitted.alpha + recruiting["count"].to_numpy(float),
        "rate": np.array([rates[s] for s in recruiting["site_id"]], dtype=float)})
    candidates = store_candidates(portfolio, history)
    if candidates_file is not None:
        taken = set(portfolio.sites.loc[portfolio.sites["study_id"] == study_id, "site_id"]
                    .astype(str))
        candidates = pd.concat([candidates, read_candidates(candidates_file, history, taken)],
                               ignore_index=True)
    study = portfolio.studies[portfolio.studies["study_id"] == study_id].iloc[0]
    currency = str(study["currency"])
    book = None
    if fees is not None and terms is not None:
        book = ContractBook(study, portfolio.planned_visits, fees, terms, history.cut)
    costs = candidate_costs(candidates, currency, portfolio.staff, load_fx(history.cut), book)
    candidates = candidates.merge(costs, on=["site_id", "country"], how="left").assign(
        rate=(1 - never) * fitted.alpha / fitted.beta, shape=fitted.alpha, never=never)
    budget = None
    if quarter_budget is not None:
        quarters = sorted({quarter_of(s) for s in month_starts(history.cut, target_date)["start"]})
        budget = pd.DataFrame({"quarter": quarters, "budget": [quarter_budget] * len(quarters)})
    problem = ActivationProblem(candidates, open_sites, history.cut, target_date,
                                history.remaining, probability, currency,
                                default_capacity=capacity, quarter_budget=budget)
    return problem, history


def planned_history(history: RecruitmentHistory, plan: pd.DataFrame) -> RecruitmentHistory:
    """The history with the sites not open yet replaced by the plan's sites, each opening
    at the start of its activation month."""
    sites = history.sites
    keep = (sites["opens"] == 0).to_numpy()
    new_row = np.cumsum(keep) - 1
    starts = [dt.date.fromisoformat(f"{m}-01") for m in plan["activation_month"]]
    added = pd.DataFrame({
        "site_id": plan["site_id"].astype(str).to_numpy(),
        "country": plan["country"].astype(str).to_numpy(),
        "opens": [(s - history.cut).days / DAYS_PER_MONTH for s in starts],
        "opened_months": 0.0, "closed": False, "count": 0.0, "exposure": 0.0,
        "target": np.nan})
    table = pd.concat([sites[keep], added], ignore_index=True)
    return dataclasses.replace(history, sites=table,
                               arrival_site=new_row[history.arrival_site])


def plan_milestones(history: RecruitmentHistory, result: ActivationPlan,
                    target_date: dt.date, sims: int = 4_000, seed: int = 0) -> dict:
    """FPI (reached: the study has randomized) and the plan's LPI P10/P50/P90 from the
    recruitment simulation (plug-in model) with the chosen sites at their activation
    dates, and the simulated P(LPI ≤ target date) as a check on the exact probability."""
    planned = planned_history(history, result.plan)
    forecast = forecast_recruitment(planned, sims, seed, Model.PLUG_IN)
    lpi = next(m for m in milestone_forecasts(forecast, seed) if m.name == "LPI")
    limit = (target_date - history.cut).days / DAYS_PER_MONTH
    return {"fpi": history.first_randomized, "lpi": lpi.p50, "lpi_p10": lpi.p10,
            "lpi_p90": lpi.p90,
            "simulated_probability": float(np.mean(forecast.lpi_months() <= limit))}


def with_milestones(history: RecruitmentHistory, result: ActivationPlan,
                    target_date: dt.date, sims: int = 4_000, seed: int = 0
                    ) -> tuple[ActivationPlan, dict]:
    """The plan with its FPI and LPI P50 filled in, and :func:`plan_milestones`' figures."""
    figures = plan_milestones(history, result, target_date, sims, seed)
    return dataclasses.replace(result, fpi=figures["fpi"], lpi=figures["lpi"]), figures


def with_cost_sources(problem: ActivationProblem, result: ActivationPlan) -> ActivationPlan:
    """The plan with each row's ``cost_source`` (contract or default) from its candidate."""
    sources = problem.candidates.set_index("site_id")["cost_source"]
    plan = result.plan.assign(cost_source=result.plan["site_id"].map(sources).astype(object))
    return dataclasses.replace(result, plan=plan)


def inputs_hash(problem: ActivationProblem, options: dict) -> str:
    """SHA-256 of the problem's data and the options: same hash, same plan."""
    frames = [problem.candidates, problem.open_sites.round(9)]
    if problem.quarter_budget is not None:
        frames.append(problem.quarter_budget)
    return inputs_digest(frames, {
        "cut": problem.cut.isoformat(), "target_date": problem.target_date.isoformat(),
        "remaining": problem.remaining, "probability": problem.probability,
        "currency": problem.currency, "capacity": problem.default_capacity,
        "budget": problem.quarter_budget is not None, **options})
