"""One study's recruitment history at a data cut, in months relative to the cut.

Everything the models read is here: per site its opening (negative = opened
before the cut, positive = planned), closure, randomized count and exposure;
per randomized subject its time and site. Rules (docs/FORECASTING.md):

* a site opened at the earliest of its recorded activation, first screening and
  first randomization (with ``activation="first_randomization"``, for data
  without activations such as the CDISC pilot: at its first randomization);
* days between the study's last event and a later cut count as days without
  recruitment (the command line refuses a cut after the store's data cut);
* a site not open at the cut opens at its planned activation; one already
  overdue is assumed to open ``OVERDUE_OPENING`` months after the cut; one with
  neither date (identified, not planned) is left out and counted;
* a closed site stops at its last randomization (or at the cut);
* exposure τ = months open before the cut (to closure); count k = randomized
  at the site up to the cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from planner.domain import SiteStatus
from planner.frames import Portfolio
from planner.recruitment.poisson_gamma import RecruitmentDataError

DAYS_PER_MONTH = 365.25 / 12
OVERDUE_OPENING = 1.0  # months after the cut for a site whose planned activation has passed

Activation = Literal["recorded", "first_randomization"]


class ForecastInputError(RecruitmentDataError):
    """The study's data cannot support a forecast; the message says why."""


def months_between(start: np.ndarray | pd.Series, end: dt.date) -> np.ndarray:
    """(start − end) in months: negative before ``end``."""
    days = (pd.to_datetime(pd.Series(start)) - pd.Timestamp(end)).dt.days
    return days.to_numpy(dtype=float, na_value=np.nan) / DAYS_PER_MONTH


def date_after(cut: dt.date, months: float) -> dt.date:
    """The calendar date ``months`` after ``cut`` (rounded to the day)."""
    return cut + dt.timedelta(days=int(round(months * DAYS_PER_MONTH)))


@dataclass(frozen=True)
class RecruitmentHistory:
    study_id: str
    cut: dt.date
    target: int
    sites: pd.DataFrame  # site_id, country, opens, closed, count, exposure
    arrival_months: np.ndarray  # randomizations by the cut, months (≤ 0)
    arrival_site: np.ndarray  # their site's row in ``sites``
    screen_fail_rate: float  # observed share of screened that failed (planned when none)
    dropout_rate: float
    treatment_weeks: float
    followup_weeks: float
    first_randomized: dt.date
    unplanned_sites: int  # sites with neither an activation nor a planned date

    @property
    def randomized(self) -> int:
        return int(len(self.arrival_months))

    @property
    def remaining(self) -> int:
        return self.target - self.randomized

    def reached(self, count: int) -> dt.date | None:
        """Date the ``count``-th subject was randomized, when that was before the cut."""
        if count > self.randomized or count <= 0:
            return None
        return date_after(self.cut, float(np.sort(self.arrival_months)[count - 1]))


def _first(subjects: pd.DataFrame, column: str) -> pd.Series:
    return subjects.dropna(subset=[column]).groupby("site_id")[column].min()


def study_as_of(portfolio: Portfolio, study_id: str) -> dt.date | None:
    """The study's own data cut (see :meth:`Portfolio.latest_event`)."""
    return portfolio.latest_event(study_id)


def history_at(portfolio: Portfolio, study_id: str, cut: dt.date | None = None,
               activation: Activation = "recorded",
               known_openings: bool = False) -> RecruitmentHistory:
    """The history of ``study_id`` at ``cut`` (default: the study's data cut).

    ``known_openings`` (back-tests of data without a site plan, such as the CDISC
    pilot): a site that opened after the cut is taken as planned to open when it did.
    """
    studies = portfolio.studies[portfolio.studies["study_id"] == study_id]
    if studies.empty:
        known = ", ".join(portfolio.studies["study_id"].astype(str)) or "none"
        raise ForecastInputError(f"study {study_id!r} is not in the store (studies: {known})")
    study = studies.iloc[0]
    cut = cut or study_as_of(portfolio, study_id)
    if cut is None:
        raise ForecastInputError(f"study {study_id}: no recorded event at all, so no data cut")
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id].copy()
    subjects = portfolio.subjects[portfolio.subjects["study_id"] == study_id]
    stamp = pd.Timestamp(cut)
    all_randomized = subjects[subjects["randomized"].notna()]
    recorded = (sites["actual_activation"] if activation == "recorded"
                else pd.Series(pd.NaT, index=sites.index, dtype="datetime64[s]"))
    firsts = [_first(all_randomized, "randomized")]
    if activation == "recorded":  # a site was open by its first screening or randomization
        firsts.append(_first(subjects, "screened"))
    evidence = [pd.Series(first.reindex(sites["site_id"]).to_numpy(dtype="datetime64[s]"),
                          index=sites.index) for first in firsts]
    eventual = pd.concat([recorded, *evidence], axis=1).min(axis=1)
    if eventual.notna().any() and stamp < eventual.min():
        raise ForecastInputError(
            f"study {study_id}: cut {cut} is before the first site opened "
            f"({eventual.min().date()})")
    randomized = all_randomized[all_randomized["randomized"] <= stamp]
    if randomized.empty:
        raise ForecastInputError(
            f"study {study_id}: no subject randomized by {cut}; a recruitment rate needs at "
            "least one randomization")
    target = int(study["target_randomized"])
    if len(randomized) >= target:
        reached = randomized["randomized"].sort_values().iloc[target - 1].date()
        raise ForecastInputError(
            f"study {study_id}: target of {target} randomized already reached on {reached} "
            f"({len(randomized)} by {cut}); nothing left to forecast")

    opened = eventual.where(eventual <= stamp)

    counts = sites["site_id"].map(randomized.groupby("site_id").size()).fillna(0).to_numpy()
    last = sites["site_id"].map(all_randomized.groupby("site_id")["randomized"].max())
    # closed by the cut: closed now, and its last randomization ever came by the cut
    closed = ((sites["status"] == SiteStatus.CLOSED.value).to_numpy() & opened.notna().to_numpy()
              & ~(last > stamp).to_numpy())
    stop = np.where(closed, months_between(last.fillna(pd.Timestamp(cut)), cut), 0.0)
    opens = months_between(opened, cut)
    planned = months_between(sites["planned_activation"], cut)
    if known_openings:
        planned = np.where(np.isnan(planned), months_between(eventual, cut), planned)
    # a closed site that never opened is gone; one that opened after the cut was open then
    future = np.isnan(opens) & ((sites["status"] != SiteStatus.CLOSED.value).to_numpy()
                                | eventual.notna().to_numpy())
    opens = np.where(future, np.where(planned > 0, planned, OVERDUE_OPENING), opens)
    unplanned = future & np.isnan(planned)
    keep = ~np.isnan(opens) & ~unplanned
    exposure = np.where(opens < 0, np.clip(np.maximum(stop, opens) - opens, 0, None), 0.0)
    table = pd.DataFrame({
        "site_id": sites["site_id"].astype(str).to_numpy(),
        "country": sites["country"].astype(str).to_numpy(),
        "opens": np.maximum(opens, 0.0), "opened_months": np.minimum(opens, 0.0),
        "closed": closed, "count": counts, "exposure": exposure,
        "target": sites["target_randomized"].astype("Float64").to_numpy(dtype=float,
                                                                        na_value=np.nan),
    })[keep].reset_index(drop=True)
    if not (table["exposure"] > 0).any():
        raise ForecastInputError(
            f"study {study_id}: every open site opened on the cut date {cut}; with zero "
            "months of exposure no rate can be estimated")
    index = pd.Index(table["site_id"])
    arrival_site = index.get_indexer(randomized["site_id"].astype(str))
    screened = subjects[subjects["screened"].notna() & (subjects["screened"] <= stamp)]
    failed = screened["screen_failed"].notna().sum()
    planned_sf = study["planned_sf_rate"]
    sf_rate = (failed / len(screened) if len(screened) and failed
               else float(planned_sf) if not pd.isna(planned_sf) else 0.0)
    dropout = study["dropout_rate"]
    return RecruitmentHistory(
        study_id=study_id, cut=cut, target=target, sites=table,
        arrival_months=months_between(randomized["randomized"], cut)[arrival_site >= 0],
        arrival_site=arrival_site[arrival_site >= 0],
        screen_fail_rate=float(sf_rate),
        dropout_rate=0.0 if pd.isna(dropout) else float(dropout),
        treatment_weeks=float(study["treatment_weeks"]),
        followup_weeks=0.0 if pd.isna(study["followup_weeks"]) else float(
            study["followup_weeks"]),
        first_randomized=randomized["randomized"].min().date(),
        unplanned_sites=int(unplanned.sum()),
    )
