"""Monthly burn of a study's sponsor budget: planned, actual and forecast, cumulative
(docs/SPONSOR_BUDGET.md, "Forecast to complete by month").

Per calendar month (its last day E), in int64 minor units, cumulative:

* planned: PV by E from the baseline timeline (the budget in force at the cut,
  each line rounded once per month, then summed);
* actual: AC of the months ended by the cut (timesheets by month, payment runs by
  their through month); NA after;
* forecast: AC at the cut plus each line's remaining amount spread evenly (in
  whole minor units, cumulative rounding so the spread adds up exactly) over
  the months from the cut's month (the first month not ended by the cut) to its
  driver's forecast end: lpi for subjects, lplv for visits and pages, csr_final
  for months and deliverables (each milestone's actual date, else forecast,
  else baseline), the last planned activation of a site not yet activated for
  sites, the cut's month for fixed; an end already past puts the remainder in
  the cut's month. The remaining amount is ETC (the forecast ends at EAC) by
  default, or BAC − EV (remaining units at unit price) with ``remaining="budget"``.
  The forecast equals actual in the last month ended by the cut and is NA before;
* forecast_p10 / forecast_p90: the same with each line's end at the P10 / P90 date
  of its milestone from ``bands`` (milestone, p10, p50, p90); a milestone without
  a band of its own that follows lpi (lplv, csr_final) moves by lpi's P10 / P90
  distance from its P50; without ``bands`` the columns are NA. P10 is the early
  date, so forecast_p10 ≥ forecast_p90 month by month. A band date that is missing
  (None/NaT: the forecast gave no quantile, e.g. a late cut or a slow study) is no
  band: that milestone keeps its point date.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import pandas as pd

from contracts.budget_lines import TOTAL, BudgetError, half_up
from contracts.budget_units import (
    last_ended_month,
    milestone_dates,
    month_ordinal,
    planned_shares,
    study_start,
)
from planner.domain import MilestoneKind
from planner.frames import DATE, Col, FrameSchema, Portfolio
from planner.workload.monitoring import milestone_date

END_MILESTONE = {"months": "csr_final", "deliverables": "csr_final",
                 "subjects_randomized": "lpi", "monitoring_visits": "lplv", "crf_pages": "lplv"}
FOLLOWS_LPI = ("lplv", "dbl", "topline", "csr_final")
BURN = FrameSchema("monthly_burn", (
    Col("month", DATE, "first day of the month", "calendar month (figures at its end)"),
    Col("planned_minor", "int64", "minor units", "PV by the month's end"),
    Col("actual_minor", "Int64", "minor units", "AC by the month's end (NA: after the cut)"),
    Col("forecast_minor", "Int64", "minor units", "AC at the cut + spread remainder"),
    Col("forecast_p10_minor", "Int64", "minor units", "forecast with P10 milestone dates"),
    Col("forecast_p90_minor", "Int64", "minor units", "forecast with P90 milestone dates"),
    Col("currency", "string", "ISO 4217", "the study's currency"),
))


def _stamp(ordinal: int) -> pd.Timestamp:
    return pd.Timestamp(year=ordinal // 12, month=ordinal % 12 + 1, day=1)


def _month_end(ordinal: int) -> dt.date:
    return (_stamp(ordinal) + pd.offsets.MonthEnd(0)).date()


def _point_dates(portfolio: Portfolio, study_id: str
                 ) -> tuple[dict[str, pd.Timestamp | None], set[str]]:
    """The milestones the forecast ends at (and lpi): each one's point date (actual, else
    forecast, else baseline; None: none) and those reached (an actual date)."""
    kinds = [MilestoneKind(k) for k in {*END_MILESTONE.values(), "lpi"}]
    points = {k.value: milestone_date(portfolio, study_id, k) for k in kinds}
    reached = {k.value for k in kinds
               if milestone_date(portfolio, study_id, k, ("actual",)) is not None}
    return {k: None if d is None else pd.Timestamp(d) for k, d in points.items()}, reached


def _ends(drivers: list[str], points: dict[str, pd.Timestamp | None], reached: set[str],
          waiting: pd.Timestamp | None, bands: pd.DataFrame | None,
          quantile: str | None) -> list[int | None]:
    """Month ordinal of each driver's forecast end (None: the cut's month); ``points`` and
    ``reached``: :func:`_point_dates`; ``waiting``: the last planned activation of a site
    not activated by the cut (None: none)."""
    band = (None if bands is None or quantile is None
            else bands.set_index(bands["milestone"].astype(str)))

    def banded(kind: str, column: str) -> pd.Timestamp | None:
        """The band's date (None: no band row, or its date is missing: None/NaT)."""
        if band is None or kind not in band.index or pd.isna(band.at[kind, column]):
            return None
        return pd.Timestamp(band.at[kind, column])

    def end(kind: str) -> pd.Timestamp | None:
        date = points[kind]
        if band is None or kind in reached:
            return date
        own = banded(kind, str(quantile))
        if own is not None:
            return own
        lpi, lpi_p50 = banded("lpi", str(quantile)), banded("lpi", "p50")
        if (date is not None and kind in FOLLOWS_LPI and "lpi" not in reached
                and lpi is not None and lpi_p50 is not None):
            return date + (lpi - lpi_p50)
        return date  # no band (or only part of one) for this milestone: the point date

    out = []
    for driver in drivers:
        if driver in END_MILESTONE:
            date = end(END_MILESTONE[driver])
        elif driver == "sites_activated" and waiting is not None:
            date = waiting
        else:
            date = None
        out.append(None if date is None or pd.isna(date) else month_ordinal(date))
    return out


def _spread(remaining: list[int], ends: list[int | None], first: int,
            months: np.ndarray) -> np.ndarray:
    """Σ over lines of each line's cumulative spread by month (0 before ``first``)."""
    total = np.zeros(len(months), dtype=np.int64)
    for amount, end in zip(remaining, ends, strict=True):
        count = max((first if end is None else end) - first + 1, 1)
        step = np.clip(months - first + 1, 0, count)
        total += np.array([half_up(Fraction(amount * int(k), count)) for k in step],
                          dtype=np.int64)
    return total


def monthly_burn(portfolio: Portfolio, study_id: str, budget: pd.DataFrame,
                 evm: pd.DataFrame, cost_months: pd.DataFrame, as_of: dt.date,
                 bands: pd.DataFrame | None = None, remaining: str = "etc") -> pd.DataFrame:
    """Month by month (:data:`BURN`) cumulative planned, actual and forecast cost.

    ``budget``: ``budget_in_force``; ``evm``: ``earned_value`` (same study and cut);
    ``cost_months``: ``actual_cost_months``; ``bands``: optional milestone, p10, p50,
    p90 dates; ``remaining``: "etc" (forecast ends at EAC) or "budget" (BAC − EV).
    """
    if remaining not in ("etc", "budget"):
        raise BudgetError(f"remaining must be 'etc' or 'budget', not {remaining!r}")
    lines = budget[budget["study_id"].astype(str) == study_id]
    figures = evm[evm["service_line"] != TOTAL].set_index("service_line")
    currency = str(figures["currency"].iloc[0])
    cut = last_ended_month(as_of)
    first_forecast = cut + 1
    drivers = [str(d) for d in figures["driver"].fillna("fixed")]
    left = [int(r.etc_minor) if remaining == "etc" else int(r.bac_minor - r.ev_minor)
            for r in figures.itertuples()]
    points, reached = _point_dates(portfolio, study_id)
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id]
    waiting = sites.loc[sites["actual_activation"].isna()
                        | (sites["actual_activation"] > pd.Timestamp(as_of)),
                        "planned_activation"].dropna()
    last_waiting = pd.Timestamp(waiting.max()) if len(waiting) else None
    point = _ends(drivers, points, reached, last_waiting, None, None)
    quantiles = {q: _ends(drivers, points, reached, last_waiting, bands, q)
                 for q in ("p10", "p90")} if bands is not None else {}
    costs = cost_months.assign(_m=[month_ordinal(pd.Timestamp(m)) for m in cost_months["month"]])
    baseline = milestone_dates(portfolio, study_id)["baseline"]
    starts = [s for s in (study_start(portfolio, study_id), baseline.min()) if pd.notna(s)]
    edges = [month_ordinal(pd.Timestamp(s)) for s in starts] + list(costs["_m"])
    ends = [e for e in point + [e for v in quantiles.values() for e in v] if e is not None]
    for last in (baseline.max(), sites["planned_activation"].max()):
        if pd.notna(last):
            ends.append(month_ordinal(pd.Timestamp(last)))
    months = np.arange(min(edges + [first_forecast]), max(ends + [first_forecast]) + 1)
    shares = planned_shares(portfolio, study_id, [_month_end(int(m)) for m in months])
    planned = np.zeros(len(months), dtype=np.int64)
    for row in lines.itertuples():
        units = Fraction(row.units)
        planned += np.array([half_up(units * s * int(row.unit_price_minor))
                             for s in shares[str(row.driver)][0]], dtype=np.int64)
    booked = costs[costs["_m"] <= cut].groupby("_m")["ac_minor"].sum()
    actual = np.cumsum(booked.reindex(months, fill_value=0).to_numpy(dtype=np.int64))
    ac_now = int(evm.loc[evm["service_line"] == TOTAL, "ac_minor"].iloc[0])

    def forecast(ends_of: list[int | None]) -> pd.Series:
        values = ac_now + _spread(left, ends_of, first_forecast, months)
        values = np.where(months == cut, actual, values)
        return pd.Series(values, dtype="Int64").where(months >= cut, pd.NA)

    frame = pd.DataFrame({
        "month": [_stamp(int(m)) for m in months], "planned_minor": planned,
        "actual_minor": pd.Series(actual, dtype="Int64").where(months <= cut, pd.NA),
        "forecast_minor": forecast(point),
        "forecast_p10_minor": forecast(quantiles["p10"]) if quantiles else pd.NA,
        "forecast_p90_minor": forecast(quantiles["p90"]) if quantiles else pd.NA,
        "currency": currency})
    return BURN.conform(frame)
