"""Back-tests: cut a study's history, forecast LPI, compare with what happened.

A cut is a date or a share of the target (the date the share was reached).
For each cut and model the row holds the LPI P10/P50/P90, the actual LPI, the
error of the median in days, the PIT (share of simulations at or before the
actual date: uniform over many studies when the forecast is calibrated) and
whether the actual date fell inside the 80 % interval [P10, P90].
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from planner.frames import Portfolio
from planner.recruitment.forecast import forecast_recruitment
from planner.recruitment.history import (
    Activation,
    ForecastInputError,
    date_after,
    history_at,
)
from planner.recruitment.models import Model

AUTO = "auto"  # the selection rule picks the model
BACKTEST_COLUMNS = ["study_id", "cut", "cut_date", "randomized_at_cut", "model", "selected",
                    "p10", "p50", "p90", "actual", "error_days", "pit", "inside_80"]


def randomization_dates(portfolio: Portfolio, study_id: str) -> np.ndarray:
    subjects = portfolio.subjects
    dates = subjects.loc[(subjects["study_id"] == study_id) & subjects["randomized"].notna(),
                         "randomized"]
    return np.sort(dates.to_numpy(dtype="datetime64[D]"))


def cut_date(portfolio: Portfolio, study_id: str, cut: dt.date | float, target: int) -> dt.date:
    """``cut`` itself when a date; else the day the ``cut`` share of target was randomized."""
    if isinstance(cut, dt.date):
        return cut
    dates = randomization_dates(portfolio, study_id)
    needed = math.ceil(target * cut)
    if needed > len(dates):
        raise ForecastInputError(
            f"study {study_id}: {cut:.0%} of target ({needed}) was never reached "
            f"({len(dates)} randomized)")
    return dates[needed - 1].astype(dt.date)


def backtest(portfolio: Portfolio, study_id: str, cuts: Sequence[dt.date | float],
             actual_lpi: dt.date, models: Sequence[Model | str] = (AUTO, Model.PLUG_IN),
             sims: int = 4_000, seed: int = 0,
             activation: Activation = "recorded", known_openings: bool = False,
             target: int | None = None) -> pd.DataFrame:
    """One row per cut and model (see the module docstring); ``target`` overrides the
    stored one, ``known_openings`` as in :func:`history_at`."""
    studies = portfolio.studies.copy()
    chosen = studies["study_id"] == study_id
    if target is not None:
        studies.loc[chosen, "target_randomized"] = target
        portfolio = replace(portfolio, studies=studies)
    target = int(studies.loc[chosen, "target_randomized"].iloc[0])
    rows = []
    for cut in cuts:
        when = cut_date(portfolio, study_id, cut, target)
        history = history_at(portfolio, study_id, when, activation, known_openings)
        truth = (actual_lpi - when).days
        for model in models:
            forecast = forecast_recruitment(history, sims, seed,
                                            None if model == AUTO else Model(model))
            days = forecast.lpi_months() * (365.25 / 12)
            p10, p50, p90 = np.quantile(days, [0.1, 0.5, 0.9], method="inverted_cdf")
            rows.append({
                "study_id": study_id,
                "cut": cut.isoformat() if isinstance(cut, dt.date) else f"{cut:.0%}",
                "cut_date": when, "randomized_at_cut": history.randomized,
                "model": str(model), "selected": forecast.model.value,
                "p10": _date(when, p10), "p50": _date(when, p50), "p90": _date(when, p90),
                "actual": actual_lpi,
                "error_days": None if not np.isfinite(p50) else int(round(p50)) - truth,
                "pit": float(np.mean(days <= truth)),
                "inside_80": bool(p10 <= truth <= p90),
            })
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)


def _date(cut: dt.date, days: float) -> dt.date | None:
    return date_after(cut, days / (365.25 / 12)) if np.isfinite(days) else None
