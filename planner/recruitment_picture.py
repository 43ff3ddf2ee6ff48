"""What the recruitment page shows for one study: the cumulative curve (actual, baseline
plan, forecast fan), the LPI distribution, randomized by site and by country, and the
what-if sites it was forecast with.

A study that cannot be forecast (nothing randomized yet, target reached) still has
its actual curve and its sites; ``note`` says why there is no forecast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.frames import Portfolio
from planner.recruitment.forecast import ExtraSites
from planner.recruitment.history import DAYS_PER_MONTH
from planner.recruitment.poisson_gamma import RecruitmentDataError
from planner.recruitment_curve import FORECAST_SEED, FORECAST_SIMS, bands_of, recruitment_curve
from planner.study_forecast import StudyForecast, forecast_study

SITE_COLUMNS = ["site_id", "country", "status", "randomized", "target"]
LPI_COLUMNS = ["month", "probability", "cumulative"]


@dataclass(frozen=True)
class RecruitmentPicture:
    study_id: str
    as_of: dt.date
    target: int
    curve: pd.DataFrame  # recruitment_curve: month, actual, planned, p10, p50, p90
    sites: pd.DataFrame  # SITE_COLUMNS: randomized by the cut per site
    countries: pd.DataFrame  # the forecast's by_country, or randomized per country
    lpi: pd.DataFrame  # LPI_COLUMNS: share of simulations reaching LPI in each month
    forecast: StudyForecast | None
    extra: tuple[ExtraSites, ...]
    note: str | None  # why there is no forecast


def lpi_by_month(forecast: StudyForecast) -> pd.DataFrame:
    """Share of simulations whose LPI falls in each calendar month (LPI_COLUMNS), from the
    cut's month to the last month any simulation reaches; simulations that never reach
    the target within the horizon are left out of every month (``cumulative`` then
    stays below 1)."""
    months = forecast.recruitment.lpi_months()
    cut = forecast.history.cut
    finite = months[np.isfinite(months)]
    if not len(finite):
        return pd.DataFrame(columns=LPI_COLUMNS)
    days = np.round(finite * DAYS_PER_MONTH).astype("int64")
    dates = pd.to_datetime(pd.Timestamp(cut) + pd.to_timedelta(days, unit="D"))
    periods = dates.to_period("M")
    counts = pd.Series(1, index=periods).groupby(level=0).sum()
    span = pd.period_range(periods.min(), periods.max(), freq="M")
    share = counts.reindex(span, fill_value=0).to_numpy() / len(months)
    return pd.DataFrame({"month": span.to_timestamp().astype("datetime64[s]"),
                         "probability": share, "cumulative": np.cumsum(share)})


def _sites(portfolio: Portfolio, study_id: str, cut: dt.date) -> pd.DataFrame:
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id]
    subjects = portfolio.subjects[(portfolio.subjects["study_id"] == study_id)
                                  & (portfolio.subjects["randomized"] <= pd.Timestamp(cut))]
    counts = subjects.groupby(subjects["site_id"].astype(str)).size()
    out = sites[["site_id", "country", "status", "target_randomized"]].rename(
        columns={"target_randomized": "target"}).copy()
    out["randomized"] = out["site_id"].astype(str).map(counts).fillna(0).astype(int)
    return out[SITE_COLUMNS].sort_values(["country", "site_id"]).reset_index(drop=True)


def recruitment_picture(portfolio: Portfolio, study_id: str, cut: dt.date | None = None,
                        extra: Sequence[ExtraSites] = (), sims: int = FORECAST_SIMS,
                        seed: int = FORECAST_SEED) -> RecruitmentPicture:
    """The picture of ``study_id`` (``portfolio`` holds that study) at ``cut`` (default its
    data cut), with ``extra`` what-if sites in the forecast."""
    as_of = cut or portfolio.latest_event(study_id)
    if as_of is None:
        raise RecruitmentDataError(f"study {study_id}: nothing recorded yet (no site "
                                   "activated, nobody screened): no recruitment to show")
    target = int(portfolio.studies["target_randomized"].iloc[0])
    sites = _sites(portfolio, study_id, as_of)
    try:
        forecast = forecast_study(portfolio, study_id, as_of, sims, seed, extra=extra)
    except RecruitmentDataError as reason:
        if extra:
            raise
        counts = sites.groupby("country", as_index=False)["randomized"].sum()
        return RecruitmentPicture(study_id, as_of, target,
                                  recruitment_curve(portfolio, as_of, None), sites, counts,
                                  pd.DataFrame(columns=LPI_COLUMNS), None, (), str(reason))
    return RecruitmentPicture(study_id, as_of, target,
                              recruitment_curve(portfolio, as_of, bands_of(forecast)), sites,
                              forecast.recruitment.by_country, lpi_by_month(forecast), forecast,
                              tuple(extra), None)
