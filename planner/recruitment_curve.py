"""A study's cumulative recruitment curve by month: actual, baseline plan, forecast fan.

The sponsor review workbook and the recruitment dashboard draw the same curve
from the same function. The fan runs linearly between the forecast's P10, P50
and P90 dates of 25, 50, 75 and 100 % of target (the simulation keeps those
milestones, not whole paths).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from planner.frames import Portfolio
from planner.recruitment.poisson_gamma import RecruitmentDataError
from planner.study_forecast import StudyForecast, forecast_study

FORECAST_SIMS = 2_000
FORECAST_SEED = 0
SHARES = {"enrolled_25": 0.25, "enrolled_50": 0.5, "enrolled_75": 0.75, "lpi": 1.0}
CURVE_COLUMNS = ["month", "actual", "planned", "p10", "p50", "p90"]
Bands = dict[str, tuple[dt.date | None, dt.date | None, dt.date | None]]


def bands_of(forecast: StudyForecast) -> Bands:
    """Milestone kind → (p10, p50, p90) dates of ``forecast``."""
    return {m.kind.value: (m.p10, m.p50, m.p90) for m in forecast.milestones}


def milestone_bands(portfolio: Portfolio, study_id: str, as_of: dt.date,
                    sims: int = FORECAST_SIMS, seed: int = FORECAST_SEED) -> Bands | None:
    """Milestone kind (enrolled_50, lpi, csr_final ...) → (p10, p50, p90) dates of a
    recruitment forecast at ``as_of``; None when the study cannot be forecast then
    (nothing randomized yet, target reached)."""
    try:
        result = forecast_study(portfolio, study_id, as_of, sims, seed)
    except RecruitmentDataError:
        return None
    return bands_of(result)


def _month_ends(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(first.to_period("M").to_timestamp(how="end").normalize(),
                         last.to_period("M").to_timestamp(how="end").normalize(), freq="ME")


def recruitment_curve(portfolio: Portfolio, as_of: dt.date, forecast: Bands | None
                      ) -> pd.DataFrame:
    """Cumulative randomized by month (:data:`CURVE_COLUMNS`) of the one study in
    ``portfolio``: actual to the cut, the baseline plan (linear from fpi to lpi
    baselines), and the forecast fan linear between its milestone dates."""
    cut = pd.Timestamp(as_of)
    target = int(portfolio.studies["target_randomized"].iloc[0])
    randomized = portfolio.subjects["randomized"].dropna().sort_values()
    base = portfolio.milestones.set_index("milestone")["baseline"]
    starts = [d for d in (base.get("fpi"), randomized.min() if len(randomized) else None)
              if d is not None and pd.notna(d)]
    if not starts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    ends = [d for d in (base.get("lpi"), cut) if d is not None and pd.notna(d)]
    if forecast:
        ends += [d for dates in forecast.values() for d in dates if d is not None]
    months = _month_ends(min(starts), max(pd.Timestamp(d) for d in ends))
    actual = np.searchsorted(randomized.to_numpy(), months.to_numpy(), side="right")
    out = pd.DataFrame({"month": months.astype("datetime64[s]"),
                        "actual": pd.array(np.where(months <= cut, actual, 0), dtype="Int64")})
    out.loc[months > cut, "actual"] = pd.NA
    fpi, lpi = base.get("fpi"), base.get("lpi")
    if pd.notna(fpi) and pd.notna(lpi) and lpi > fpi:
        share = ((months - fpi) / (lpi - fpi)).to_numpy(float).clip(0, 1)
        out["planned"] = pd.array(np.round(share * target), dtype="Int64")
    else:
        out["planned"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for position, name in enumerate(("p10", "p50", "p90")):
        out[name] = _fan(months, cut, int(actual[months <= cut][-1]) if (months <= cut).any()
                         else 0, target, forecast, position)
    return out


def _fan(months: pd.DatetimeIndex, cut: pd.Timestamp, now: int, target: int,
         forecast: Bands | None, position: int) -> pd.arrays.IntegerArray:
    if not forecast:
        return pd.array([pd.NA] * len(months), dtype="Int64")
    points = [(cut, now)] + sorted(
        (pd.Timestamp(forecast[k][position]), math.ceil(share * target))
        for k, share in SHARES.items()
        if k in forecast and forecast[k][position] is not None
        and math.ceil(share * target) > now and pd.Timestamp(forecast[k][position]) > cut)
    days = np.array([(p[0] - cut).days for p in points], dtype=float)
    counts = np.array([p[1] for p in points], dtype=float)
    offsets = np.array([(m - cut).days for m in months], dtype=float)
    values = np.round(np.interp(offsets, days, counts))
    return pd.array(np.where(months > cut, values, np.nan), dtype="Int64")
