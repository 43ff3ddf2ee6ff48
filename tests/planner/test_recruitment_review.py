"""Regressions from the review of the forecast: site openings, what-if rates under a
decline, the country table with closures, countries' reached milestones."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from planner.recruitment.evidence import evidence_of
from planner.recruitment.forecast import ExtraSites, _extra_rates, forecast_recruitment
from planner.recruitment.history import DAYS_PER_MONTH, history_at
from planner.recruitment.models import Model, fit_model
from planner.study_forecast import forecast_document, forecast_study
from tests.planner.test_recruitment_forecast import _declining_study, _portfolio

CUT = dt.date(2026, 1, 31)


def test_subjects_before_the_recorded_activation_open_the_site() -> None:
    """Site B is recorded as activated 2026-07-31 but randomized from 2025-06 (no screening
    dates): it opened at its first randomization, and its exposure counts from then."""
    subjects = [{"site_id": "B", "randomized": dt.date(2025, 6, 1) + dt.timedelta(days=30 * i),
                 "screened": None} for i in range(8)]
    sites = [{"site_id": "A", "activated": dt.date(2025, 1, 1)},
             {"site_id": "B", "activated": dt.date(2026, 7, 31)}]
    history = history_at(_portfolio(sites, subjects), "ST-1", CUT)
    b = history.sites.set_index("site_id").loc["B"]
    expected = (CUT - dt.date(2025, 6, 1)).days / DAYS_PER_MONTH
    assert b["exposure"] == pytest.approx(expected)
    assert b["count"] == 8 and b["opens"] == 0


def test_what_if_sites_use_the_decayed_exposure_of_their_country() -> None:
    """Under the declining model α, β live on the decayed clock: the country's shrunk rate
    (K_c + α)/(E_c(δ) + β) is the rate at the cut, about the study's own rate now, not the
    (higher) average over its history."""
    portfolio, cut, _ = _declining_study(np.random.default_rng(4), delta=0.12)
    history = history_at(portfolio, "ST-1", cut)
    evidence = evidence_of(history)
    fitted = fit_model(evidence, Model.DECLINING)
    sims = 4000
    alpha = np.full(sims, fitted.alpha)
    beta = np.full(sims, fitted.beta)
    exposure = evidence.exposure(np.full(sims, fitted.delta))
    lam, *_ = _extra_rates([ExtraSites("US", 200, 1.0)], history, exposure, alpha, beta,
                           0.0, seed=1)
    now = float((history.sites["count"].sum() + fitted.alpha)
                / (exposure[0].sum() + fitted.beta))
    history_average = history.randomized / history.sites["exposure"].sum()
    assert lam.mean() == pytest.approx(now, rel=0.05)
    assert lam.mean() < 0.8 * history_average


def test_country_table_counts_closed_and_added_sites_right() -> None:
    sites = [{"site_id": f"{i}", "activated": dt.date(2025, 1, 1),
              "country": "DE" if i < 2 else "FR",
              "status": "closed" if i in (0, 2) else "enrolling"} for i in range(4)]
    subjects = [{"site_id": f"{i}", "randomized": dt.date(2025, 2, 1) + dt.timedelta(days=d)}
                for i in range(4) for d in (0, 20, 40)]
    history = history_at(_portfolio(sites, subjects, target=40), "ST-1", CUT)
    plain = forecast_recruitment(history, 500, 0, Model.PLUG_IN).by_country.set_index("country")
    assert plain["sites_added"].tolist() == [0, 0]
    assert plain["sites_open"].tolist() == [1, 1] and plain["sites_closed"].tolist() == [1, 1]
    more = forecast_recruitment(history, 500, 0, Model.PLUG_IN,
                                [ExtraSites("DE", 2, 1.0)]).by_country.set_index("country")
    assert more.loc["DE", "sites_added"] == 2 and more.loc["FR", "sites_added"] == 0


def test_a_country_milestone_reached_shows_its_actual_date() -> None:
    """One site with target 10 and 15 randomized: every country milestone is reached, on
    the day its 3rd, 5th, 8th and 10th subject was randomized."""
    days = [dt.date(2025, 3, 1) + dt.timedelta(days=10 * i) for i in range(15)]
    sites = [{"site_id": "A", "activated": dt.date(2025, 3, 1)},
             {"site_id": "B", "activated": dt.date(2025, 3, 1), "country": "DE"}]
    portfolio = _portfolio(sites, [{"site_id": "A", "randomized": d} for d in days]
                           + [{"site_id": "B", "randomized": dt.date(2025, 4, 1)}], target=60)
    portfolio.sites["target_randomized"] = [10, 50]
    document = forecast_document(forecast_study(portfolio, "ST-1", CUT, sims=500))
    us = next(c for c in document["by_country"] if c["country"] == "US")
    assert [m["reached"] for m in us["milestones"]] == [True] * 4
    assert [m["p50"] for m in us["milestones"]] == [days[n - 1].isoformat()
                                                   for n in (3, 5, 8, 10)]
    de = next(c for c in document["by_country"] if c["country"] == "DE")
    assert [m["reached"] for m in de["milestones"]] == [False] * 4
