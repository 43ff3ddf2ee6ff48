"""Expected new randomizations per site and month, from the recruitment model.

A site open at the data cut recruits at its posterior mean (α + k_i)/(β + τ_i)
(Poisson-Gamma fit of its study, DESIGN §4). A study that cannot be fitted
(nothing randomized, target reached) gets no new subjects. Sites still in
start-up are not given new subjects yet (their workload starts with the SIV).
"""

from __future__ import annotations

import datetime as dt

from planner.frames import Portfolio
from planner.recruitment.evidence import evidence_of
from planner.recruitment.history import RecruitmentHistory, history_at
from planner.recruitment.models import FittedModel, Model, fit_model
from planner.recruitment.poisson_gamma import RecruitmentDataError


def expected_site_rates(portfolio: Portfolio, study_id: str, as_of: dt.date
                        ) -> dict[str, float]:
    """site_id → expected randomizations a month after ``as_of`` (open sites only)."""
    try:
        history = history_at(portfolio, study_id, as_of)
        fitted = fit_model(evidence_of(history), Model.PLUG_IN)
    except RecruitmentDataError:
        return {}
    return fitted_site_rates(history, fitted)


def fitted_site_rates(history: RecruitmentHistory, fitted: FittedModel) -> dict[str, float]:
    """site_id → posterior mean rate (α + k_i)/(β + τ_i) of the history's open sites under
    an existing fit of that history."""
    sites = history.sites
    open_now = (sites["opens"] == 0) & ~sites["closed"]
    mean = (fitted.alpha + sites["count"]) / (fitted.beta + sites["exposure"])
    return dict(zip(sites.loc[open_now, "site_id"], mean[open_now].astype(float),
                    strict=True))


def portfolio_site_rates(portfolio: Portfolio, as_of: dt.date) -> dict[str, dict[str, float]]:
    """study_id → its open sites' expected randomizations a month (one fit per study)."""
    return {s: expected_site_rates(portfolio, s, as_of)
            for s in portfolio.studies["study_id"].astype(str)}
