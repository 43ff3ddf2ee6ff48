"""Monitoring workload and CRA utilization on a hand-worked study."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from planner.frames import MILESTONES, SCHEMAS, SITES, STAFF, STUDIES, SUBJECTS, Portfolio
from planner.workload.capacity import cra_utilization
from planner.workload.drivers import DEFAULT_DRIVERS, WEEKS_PER_MONTH
from planner.workload.monitoring import monitoring_workload, subjects_on_study

AS_OF = dt.date(2026, 2, 1)
MONTHS = pd.period_range("2026-02", periods=3, freq="M")


def portfolio(lpi: str = "2026-01-20") -> Portfolio:
    """One site activated 2026-01-15 (CRA-1, half time), one subject randomized
    2026-01-20 with 8 weeks of treatment (on study until 2026-03-17)."""
    empty = {s.name: s.conform(pd.DataFrame(columns=s.names)) for s in SCHEMAS}
    studies = pd.DataFrame([{"study_id": "S", "sponsor": "x", "title": None, "phase": "II",
                             "therapeutic_area": None, "target_randomized": 1,
                             "planned_sf_rate": None, "dropout_rate": None,
                             "treatment_weeks": 8.0, "followup_weeks": 0.0,
                             "currency": "USD"}])
    sites = pd.DataFrame([{"study_id": "S", "site_id": "001", "country": "DE",
                           "investigator": None, "status": "enrolling",
                           "planned_activation": pd.Timestamp("2026-01-10"),
                           "actual_activation": pd.Timestamp("2026-01-15"),
                           "target_randomized": 1, "cra_id": "CRA-1"}])
    subjects = pd.DataFrame([{"study_id": "S", "site_id": "001", "subject_id": "S-1",
                              "arm": None, "screened": pd.Timestamp("2026-01-16"),
                              "randomized": pd.Timestamp("2026-01-20"),
                              "screen_failed": pd.NaT, "discontinued": pd.NaT,
                              "completed": pd.NaT, "disposition": None}])
    milestones = pd.DataFrame([{"study_id": "S", "milestone": "lpi", "baseline": pd.NaT,
                                "forecast": pd.NaT, "actual": pd.Timestamp(lpi)}])
    staff = pd.DataFrame([{"staff_id": "CRA-1", "name": "A", "role": "CRA",
                           "home_country": "DE", "languages": ["de"], "fte": 0.5,
                           "capacity_hours_month": 143.0, "cost_rate": None,
                           "currency": "EUR"}])
    return Portfolio(**{**empty, "studies": STUDIES.conform(studies),
                        "sites": SITES.conform(sites), "subjects": SUBJECTS.conform(subjects),
                        "milestones": MILESTONES.conform(milestones),
                        "staff": STAFF.conform(staff)})


def test_hand_worked_site_months() -> None:
    work = monitoring_workload(portfolio(), MONTHS, AS_OF)
    by = work.set_index(["month", "visit_type"])
    imv = WEEKS_PER_MONTH / 4.0  # 4-weekly while active < 6 months, medium risk
    for month in ("2026-02", "2026-03"):  # the subject is on study until 2026-03-17
        period = pd.Period(month, "M")
        assert by.loc[(period, "IMV"), "visits"] == pytest.approx(0.75 * imv)
        assert by.loc[(period, "IMV"), "hours"] == pytest.approx(0.75 * imv * (22 + 0.5))
        assert by.loc[(period, "remote IMV"), "hours"] == pytest.approx(0.25 * imv * (11 + 0.5))
    # no SIV (activated before the horizon); COV six weeks after the last month on study
    assert set(work["visit_type"]) == {"IMV", "remote IMV", "COV"}
    cov = work[work["visit_type"] == "COV"]
    assert cov["month"].tolist() == [pd.Period("2026-04", "M")]
    assert cov["hours"].tolist() == [DEFAULT_DRIVERS.hours["COV"].total]


def test_new_subjects_come_at_the_rate_until_lpi_and_stay_their_duration() -> None:
    on = subjects_on_study(portfolio(), "S", MONTHS, AS_OF, {"001": 2.0},
                           dt.date(2026, 3, 31))
    # enrolled subject: Feb, Mar; new ones arrive in Mar (after the cut, up to LPI) and
    # stay round(8 weeks) = 2 months: Mar, Apr
    assert on.loc["001"].tolist() == pytest.approx([1.0, 3.0, 2.0])


def test_utilization_is_hours_over_capacity() -> None:
    p = portfolio()
    work = monitoring_workload(p, MONTHS, AS_OF)
    table = cra_utilization(p, work, MONTHS, 0.8).set_index("month")
    capacity = 143.0 * 0.5 * 0.8
    assert table["capacity"].tolist() == pytest.approx([capacity] * 3)
    expected = work.groupby("month")["hours"].sum()
    assert table["hours"].to_numpy() == pytest.approx(expected.reindex(MONTHS).to_numpy())
    assert table["utilization"].to_numpy() == pytest.approx(
        expected.reindex(MONTHS).to_numpy() / capacity)
