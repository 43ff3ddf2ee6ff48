"""Units of each budget driver: delivered by a date (from the plan of record) and planned
by a date (from the baseline timeline), docs/SPONSOR_BUDGET.md "Actuals" and "Earned
value".

Pure and vectorized over the portfolio frames (planner.frames). Choices the doc
leaves open, made here:

* a **whole calendar month** has ended by D when its last day is ≤ D; months
  count from the start's month (the start month counts whole), so a line priced
  for the months from contract to final report (both months included) is fully
  delivered at the end of the final report's month;
* PV of **months** is linear in those whole months (elapsed from the baseline
  start's month / months from it to csr_final's month), so a study on plan has
  SPI = 1 at each month end; the other linear drivers are linear in days;
* the **baseline start** (PV) is contract_signed's baseline, else the study
  start (actual date of contract_signed, else its baseline, else the first site
  activation), which is what EV counts from;
* **monitoring visits** are the workload model's IMV and remote IMV visits (not
  SIV or COV) in months ended by D, in expected (fractional) numbers rounded
  half up to 2 decimals, the units' scale; ``work_visits_to_date`` places them
  from the first study start on (``portfolio_workload`` starts at the cut) as
  history: a site closed now counts up to its last subject visit;
* the planned **share of sites** is over the sites with a planned activation, of
  **deliverables** over the deliverable milestones with a baseline;
* a missing baseline plans nothing (share 0) and says so in ``basis``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind
from planner.frames import Col, FrameSchema, Portfolio
from planner.workload.monitoring import WORKLOAD_COLUMNS, milestone_date, monitoring_workload

PAGES_PER_VISIT = 8  # CRF pages per subject visit (crf_pages driver; the Assumptions sheet)
MONITORING_VISIT_TYPES = ("IMV", "remote IMV")
DELIVERABLE_MILESTONES = ("protocol_final", "dbl", "topline", "csr_final")
# driver → (first, last) baseline milestones of its linear plan
LINEAR = {"subjects_randomized": ("fpi", "lpi"),
          "monitoring_visits": ("first_site_activated", "lplv"),
          "crf_pages": ("fpi", "lplv")}

DELIVERED = FrameSchema("units_delivered", (
    Col("study_id", "string", "", "protocol id"),
    Col("driver", "string", "", "budget driver"),
    Col("delivered", "object", "Decimal units", "units delivered by the date (not capped)"),
    Col("basis", "string", "", "how they were counted"),
))
PLANNED = FrameSchema("planned_units", (
    Col("study_id", "string", "", "protocol id"),
    Col("driver", "string", "", "budget driver"),
    Col("share", "object", "Fraction", "exact share of the line's units planned by the date"),
    Col("basis", "string", "", "the baseline dates the share comes from"),
))


def month_ordinal(when: dt.date | pd.Timestamp | pd.Period) -> int:
    """year × 12 + month − 1: the one month ordinal wherever months are compared."""
    return when.year * 12 + when.month - 1


def month_ordinals(months: pd.Series) -> np.ndarray:
    """:func:`month_ordinal` of each date, timestamp or monthly period of ``months``,
    vectorized (the ``.dt`` accessor has the same ``year`` and ``month``)."""
    periods = (months if isinstance(months.dtype, pd.PeriodDtype)
               else pd.to_datetime(months).dt.to_period("M"))
    return np.asarray(month_ordinal(periods.dt), dtype=np.int64)  # type: ignore[arg-type]


def last_ended_month(as_of: dt.date) -> int:
    """Ordinal of the last calendar month whose last day is ≤ ``as_of``."""
    ended = (pd.Timestamp(as_of) + pd.Timedelta(days=1)).month != as_of.month
    return month_ordinal(as_of) - (0 if ended else 1)


def months_elapsed(start: pd.Timestamp | None, as_of: dt.date) -> int:
    """Whole calendar months from ``start``'s month to the last month ended by ``as_of``."""
    if start is None or pd.isna(start):
        return 0
    return max(0, last_ended_month(as_of) - month_ordinal(start) + 1)


def milestone_dates(portfolio: Portfolio, study_id: str) -> pd.DataFrame:
    """The study's milestones indexed by kind: baseline, forecast, actual (NaT when absent);
    one milestone's date: ``planner.workload.monitoring.milestone_date``."""
    frame = portfolio.milestones
    own = frame[frame["study_id"] == study_id]
    return own.set_index(own["milestone"].astype(str))[["baseline", "forecast", "actual"]]


def study_start(portfolio: Portfolio, study_id: str) -> pd.Timestamp | None:
    """contract_signed's actual date, else its baseline, else the first site activation."""
    signed = milestone_date(portfolio, study_id, MilestoneKind.CONTRACT_SIGNED,
                            ("actual", "baseline"))
    if signed is not None:
        return pd.Timestamp(signed)
    sites = portfolio.sites
    first = sites.loc[sites["study_id"] == study_id, "actual_activation"].min()
    return None if pd.isna(first) else pd.Timestamp(first)


def baseline_start(portfolio: Portfolio, study_id: str) -> pd.Timestamp | None:
    """contract_signed's baseline, else the study start."""
    signed = milestone_date(portfolio, study_id, MilestoneKind.CONTRACT_SIGNED, ("baseline",))
    return pd.Timestamp(signed) if signed is not None else study_start(portfolio, study_id)


def work_visits_to_date(portfolio: Portfolio, as_of: dt.date) -> pd.DataFrame:
    """The workload model's visits (planner.workload WORKLOAD_COLUMNS) from the first study
    start's month to ``as_of``'s month: what monitoring_visits counts.

    The months are history (``monitoring_workload(..., history=True)``): a site closed
    now counts its visits up to its last subject visit. No study started by ``as_of``:
    an empty frame with the workload columns."""
    starts = [study_start(portfolio, s) for s in portfolio.studies["study_id"].astype(str)]
    starts = [s for s in starts if s is not None and s <= pd.Timestamp(as_of)]
    if not starts:
        return pd.DataFrame(columns=WORKLOAD_COLUMNS)
    months = pd.period_range(pd.Period(min(starts), "M"), pd.Period(as_of, "M"), freq="M")
    return monitoring_workload(portfolio, months, as_of, history=True)


def _count(frame: pd.DataFrame, column: str, as_of: dt.date) -> pd.Series:
    done = frame[frame[column].notna() & (frame[column] <= pd.Timestamp(as_of))]
    return done.groupby(done["study_id"].astype(str)).size()


def _monitoring_visits(work_visits: pd.DataFrame, as_of: dt.date) -> pd.Series:
    if not len(work_visits):
        return pd.Series(dtype=float)
    ordinals = month_ordinals(work_visits["month"])
    chosen = work_visits[work_visits["visit_type"].astype(str).isin(MONITORING_VISIT_TYPES)
                         & (ordinals <= last_ended_month(as_of))]
    return chosen.groupby(chosen["study_id"].astype(str))["visits"].sum()


def units_delivered(portfolio: Portfolio, work_visits: pd.DataFrame, as_of: dt.date,
                    pages_per_visit: int = PAGES_PER_VISIT) -> pd.DataFrame:
    """Per study and driver (:data:`DELIVERED`) the units the plan of record shows delivered
    by ``as_of``; ``work_visits``: the workload model's visits (``work_visits_to_date``).
    Not capped here: earned value caps them at the line's units."""
    randomized = _count(portfolio.subjects, "randomized", as_of)
    activated = _count(portfolio.sites, "actual_activation", as_of)
    visited = _count(portfolio.visits, "visit_date", as_of)
    monitored = _monitoring_visits(work_visits, as_of)
    milestones = portfolio.milestones
    deliverables = _count(milestones[milestones["milestone"].isin(DELIVERABLE_MILESTONES)],
                          "actual", as_of)
    rows = []
    for study_id in portfolio.studies["study_id"].astype(str):
        start = study_start(portfolio, study_id)
        began = start is not None and start <= pd.Timestamp(as_of)
        months = months_elapsed(start, as_of)
        visits = Decimal(repr(float(monitored.get(study_id, 0.0)))).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        sv = int(visited.get(study_id, 0))
        since = "no start" if start is None else f"{start.date()}"
        rows += [(study_id, driver, Decimal(value), basis) for driver, value, basis in (
            ("months", months, f"calendar months ended by {as_of} from {since}"),
            ("sites_activated", int(activated.get(study_id, 0)), f"sites activated by {as_of}"),
            ("monitoring_visits", visits, f"IMV and remote IMV in months ended by {as_of}"),
            ("subjects_randomized", int(randomized.get(study_id, 0)),
             f"subjects randomized by {as_of}"),
            ("crf_pages", sv * pages_per_visit,
             f"{sv} subject visits by {as_of} × {pages_per_visit} pages"),
            ("deliverables", int(deliverables.get(study_id, 0)),
             f"of {', '.join(DELIVERABLE_MILESTONES)} reached by {as_of}"),
            ("fixed", int(began), f"study started ({since})" if began else "not started"),
        )]
    return DELIVERED.conform(pd.DataFrame(rows, columns=DELIVERED.names))


def _linear(first: pd.Timestamp | None, last: pd.Timestamp | None,
            dates: Sequence[pd.Timestamp]) -> list[Fraction]:
    if first is None or last is None:
        return [Fraction(0)] * len(dates)
    span = (last - first).days
    if span <= 0:
        return [Fraction(int(d >= last)) for d in dates]
    return [Fraction(min(max((d - first).days, 0), span), span) for d in dates]


def _share_of(planned: pd.Series, dates: Sequence[pd.Timestamp]) -> list[Fraction]:
    """Share of ``planned`` dates (NaT ignored) on or before each date."""
    known = np.sort(pd.to_datetime(planned.dropna()).to_numpy(dtype="datetime64[s]"))
    if not len(known):
        return [Fraction(0)] * len(dates)
    at = np.searchsorted(known, np.asarray(dates, dtype="datetime64[s]"), side="right")
    return [Fraction(int(n), len(known)) for n in at]


def planned_shares(portfolio: Portfolio, study_id: str, dates: Sequence[dt.date]
                   ) -> dict[str, tuple[list[Fraction], str]]:
    """Per driver, the exact share of a line's units the baseline plans by each date, and
    the basis it is computed on."""
    stamps = [pd.Timestamp(d) for d in dates]
    baseline = milestone_dates(portfolio, study_id)["baseline"].dropna()
    start = baseline_start(portfolio, study_id)
    csr = baseline.get("csr_final")
    span = 0 if start is None or csr is None else month_ordinal(csr) - month_ordinal(start) + 1
    months = [Fraction(min(months_elapsed(start, d.date()), span), span) if span > 0
              else Fraction(0) for d in stamps]
    sites = portfolio.sites
    shares = {
        "months": (months, f"whole months from {_text(start)} to the csr_final baseline "
                           f"{_text(csr)} ({span} months)"),
        "sites_activated": (_share_of(sites.loc[sites["study_id"] == study_id,
                                                "planned_activation"], stamps),
                            "share of the sites' planned activations"),
        "deliverables": (_share_of(baseline[baseline.index.isin(DELIVERABLE_MILESTONES)],
                                   stamps), "share of the deliverables' baselines"),
        "fixed": ([Fraction(int(start is not None and d >= start)) for d in stamps],
                  f"1 from the start {_text(start)}"),
    }
    for driver, (first, last) in LINEAR.items():
        a, b = baseline.get(first), baseline.get(last)
        shares[driver] = (_linear(a, b, stamps), f"linear in days from the {first} baseline "
                                                 f"{_text(a)} to the {last} baseline {_text(b)}")
    return shares


def _text(date: pd.Timestamp | None) -> str:
    return "none" if date is None or pd.isna(date) else str(pd.Timestamp(date).date())


def planned_units(portfolio: Portfolio, as_of: dt.date) -> pd.DataFrame:
    """Per study and driver (:data:`PLANNED`) the share of a line's units the baseline
    timeline plans by ``as_of`` (PV = round_half_up(units × share × unit price))."""
    rows = []
    for study_id in portfolio.studies["study_id"].astype(str):
        for driver, (shares, basis) in planned_shares(portfolio, study_id, [as_of]).items():
            rows.append((study_id, driver, shares[0], basis))
    return PLANNED.conform(pd.DataFrame(rows, columns=PLANNED.names))
