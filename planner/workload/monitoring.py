"""Monitoring workload per site and month: visits and CRA hours (DESIGN §3).

For each site and calendar month of the horizon:

* SIV in its activation month (recorded, else planned) when that month is in the
  horizon;
* interim visits while it has subjects on study: ``imv_per_month`` (interval by
  months since activation and by the site's risk level) × min(1, subjects on
  study), a ``remote_share`` of them remote; on-site hours grow with the
  subjects on study;
* COV in the month ``close_out_weeks`` after its last subject's last visit,
  once the study's enrollment is over (its LPI) and its subjects are done.

Subjects on study: randomized and not completed or discontinued; one still on
study is expected to finish treatment + follow-up after randomization. New
subjects after the data cut come at the site's expected rate (``rates``: per
site-month, e.g. the recruitment model's posterior means) until the study's
LPI month, and stay treatment + follow-up. All in expected values (fractions).

Each site uses its own drivers: the study's, with the portfolio's stored overrides
applied (site > country > study, ``overrides.site_drivers``).

A site whose status is closed gets no visits: the workload is forward-looking and a
closed site has none left. ``history=True`` asks for the visits of past months instead
(what was delivered, e.g. the sponsor budget's monitoring visits to date): a site
closed now was open then, so a closed site gets its interim visits up to the month of
its last subject visit (or while its subjects were on study when none is recorded) and
its close-out visit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind
from planner.frames import Portfolio
from planner.workload.drivers import (
    DEFAULT_DRIVERS,
    WEEKS_PER_MONTH,
    MonitoringDrivers,
    Risk,
    VisitType,
)
from planner.workload.overrides import site_drivers

WORKLOAD_COLUMNS = ["study_id", "site_id", "role", "month", "visit_type", "visits", "hours"]


def horizon(as_of: dt.date, months: int = 12) -> pd.PeriodIndex:
    """The calendar months from the data cut's month on."""
    return pd.period_range(pd.Period(as_of, "M"), periods=months, freq="M")


def milestone_date(portfolio: Portfolio, study_id: str, kind: MilestoneKind,
                   dates: tuple[str, ...] = ("actual", "forecast", "baseline")
                   ) -> dt.date | None:
    """The study's milestone date: the first of ``dates`` recorded (by default the actual
    date, else the stored forecast, else the baseline); None when none is."""
    frame = portfolio.milestones
    rows = frame[(frame["study_id"] == study_id) & (frame["milestone"] == kind.value)]
    for column in dates:
        values = rows[column].dropna()
        if len(values):
            return values.iloc[0].date()
    return None


def treatment_followup_weeks(portfolio: Portfolio, study_id: str) -> float:
    """Weeks a subject stays on the study: treatment + follow-up (none when not given)."""
    study = portfolio.studies.set_index("study_id").loc[study_id]
    return float(study["treatment_weeks"]) + float(
        0 if pd.isna(study["followup_weeks"]) else study["followup_weeks"])


def _month_index(months: pd.PeriodIndex, dates: pd.Series) -> np.ndarray:
    """Position of each date's month in ``months`` (outside: < 0 or ≥ len; NaT: very
    negative)."""
    first = months[0].ordinal
    stamps = pd.to_datetime(pd.Series(dates))
    positions = (stamps.dt.year * 12 + stamps.dt.month - 1) - (1970 * 12) - first
    return positions.fillna(-10**6).to_numpy(dtype=np.int64)


def _month_at(months: pd.PeriodIndex, when: object) -> int:
    """:func:`_month_index` of one date, without building a Series (it runs per site)."""
    stamp = pd.Timestamp(when)
    return stamp.year * 12 + stamp.month - 1 - 1970 * 12 - months[0].ordinal


def subjects_on_study(portfolio: Portfolio, study_id: str, months: pd.PeriodIndex,
                      as_of: dt.date, rates: Mapping[str, float], lpi: dt.date | None
                      ) -> pd.DataFrame:
    """(site × month) expected subjects on study: enrolled ones until their end, new ones
    at ``rates`` (per site-month) from the cut to the LPI month."""
    duration_weeks = treatment_followup_weeks(portfolio, study_id)
    sites = portfolio.sites.loc[portfolio.sites["study_id"] == study_id, "site_id"].astype(str)
    row_of = {site: i for i, site in enumerate(sites)}
    on = np.zeros((len(sites), len(months)))
    subjects = portfolio.subjects[(portfolio.subjects["study_id"] == study_id)
                                  & portfolio.subjects["randomized"].notna()]
    expected_end = subjects["randomized"] + pd.to_timedelta(duration_weeks * 7, unit="D")
    end = subjects["completed"].fillna(subjects["discontinued"]).fillna(expected_end)
    start_at = np.clip(_month_index(months, subjects["randomized"]), 0, None)
    end_at = np.minimum(_month_index(months, end), len(months) - 1)
    for site, first, last in zip(subjects["site_id"].astype(str), start_at, end_at,
                                 strict=True):
        if first <= last and site in row_of:
            on[row_of[site], first:last + 1] += 1.0
    if lpi is not None and rates:
        stop = min(_month_at(months, lpi),
                   len(months) - 1)
        begin = _month_at(months, as_of) + 1
        stay = max(int(round(duration_weeks / WEEKS_PER_MONTH)), 1)
        arrivals = np.zeros(len(months))
        arrivals[max(begin, 0):stop + 1] = 1.0
        kernel = np.convolve(arrivals, np.ones(stay))[: len(months)]
        for site, rate in rates.items():
            if site in row_of:
                on[row_of[site]] += rate * kernel
    return pd.DataFrame(on, index=pd.Index(list(sites), name="site_id"), columns=months)


def monitoring_workload(portfolio: Portfolio, months: pd.PeriodIndex, as_of: dt.date,
                        rates: Mapping[str, Mapping[str, float]] | None = None,
                        drivers: Mapping[str, MonitoringDrivers] | None = None,
                        risk: Mapping[tuple[str, str], Risk] | None = None,
                        *, history: bool = False) -> pd.DataFrame:
    """The tidy workload frame (WORKLOAD_COLUMNS) of every study's sites over ``months``.

    ``rates``: study → site → expected new randomizations a month after the cut;
    ``drivers``: per-study drivers (default DEFAULT_DRIVERS) that the portfolio's stored
    overrides refine per site; ``risk``: (study, site) → risk level (default medium);
    ``history``: ``months`` are past months, so sites closed now still count up to
    their last subject visit (the default, forward workload skips them).
    """
    rows = []
    chosen, sets = site_drivers(portfolio.sites, portfolio.drivers, drivers)
    by_study: dict[str, dict[str, MonitoringDrivers]] = {}
    for (study, site), code in chosen.items():
        by_study.setdefault(str(study), {})[str(site)] = sets[code]
    for study_id in portfolio.studies["study_id"].astype(str):
        lpi = milestone_date(portfolio, study_id, MilestoneKind.LPI)
        on = subjects_on_study(portfolio, study_id, months, as_of,
                               (rates or {}).get(study_id, {}), lpi)
        if history:
            on = _until_last_visit(portfolio, study_id, months, on)
        rows.append(_site_visits(portfolio, study_id, months, on, by_study.get(study_id, {}),
                                 risk or {}, lpi, history))
    if not rows:
        return pd.DataFrame(columns=WORKLOAD_COLUMNS)
    return pd.concat(rows, ignore_index=True)[WORKLOAD_COLUMNS]


def _until_last_visit(portfolio: Portfolio, study_id: str, months: pd.PeriodIndex,
                      on: pd.DataFrame) -> pd.DataFrame:
    """``on`` with each closed site's subjects off study after the month of the site's
    last recorded subject visit (a closed site had no subject left after it)."""
    sites = portfolio.sites[(portfolio.sites["study_id"] == study_id)
                            & (portfolio.sites["status"] == "closed")]
    visits = portfolio.visits[portfolio.visits["study_id"] == study_id]
    last = visits.groupby(visits["site_id"].astype(str))["visit_date"].max()
    out = on.copy()
    for site in sites["site_id"].astype(str):
        if site in out.index and pd.notna(last.get(site)):
            after = _month_at(months, last[site]) + 1
            out.iloc[out.index.get_loc(site), max(after, 0):] = 0.0
    return out


def _site_visits(portfolio: Portfolio, study_id: str, months: pd.PeriodIndex,
                 on: pd.DataFrame, drivers: Mapping[str, MonitoringDrivers],
                 risk: Mapping[tuple[str, str], Risk], lpi: dt.date | None,
                 history: bool = False) -> pd.DataFrame:
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id]
    activation = sites["actual_activation"].fillna(sites["planned_activation"])
    active_at = _month_index(months, activation)
    out = []
    for site, start, now in zip(sites["site_id"].astype(str), active_at, sites["status"],
                                strict=True):
        closed = now == "closed" and not history  # history: open in the months asked
        driver = drivers.get(site, DEFAULT_DRIVERS)
        hours = driver.hours
        subjects = on.loc[site].to_numpy() if site in on.index else np.zeros(len(months))
        if 0 <= start < len(months):
            out.append((site, months[start], VisitType.SIV, 1.0, hours[VisitType.SIV].total))
        level = risk.get((study_id, site), Risk.MEDIUM)
        for m, period in enumerate(months):
            if m < start or closed or subjects[m] <= 0:
                continue
            imv = driver.imv_per_month(m - start, level) * min(1.0, subjects[m])
            extra = driver.on_site_per_subject * subjects[m]
            remote = imv * driver.remote_share
            visit, online = hours[VisitType.IMV], hours[VisitType.REMOTE_IMV]
            out.append((site, period, VisitType.IMV, imv - remote,
                        (imv - remote) * (visit.total + extra)))
            out.append((site, period, VisitType.REMOTE_IMV, remote,
                        remote * (online.total + extra)))
        close = _close_out_month(subjects, start, lpi, months, driver, closed)
        if close is not None:
            out.append((site, months[close], VisitType.COV, 1.0, hours[VisitType.COV].total))
    frame = pd.DataFrame(out, columns=["site_id", "month", "visit_type", "visits", "hours"])
    frame.insert(0, "study_id", study_id)
    frame.insert(2, "role", "CRA")
    frame["visit_type"] = frame["visit_type"].map(lambda v: v.value).astype("string")
    return frame.astype({"visits": float, "hours": float})


def _close_out_month(subjects: np.ndarray, start: int, lpi: dt.date | None,
                     months: pd.PeriodIndex, driver: MonitoringDrivers,
                     closed: bool) -> int | None:
    """Month of the close-out visit when it falls inside the horizon: ``close_out_weeks``
    after the later of the site's last month with subjects on study and the study's LPI
    month (a site keeps recruiting until LPI)."""
    lpi_at = _month_at(months, lpi) if lpi is not None else len(months)
    if closed or start >= len(months) or lpi_at >= len(months):
        return None
    busy = np.flatnonzero(subjects > 1e-9)
    if len(busy) and busy[-1] == len(months) - 1:
        return None  # subjects still on study at the end of the horizon
    last = max(int(busy[-1]) if len(busy) else -1, lpi_at, start)
    close = last + max(1, int(round(driver.close_out_weeks / WEEKS_PER_MONTH)))
    return close if 0 <= close < len(months) else None
