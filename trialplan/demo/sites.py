"""Site start-up of one demo study: selection, activation, and the site's true rate.

DESIGN §3: selection to activation takes 4-9 months and 15-20 % of sites
never enroll. Each site's randomization rate is drawn once from the
Poisson-Gamma prior (DESIGN §4) so that recruitment varies between sites the
way the forecasting model assumes. With shape 1.5 that prior alone leaves
about 8 % of long-open sites without a randomization, so only 8 % more are
made dead sites (rate 0): together the 15-20 % of the design. Dates are
numpy ``datetime64[D]``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.domain import SiteStatus
from trialplan.demo.catalogue import COUNTRIES, DAYS_PER_MONTH, StudySpec
from trialplan.demo.names import person_name

NEVER_ENROLL_SHARE = 0.08  # dead sites on top of the Gamma prior's own slow ones
STARTUP_MONTHS = (4.0, 9.0)
PLANNED_STARTUP_MONTHS = 5.0
CLOSE_OUT_DAYS = 42  # close-out visit about six weeks after the site's last subject
SITE_TARGET_MARGIN = 1.2  # sites are given more than their share of the study target
_COUNTRY_NUMBER = {code: 10 + i for i, code in enumerate(COUNTRIES)}


def day(value: dt.date) -> np.datetime64:
    return np.datetime64(value, "D")


def months(count: float) -> np.timedelta64:
    return np.timedelta64(int(round(count * DAYS_PER_MONTH)), "D")


@dataclass(frozen=True)
class Timeline:
    """The contract and protocol dates every later date of a study hangs from."""

    cut: np.datetime64
    signed: np.datetime64
    protocol_final_baseline: np.datetime64
    protocol_final: np.datetime64


def timeline(spec: StudySpec, as_of: dt.date, rng: np.random.Generator) -> Timeline:
    signed = day(as_of) - months(spec.signed_months_ago)
    return Timeline(day(as_of), signed, signed + np.timedelta64(45, "D"),
                    signed + np.timedelta64(int(rng.integers(35, 76)), "D"))


def draw_sites(spec: StudySpec, plan: Timeline, rng: np.random.Generator) -> pd.DataFrame:
    """One row per site with its selection, planned and true activation and true rate.

    ``activation`` may lie after the data cut: that site is still in start-up.
    Rescue sites come last and are selected in the four months after the cut.
    """
    countries = [c for c, n in spec.countries.items() for _ in range(n)]
    rescue = [c for c, n in spec.rescue.items() for _ in range(n)]
    n = len(countries) + len(rescue)
    selection = np.concatenate([
        plan.protocol_final + rng.uniform(0, spec.selection_months * DAYS_PER_MONTH,
                                          len(countries)).round().astype("timedelta64[D]"),
        plan.cut + rng.integers(14, 122, len(rescue)).astype("timedelta64[D]")])
    countries += rescue
    startup = rng.uniform(*STARTUP_MONTHS, n) * DAYS_PER_MONTH
    planned = PLANNED_STARTUP_MONTHS * DAYS_PER_MONTH + rng.integers(0, 15, n)
    never = rng.random(n) < NEVER_ENROLL_SHARE
    rate = rng.gamma(spec.rate_shape, spec.rate_mean / spec.rate_shape, n)
    taken: set[str] = set()
    investigators = [f"Dr. {person_name(rng, c, taken)}" for c in countries]
    sequence = pd.Series(countries).groupby(countries).cumcount() + 1
    site_ids = [f"{_COUNTRY_NUMBER[c]}{s:02d}" for c, s in zip(countries, sequence, strict=True)]
    per_site = int(np.ceil(spec.target_randomized * SITE_TARGET_MARGIN / n))
    return pd.DataFrame({
        "study_id": spec.study_id, "site_id": site_ids, "country": countries,
        "investigator": investigators, "selection": selection,
        "planned_baseline": selection + planned.round().astype("timedelta64[D]"),
        "activation": selection + startup.round().astype("timedelta64[D]"),
        "rate": np.where(never, 0.0, rate), "never_enroll": never,
        "target_randomized": per_site,
    })


def site_rows(sites: pd.DataFrame, subjects: pd.DataFrame, as_of: dt.date,
              enrollment_closed: np.datetime64 | None) -> pd.DataFrame:
    """Sites in the exchange format (without cra_id), statuses consistent with the dates.

    identified: not yet selected; selected: in start-up (activation only
    planned); enrolling: has randomized; activated: open without
    randomizations; closed: enrollment is over and the site's subjects
    finished at least six weeks ago (its close-out visit happened).
    """
    cut = day(as_of)
    active = sites["activation"].to_numpy() <= cut
    randomized = subjects[subjects["randomized"].notna()]
    counts = randomized.groupby("site_id").size().reindex(sites["site_id"], fill_value=0)
    last_end = subjects.groupby("site_id")["last_activity"].max().reindex(sites["site_id"])
    status = np.where(sites["selection"].to_numpy() > cut, SiteStatus.IDENTIFIED.value,
                      SiteStatus.SELECTED.value).astype(object)
    status[active] = SiteStatus.ACTIVATED.value
    status[active & (counts.to_numpy() > 0)] = SiteStatus.ENROLLING.value
    if enrollment_closed is not None:
        still_on = subjects.groupby("site_id")["on_study"].any().reindex(
            sites["site_id"], fill_value=False).to_numpy()
        finished = last_end.fillna(pd.Timestamp(enrollment_closed)).to_numpy(
            dtype="datetime64[D]")
        finished = np.maximum(finished, enrollment_closed)
        closed = active & ~still_on & (finished + np.timedelta64(CLOSE_OUT_DAYS, "D") <= cut)
        status[closed] = SiteStatus.CLOSED.value
    planned = np.where(active, sites["planned_baseline"], sites["activation"])
    return pd.DataFrame({
        "study_id": sites["study_id"], "site_id": sites["site_id"],
        "country": sites["country"], "investigator": sites["investigator"],
        "status": status, "planned_activation": iso(planned),
        "actual_activation": iso(np.where(active, sites["activation"],
                                          np.datetime64("NaT", "D"))),
        "target_randomized": sites["target_randomized"],
    })


def iso(values: np.ndarray | pd.Series) -> list[str]:
    """ISO date text for each value; empty text for a missing date."""
    days = np.asarray(values, dtype="datetime64[D]")
    text = np.datetime_as_string(days, unit="D")
    return ["" if t == "NaT" else str(t) for t in text]
