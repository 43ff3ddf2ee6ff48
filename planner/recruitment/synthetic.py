"""Synthetic trials whose whole recruitment is known: the calibration study's ground truth.

Each trial draws its sites' openings and true rates, simulates every
randomization to the end, and can show itself as the store would have at any
cut (``portfolio_at``): sites opened by then with their activation date, sites
still in start-up with their planned date, sites closed by then marked closed.
Kinds (DESIGN §3/§4): ``constant`` rates; ``declining`` rates (e^{−δt} in
calendar time); ``late_opening`` (a third of the sites open a year later);
``closures`` (a third of the sites stop recruiting early); ``never_enroll``
(a fifth of the sites never recruit). Planned activation dates are the actual
ones: the calibration measures the rate model, not start-up slippage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from planner.domain import SiteStatus
from planner.frames import SCHEMAS, SITES, STUDIES, SUBJECTS, Portfolio
from planner.recruitment.history import DAYS_PER_MONTH
from planner.recruitment.simulate import decay_clock, from_decay_clock

KINDS = ("constant", "declining", "late_opening", "closures", "never_enroll")
START = dt.date(2020, 1, 6)
HORIZON_MONTHS = 120.0


@dataclass(frozen=True)
class SyntheticTrial:
    study_id: str
    kind: str
    target: int
    sites: pd.DataFrame  # site_id, country, opens, closes (months from start), rate
    randomized: np.ndarray  # every randomization, months from start, sorted
    arrival_site: np.ndarray

    def date(self, months: float) -> dt.date:
        return START + dt.timedelta(days=int(np.floor(months * DAYS_PER_MONTH)))

    def cut_at_share(self, share: float) -> dt.date:
        """The date the trial reached ``share`` of its target."""
        return self.date(self.randomized[int(np.ceil(self.target * share)) - 1])

    @property
    def lpi(self) -> dt.date:
        return self.date(self.randomized[self.target - 1])

    def portfolio_at(self, cut: dt.date) -> Portfolio:
        """The study as recorded at ``cut`` (later events unknown)."""
        cut_day = (cut - START).days

        def by_cut(months: np.ndarray) -> np.ndarray:  # happened on or before the cut day
            return np.floor(np.asarray(months) * DAYS_PER_MONTH) <= cut_day

        sites = self.sites
        opened = by_cut(sites["opens"])
        closed = opened & by_cut(sites["closes"])
        dates = [self.date(m) for m in sites["opens"]]
        frame = pd.DataFrame({
            "study_id": self.study_id, "site_id": sites["site_id"],
            "country": sites["country"], "investigator": None,
            "status": np.where(closed, SiteStatus.CLOSED.value,
                               np.where(opened, SiteStatus.ENROLLING.value,
                                        SiteStatus.SELECTED.value)),
            "planned_activation": pd.to_datetime(dates),
            "actual_activation": pd.to_datetime([d if o else None
                                                 for d, o in zip(dates, opened, strict=True)]),
            "target_randomized": None, "cra_id": None,
        })
        known = by_cut(self.randomized)
        when = pd.to_datetime([self.date(m) for m in self.randomized[known]])
        subjects = pd.DataFrame({
            "study_id": self.study_id,
            "site_id": sites["site_id"].to_numpy()[self.arrival_site[known]],
            "subject_id": [f"{self.study_id}-{i:05d}" for i in range(int(known.sum()))],
            "arm": None, "screened": when, "randomized": when, "screen_failed": pd.NaT,
            "discontinued": pd.NaT, "completed": pd.NaT, "disposition": None,
        })
        studies = pd.DataFrame([{
            "study_id": self.study_id, "sponsor": "synthetic", "title": self.kind,
            "phase": "III", "therapeutic_area": None, "target_randomized": self.target,
            "planned_sf_rate": 0.0, "dropout_rate": 0.1, "treatment_weeks": 26.0,
            "followup_weeks": 4.0, "currency": "USD"}])
        frames = dict(_empty_frames())
        frames.update(studies=STUDIES.conform(studies), sites=SITES.conform(frame),
                      subjects=SUBJECTS.conform(subjects))
        return Portfolio(**frames)


@cache
def _empty_frames() -> dict[str, pd.DataFrame]:
    """The frames a synthetic trial has no rows in (shared: frames are read-only)."""
    return {schema.name: schema.conform(pd.DataFrame(columns=schema.names))
            for schema in SCHEMAS}


def synthetic_trial(kind: str, rng: np.random.Generator, study_id: str = "SYN") -> SyntheticTrial:
    """One trial of ``kind`` with randomly drawn size, rates and openings."""
    if kind not in KINDS:
        raise ValueError(f"unknown synthetic trial kind {kind!r}; one of {KINDS}")
    n = int(rng.integers(15, 81))
    alpha = rng.uniform(1.0, 3.0)
    mean = rng.uniform(0.2, 0.8)
    rates = rng.gamma(alpha, mean / alpha, n)
    opens = np.sort(rng.uniform(0, rng.uniform(3, 9), n))
    closes = np.full(n, HORIZON_MONTHS)
    delta = 0.0
    if kind == "declining":
        delta = rng.uniform(0.03, 0.08)
    elif kind == "late_opening":
        late = rng.random(n) < 1 / 3
        opens[late] = rng.uniform(12, 20, late.sum())
    elif kind == "closures":
        stop = rng.random(n) < 1 / 3
        closes[stop] = opens[stop] + rng.uniform(3, 18, stop.sum())
    elif kind == "never_enroll":
        rates[rng.random(n) < 0.2] = 0.0
    # arrivals: Poisson counts over each site's window, uniform on the decay clock
    start_clock = decay_clock(opens, delta, floor=0.0)  # the truth declines for ever
    end_clock = decay_clock(closes, delta, floor=0.0)
    counts = rng.poisson(rates * (end_clock - start_clock))
    site = np.repeat(np.arange(n), counts)
    clock = rng.uniform(start_clock[site], end_clock[site])
    months = from_decay_clock(clock, np.full(len(clock), delta), floor=0.0)
    order = np.argsort(months, kind="stable")
    months, site = months[order], site[order]
    horizon = rng.uniform(12, 24)
    target = max(int(np.searchsorted(months, horizon)), 20)
    target = min(target, len(months))
    countries = rng.choice(["US", "DE", "FR", "PL", "ES", "GB"], n)
    table = pd.DataFrame({"site_id": [f"{i + 1:03d}" for i in range(n)], "country": countries,
                          "opens": opens, "closes": closes, "rate": rates})
    return SyntheticTrial(study_id, kind, target, table, months, site)
