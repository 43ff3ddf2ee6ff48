"""The inverse what-if: fewest extra sites to reach the target by a date with probability p.

Extra sites come from their own random stream, one column per site, so with
the same seed the simulations with n + 1 sites are those with n plus one more
site: every simulated LPI can only move earlier and P(LPI ≤ D) is
non-decreasing in n. That makes a doubling search followed by bisection
exact for the simulated probabilities (no noise between the steps).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from planner.recruitment.forecast import ExtraSites, forecast_recruitment
from planner.recruitment.history import DAYS_PER_MONTH, ForecastInputError, RecruitmentHistory
from planner.recruitment.models import Model

MAX_EXTRA_SITES = 1_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitesNeeded:
    sites: int | None  # None: not reachable with up to MAX_EXTRA_SITES
    country: str
    opens: float  # months after the cut
    target_date: dt.date
    probability: float  # asked for
    baseline_probability: float  # P(LPI ≤ target date) without extra sites
    achieved_probability: float  # with ``sites`` extra sites (or with the maximum tried)
    model: Model
    months_to_target: float  # from the cut to the target date


def sites_needed(history: RecruitmentHistory, country: str, opens: float,
                 target_date: dt.date, probability: float, sims: int = 10_000, seed: int = 0,
                 model: Model | None = None) -> SitesNeeded:
    """Smallest n such that n more sites in ``country`` opening ``opens`` months after the
    cut give P(LPI ≤ ``target_date``) ≥ ``probability``."""
    if sims < 100:
        raise ForecastInputError(f"sims must be at least 100 (got {sims})")
    if not 0 < probability < 1:
        raise ForecastInputError(f"probability must be between 0 and 1 (got {probability})")
    if target_date <= history.cut:
        raise ForecastInputError(f"target date {target_date} is not after the cut {history.cut}")
    limit = (target_date - history.cut).days / DAYS_PER_MONTH
    chosen = model

    def chance(n: int) -> float:
        nonlocal chosen
        forecast = forecast_recruitment(history, sims, seed, chosen,
                                        [ExtraSites(country, n, opens)] if n else [])
        chosen = forecast.model  # the baseline's model for every step
        reached = float(np.mean(forecast.lpi_months() <= limit))
        log.info("sites needed: %d extra sites in %s reach the target by %s with "
                 "probability %.3f", n, country, target_date, reached)
        return reached

    baseline = chance(0)
    if baseline >= probability:
        return SitesNeeded(0, country, opens, target_date, probability, baseline, baseline,
                           chosen, limit)
    if opens >= limit:  # sites opening after the date cannot help
        return SitesNeeded(None, country, opens, target_date, probability, baseline, baseline,
                           chosen, limit)
    high, at_high = 1, chance(1)
    while at_high < probability and high < MAX_EXTRA_SITES:
        high = min(high * 2, MAX_EXTRA_SITES)
        at_high = chance(high)
    if at_high < probability:
        return SitesNeeded(None, country, opens, target_date, probability, baseline, at_high,
                           chosen, limit)
    low = high // 2  # chance(low) < probability (or low == 0)
    while high - low > 1:
        middle = (low + high) // 2
        at_middle = chance(middle)
        if at_middle >= probability:
            high, at_high = middle, at_middle
        else:
            low = middle
    return SitesNeeded(high, country, opens, target_date, probability, baseline, at_high,
                       chosen, limit)
