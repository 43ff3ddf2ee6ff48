"""Milestones of one demo study: baseline plan, simple forecast, actuals up to the cut.

The baseline is the contracted plan (linear enrollment over the planned
months from the planned FPI); actuals come from the simulated history
(first activation, first randomization, the day 25/50/75/100 % of the target
was randomized, last visit). Unreached milestones are forecast from the
recruitment rate of the last three months, the downstream ones chained with
the DESIGN §3 lags (LPLV = LPI + treatment and follow-up, DBL about six
weeks later, CSR about fourteen weeks after DBL). The recruitment forecast
models replace these forecasts later; the demo only needs sensible values.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind as K
from trialplan.demo.catalogue import DAYS_PER_MONTH, StudySpec
from trialplan.demo.enrollment import Enrollment
from trialplan.demo.sites import Timeline, day, iso, months

CLEANING_DAYS = 42
TOPLINE_DAYS = 28
CSR_DAYS = 98
RECENT_DAYS = 91
FULL_SPEED_SHARE = 0.6  # floor: this share of the rate all enrolling sites would give
ENROLLED = {K.ENROLLED_25: 0.25, K.ENROLLED_50: 0.50, K.ENROLLED_75: 0.75, K.LPI: 1.0}


def _days(count: float) -> np.timedelta64:
    return np.timedelta64(int(round(count)), "D")


def _after_lpi(lpi: np.datetime64, spec: StudySpec) -> dict[K, np.datetime64]:
    lplv = lpi + _days(7 * (spec.treatment_weeks + spec.followup_weeks))
    dbl = lplv + _days(CLEANING_DAYS)
    return {K.LPLV: lplv, K.DBL: dbl, K.TOPLINE: dbl + _days(TOPLINE_DAYS),
            K.CSR_FINAL: dbl + _days(CSR_DAYS)}


def _baseline(spec: StudySpec, plan: Timeline, sites: pd.DataFrame) -> dict[K, np.datetime64]:
    first_site = sites["planned_baseline"].min().to_datetime64().astype("datetime64[D]")
    fpi = first_site + _days(30)
    dates = {K.CONTRACT_SIGNED: plan.signed, K.PROTOCOL_FINAL: plan.protocol_final_baseline,
             K.FIRST_SITE_ACTIVATED: first_site, K.FPI: fpi}
    for kind, share in ENROLLED.items():
        dates[kind] = fpi + months(spec.planned_enrollment_months * share)
    return dates | _after_lpi(dates[K.LPI], spec)


def _actual(spec: StudySpec, plan: Timeline, sites: pd.DataFrame, history: Enrollment,
            cut: np.datetime64) -> dict[K, np.datetime64]:
    dates: dict[K, np.datetime64] = {K.CONTRACT_SIGNED: plan.signed,
                                     K.PROTOCOL_FINAL: plan.protocol_final}
    active = sites.loc[sites["activation"] <= cut, "activation"]
    if len(active):
        dates[K.FIRST_SITE_ACTIVATED] = active.min().to_datetime64().astype("datetime64[D]")
    randomized = np.sort(history.subjects["randomized"].dropna().to_numpy("datetime64[D]"))
    if len(randomized):
        dates[K.FPI] = randomized[0]
    for kind, share in ENROLLED.items():
        needed = int(np.ceil(spec.target_randomized * share))
        if len(randomized) >= needed:
            dates[kind] = randomized[needed - 1]
    subjects = history.subjects
    if K.LPI in dates and not subjects["on_study"].any():
        dates[K.LPLV] = history.visits["date"].max().to_datetime64().astype("datetime64[D]")
        dbl = dates[K.LPLV] + _days(CLEANING_DAYS)
        for kind, when in ((K.DBL, dbl), (K.TOPLINE, dbl + _days(TOPLINE_DAYS)),
                           (K.CSR_FINAL, dbl + _days(CSR_DAYS))):
            if when <= cut:
                dates[kind] = when
    return dates


def _forecast(spec: StudySpec, sites: pd.DataFrame, history: Enrollment, cut: np.datetime64,
              actual: dict[K, np.datetime64]) -> dict[K, np.datetime64]:
    """Actual where reached; else the recent monthly rate carried forward.

    While sites are still opening the recent rate understates what is coming,
    so it is floored at a share of the rate of all sites expected to enroll.
    """
    dates = dict(actual)
    tomorrow = cut + _days(1)
    if K.FIRST_SITE_ACTIVATED not in dates:
        dates[K.FIRST_SITE_ACTIVATED] = max(
            sites["activation"].min().to_datetime64().astype("datetime64[D]"), tomorrow)
    if K.FPI not in dates:
        dates[K.FPI] = max(dates[K.FIRST_SITE_ACTIVATED] + _days(30), tomorrow)
    randomized = history.subjects["randomized"].dropna().to_numpy("datetime64[D]")
    recent = int((randomized > cut - _days(RECENT_DAYS)).sum()) / (RECENT_DAYS / DAYS_PER_MONTH)
    enrolling_sites = int((~sites["never_enroll"]).sum())
    per_month = max(recent, FULL_SPEED_SHARE * spec.rate_mean * max(enrolling_sites, 1))
    origin = cut if len(randomized) else dates[K.FPI]
    for kind, share in ENROLLED.items():
        if kind not in dates:
            missing = np.ceil(spec.target_randomized * share) - len(randomized)
            dates[kind] = max(origin + months(missing / per_month), tomorrow)
    lags = ((K.LPLV, 7 * (spec.treatment_weeks + spec.followup_weeks)),
            (K.DBL, CLEANING_DAYS), (K.TOPLINE, TOPLINE_DAYS), (K.CSR_FINAL, CSR_DAYS))
    previous = K.LPI
    for kind, lag in lags:  # chained from the latest known date of each predecessor
        anchor = dates[previous] if kind is not K.CSR_FINAL else dates[K.DBL]
        dates.setdefault(kind, max(anchor + _days(lag), tomorrow))
        previous = kind
    return dates


def milestone_rows(spec: StudySpec, plan: Timeline, sites: pd.DataFrame, history: Enrollment,
                   as_of: dt.date) -> pd.DataFrame:
    """Every milestone kind of the study in the exchange format (MILESTONE_FIELDS)."""
    cut = day(as_of)
    baseline = _baseline(spec, plan, sites)
    actual = _actual(spec, plan, sites, history, cut)
    forecast = _forecast(spec, sites, history, cut, actual)
    kinds = list(K)
    missing = np.datetime64("NaT", "D")
    return pd.DataFrame({
        "study_id": spec.study_id, "milestone": [k.value for k in kinds],
        "baseline": iso([baseline[k] for k in kinds]),
        "forecast": iso([forecast[k] for k in kinds]),
        "actual": iso([actual.get(k, missing) for k in kinds]),
    })
