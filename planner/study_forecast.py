"""A study's forecast as users see it: enrollment and downstream milestones, countries.

Pure: reads a :class:`Portfolio`, returns a :class:`StudyForecast` and its
machine-readable document (``trialplan forecast --json``). Persisting it is
:mod:`planner.forecast_runs`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.frames import Portfolio
from planner.recruitment.forecast import (
    ENROLLMENT,
    ExtraSites,
    RecruitmentForecast,
    forecast_recruitment,
)
from planner.recruitment.history import (
    DAYS_PER_MONTH,
    Activation,
    ForecastInputError,
    RecruitmentHistory,
    date_after,
    history_at,
)
from planner.recruitment.models import Model
from planner.timeline import NAMES, MilestoneForecast, milestone_forecasts, quantile_dates

PLAN_SIMS = 10_000  # simulations of the forecast of record (CLI, demo, dashboards)
PLAN_SEED = 0


@dataclass(frozen=True)
class StudyForecast:
    recruitment: RecruitmentForecast
    milestones: list[MilestoneForecast]
    sims: int
    seed: int
    inputs_sha256: str

    @property
    def history(self) -> RecruitmentHistory:
        return self.recruitment.history

    def milestone(self, name: str) -> MilestoneForecast:
        return next(m for m in self.milestones if m.name == name)


def inputs_hash(history: RecruitmentHistory, sims: int, seed: int, model: Model | None,
                extra: Sequence[ExtraSites]) -> str:
    """SHA-256 of everything the forecast depends on: same hash, same forecast."""
    sites = history.sites.round(9)
    payload = {
        "study_id": history.study_id, "cut": history.cut.isoformat(), "target": history.target,
        "sites": sites.astype(str).to_dict(orient="list"),
        "arrivals": np.round(history.arrival_months, 9).tolist(),
        "arrival_site": history.arrival_site.tolist(),
        "screen_fail_rate": history.screen_fail_rate, "dropout_rate": history.dropout_rate,
        "treatment_weeks": history.treatment_weeks, "followup_weeks": history.followup_weeks,
        "sims": sims, "seed": seed, "model": model.value if model else "auto",
        "extra": [(e.country, e.count, e.opens) for e in extra],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def forecast_study(portfolio: Portfolio, study_id: str, cut: dt.date | None = None,
                   sims: int = PLAN_SIMS, seed: int = PLAN_SEED, model: Model | None = None,
                   extra: Sequence[ExtraSites] = (),
                   activation: Activation = "recorded") -> StudyForecast:
    """Forecast ``study_id`` at ``cut`` (default: the data cut) with ``sims`` simulations."""
    if sims < 100:
        raise ForecastInputError(f"--sims must be at least 100 (got {sims})")
    history = history_at(portfolio, study_id, cut, activation)
    recruitment = forecast_recruitment(history, sims, seed, model, extra)
    return StudyForecast(recruitment, milestone_forecasts(recruitment, seed), sims, seed,
                         inputs_hash(history, sims, seed, model, extra))


def months_until(cut: dt.date, month: str) -> float:
    """Months from ``cut`` to the first day of ``month`` (YYYY-MM), which must come later."""
    try:
        first = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ForecastInputError(f"month {month!r} is not a YYYY-MM month") from None
    if first <= cut:
        raise ForecastInputError(f"month {month} must start after the data cut {cut}")
    return (first - cut).days / DAYS_PER_MONTH


def iso_date(value: dt.date | None) -> str | None:
    """A date as ISO text, None as None (JSON documents)."""
    return value.isoformat() if value else None


def _country_entry(forecast: StudyForecast, row: dict) -> dict:
    """A by-country row with, when its sites have targets, its own milestone dates (the
    actual date for those reached by the cut)."""
    entry = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    months = forecast.recruitment.country_months.get(entry["country"])
    if months is None:
        return entry
    history = forecast.history
    sites = history.sites
    target = float(sites.loc[sites["country"] == entry["country"], "target"].sum())
    in_country = (sites["country"].to_numpy() == entry["country"])[history.arrival_site]
    arrivals = np.sort(history.arrival_months[in_country])
    entry["target"] = int(target)
    entry["milestones"] = []
    for j, (kind, share) in enumerate(ENROLLMENT):
        needed = math.ceil(target * share)
        if 0 < needed <= len(arrivals):
            day = iso_date(date_after(history.cut, float(arrivals[needed - 1])))
            dates, reached = [day, day, day], True
        else:
            dates, reached = [iso_date(d) for d in quantile_dates(history.cut, months[:, j])], False
        entry["milestones"].append({"name": NAMES[kind], "p10": dates[0], "p50": dates[1],
                                    "p90": dates[2], "reached": reached})
    return entry


def forecast_document(forecast: StudyForecast, run_id: int | None = None) -> dict:
    """The ``--json`` document: study, cut, model, parameters, milestones, countries."""
    recruitment, history = forecast.recruitment, forecast.history
    selection = recruitment.selection
    countries = recruitment.by_country.to_dict(orient="records")
    return {
        "study_id": history.study_id,
        "as_of": history.cut.isoformat(),
        "model": recruitment.model.value,
        "model_reason": selection.reason if selection else "chosen by the caller",
        "selection_scores": selection.scores if selection else {},
        "params": recruitment.params(),
        "sims": forecast.sims, "seed": forecast.seed,
        "target": history.target, "randomized": history.randomized,
        "milestones": [{"name": m.name, "kind": m.kind.value, "p10": iso_date(m.p10),
                        "p50": iso_date(m.p50), "p90": iso_date(m.p90), "reached": m.reached}
                       for m in forecast.milestones],
        "by_country": [_country_entry(forecast, row) for row in countries],
        "conversion": recruitment.conversion(),
        "unplanned_sites": history.unplanned_sites,
        "what_if": [{"country": e.country, "sites": e.count,
                     "opens": date_after(history.cut, e.opens).isoformat()}
                    for e in recruitment.extra],
        "inputs_sha256": forecast.inputs_sha256,
        "timings": recruitment.timings,
        "forecast_run_id": run_id,
    }
