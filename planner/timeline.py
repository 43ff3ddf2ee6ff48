"""Milestone timeline: the enrollment forecast carried to LPLV, DBL and CSR (DESIGN §3).

Per simulation, from that simulation's LPI:

    LPLV = LPI + treatment + follow-up          (the last subject's last visit)
    DBL  = LPLV + U(5, 8) weeks                 (database cleaning and lock)
    CSR  = DBL + U(12, 16) weeks                (clinical study report final)

so every simulation is ordered (25 % ≤ 50 % ≤ 75 % ≤ LPI ≤ LPLV ≤ DBL ≤ CSR) and
so are the quantiles of each milestone (a quantile of a larger variable is not
smaller). Quantiles use the inverted CDF (no interpolation), so a share of
simulations that never arrive gives "not reached" instead of a made-up date;
so does a date more than 50 years after the cut (``HORIZON_MONTHS``).
Milestones reached before the cut show their actual date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from planner.domain import MilestoneKind
from planner.recruitment.forecast import HORIZON_MONTHS, RecruitmentForecast
from planner.recruitment.history import date_after

DBL_LAG_WEEKS = (5.0, 8.0)
CSR_LAG_WEEKS = (12.0, 16.0)
WEEKS_PER_MONTH = 365.25 / 12 / 7
QUANTILES = (0.1, 0.5, 0.9)
NAMES = {MilestoneKind.ENROLLED_25: "25%", MilestoneKind.ENROLLED_50: "50%",
         MilestoneKind.ENROLLED_75: "75%", MilestoneKind.LPI: "LPI",
         MilestoneKind.LPLV: "LPLV", MilestoneKind.DBL: "DBL", MilestoneKind.CSR_FINAL: "CSR"}


@dataclass(frozen=True)
class MilestoneForecast:
    kind: MilestoneKind
    p10: dt.date | None  # None: not reached within the horizon in that share of simulations
    p50: dt.date | None
    p90: dt.date | None
    reached: bool  # already happened: the three dates are the actual one

    @property
    def name(self) -> str:
        return NAMES[self.kind]


def downstream_months(lpi: np.ndarray, treatment_weeks: float, followup_weeks: float,
                      rng: np.random.Generator) -> dict[MilestoneKind, np.ndarray]:
    """LPLV, DBL and CSR per simulation, in months after the cut."""
    lplv = lpi + (treatment_weeks + followup_weeks) / WEEKS_PER_MONTH
    dbl = lplv + rng.uniform(*DBL_LAG_WEEKS, size=len(lpi)) / WEEKS_PER_MONTH
    csr = dbl + rng.uniform(*CSR_LAG_WEEKS, size=len(lpi)) / WEEKS_PER_MONTH
    return {MilestoneKind.LPLV: lplv, MilestoneKind.DBL: dbl, MilestoneKind.CSR_FINAL: csr}


def quantile_dates(cut: dt.date, months: np.ndarray) -> list[dt.date | None]:
    """P10, P50, P90 of ``months`` after ``cut`` as dates (None: never)."""
    values = np.quantile(months, QUANTILES, method="inverted_cdf")
    return [date_after(cut, float(v)) if v <= HORIZON_MONTHS else None for v in values]


def milestone_forecasts(forecast: RecruitmentForecast, seed: int) -> list[MilestoneForecast]:
    """Every enrollment and downstream milestone of ``forecast`` with its P10/P50/P90."""
    history = forecast.history
    out = []
    for column, (kind, count) in enumerate(forecast.milestones):
        actual = history.reached(count)
        if actual is not None:
            out.append(MilestoneForecast(kind, actual, actual, actual, True))
        else:
            dates = quantile_dates(history.cut, forecast.months[:, column])
            out.append(MilestoneForecast(kind, *dates, False))
    rng = np.random.default_rng([seed, 11])
    later = downstream_months(forecast.lpi_months(), history.treatment_weeks,
                              history.followup_weeks, rng)
    for kind, months in later.items():
        out.append(MilestoneForecast(kind, *quantile_dates(history.cut, months), False))
    return out
