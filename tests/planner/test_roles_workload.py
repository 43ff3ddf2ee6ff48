"""Other roles' demand hours on a hand-worked portfolio of two studies."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from planner.frames import (
    MILESTONES,
    PLANNED_VISITS,
    SCHEMAS,
    SITES,
    STAFF,
    STUDIES,
    SUBJECTS,
    Portfolio,
)
from planner.workload.monitoring import monitoring_workload
from planner.workload.roles import (
    StudyStage,
    role_workload,
    staffing_demand,
    study_stages,
    visits_per_subject_month,
)

AS_OF = dt.date(2026, 2, 1)
MONTHS = pd.period_range("2026-02", periods=12, freq="M")
T = pd.Timestamp


def portfolio(schedule: bool = False) -> Portfolio:
    """S: site 001 activated 2026-01-15, one subject randomized 2026-01-20, 8 weeks of
    treatment, no follow-up; LPI recorded 2026-01-20 (forecast and baseline differ and
    must be ignored), so LPLV = 2026-03-17. T: site 101 planned for 2026-04-10 (selected),
    site 102 only identified; LPI baseline 2026-12-15 (LPLV 20 weeks later), contract
    signed 2025-12-01."""
    empty = {s.name: s.conform(pd.DataFrame(columns=s.names)) for s in SCHEMAS}
    study = {"sponsor": "x", "title": None, "phase": "II", "therapeutic_area": None,
             "target_randomized": 1, "planned_sf_rate": None, "dropout_rate": None,
             "followup_weeks": 0.0, "currency": "USD"}
    studies = pd.DataFrame([{**study, "study_id": "S", "treatment_weeks": 8.0},
                            {**study, "study_id": "T", "treatment_weeks": 20.0}])
    site = {"investigator": None, "country": "DE", "target_randomized": 1, "cra_id": None,
            "actual_activation": pd.NaT}
    sites = pd.DataFrame([
        {**site, "study_id": "S", "site_id": "001", "status": "enrolling",
         "planned_activation": T("2026-01-10"), "actual_activation": T("2026-01-15")},
        {**site, "study_id": "T", "site_id": "101", "status": "selected",
         "planned_activation": T("2026-04-10")},
        {**site, "study_id": "T", "site_id": "102", "status": "identified",
         "planned_activation": T("2026-05-10")}])
    subjects = pd.DataFrame([{"study_id": "S", "site_id": "001", "subject_id": "S-1",
                              "arm": None, "screened": T("2026-01-16"),
                              "randomized": T("2026-01-20"), "screen_failed": pd.NaT,
                              "discontinued": pd.NaT, "completed": pd.NaT,
                              "disposition": None}])
    milestones = pd.DataFrame([
        {"study_id": "S", "milestone": "lpi", "baseline": T("2026-06-01"),
         "forecast": T("2026-05-01"), "actual": T("2026-01-20")},
        {"study_id": "T", "milestone": "contract_signed", "baseline": T("2025-12-01"),
         "forecast": pd.NaT, "actual": pd.NaT},
        {"study_id": "T", "milestone": "lpi", "baseline": T("2026-12-15"),
         "forecast": pd.NaT, "actual": pd.NaT}])
    planned = pd.DataFrame([{"study_id": "S", "visit_num": float(k), "visit_name": f"V{k}",
                             "planned_day": 14 * k, "scheduled": k < 5} for k in range(6)])
    staff = pd.DataFrame([{"staff_id": "CRA-1", "name": "A", "role": "CRA",
                           "home_country": "DE", "languages": ["de"], "fte": 1.0,
                           "capacity_hours_month": 143.0, "cost_rate": None,
                           "currency": "EUR"}])
    frames = {**empty, "studies": STUDIES.conform(studies), "sites": SITES.conform(sites),
              "subjects": SUBJECTS.conform(subjects),
              "milestones": MILESTONES.conform(milestones), "staff": STAFF.conform(staff)}
    if schedule:
        frames["planned_visits"] = PLANNED_VISITS.conform(planned)
    return Portfolio(**frames)


def test_stages_follow_the_milestones() -> None:
    """S: LPI (actual) in January, LPLV 2026-03-17: Feb–Mar treatment, Apr–Aug close-out
    (5 months), then over. T: signed in December, first activation April: Feb–Mar
    start-up, enrolling April to December (LPI baseline), treating in January."""
    p = portfolio()
    s, t = study_stages(p, "S", MONTHS), study_stages(p, "T", MONTHS)
    assert s == [StudyStage.TREATMENT] * 2 + [StudyStage.CLOSE_OUT] * 5 + [None] * 5
    assert t == ([StudyStage.START_UP] * 2 + [StudyStage.ENROLLMENT] * 9
                 + [StudyStage.TREATMENT])
    before = pd.period_range("2025-10", periods=3, freq="M")
    assert study_stages(p, "T", before) == [None, None, StudyStage.START_UP]


def hours(frame: pd.DataFrame, study: str, role: str) -> list[float]:
    rows = frame[(frame["study_id"] == study) & (frame["role"] == role)]
    return rows.set_index("month")["hours"].reindex(MONTHS).fillna(0.0).tolist()


def test_hand_worked_role_hours() -> None:
    """PM: S 20 (treatment) + 1 per active site = 21 in Feb–Mar, 25 in the 5 close-out
    months; T 40 in start-up, then 30 + 1 (site 101; 102 is only identified), 20 + 1 in
    January. CTA: S 15 + 2 = 17, then 20; T 30, then 20 + 2 = 22, 15 + 2 = 17. DM: S 10 +
    0.5 h × 1 subject × 1 visit a month = 10.5 in Feb–Mar (on study until 2026-03-17), 40
    in close-out; T 30, then 10. BIOSTAT and MW: their stage hours only."""
    work = role_workload(portfolio(), MONTHS, AS_OF)
    assert hours(work, "S", "PM") == pytest.approx([21, 21] + [25] * 5 + [0] * 5)
    assert hours(work, "T", "PM") == pytest.approx([40, 40] + [31] * 9 + [21])
    assert hours(work, "S", "CTA") == pytest.approx([17, 17] + [20] * 5 + [0] * 5)
    assert hours(work, "T", "CTA") == pytest.approx([30, 30] + [22] * 9 + [17])
    assert hours(work, "S", "DM") == pytest.approx([10.5, 10.5] + [40] * 5 + [0] * 5)
    assert hours(work, "T", "DM") == pytest.approx([30, 30] + [10] * 10)
    assert hours(work, "S", "BIOSTAT") == pytest.approx([6, 6] + [60] * 5 + [0] * 5)
    assert hours(work, "T", "MW") == pytest.approx([20, 20] + [2] * 9 + [4])
    assert set(work["role"]) == {"PM", "CTA", "DM", "BIOSTAT", "MW"}
    assert (work["hours"] > 0).all()


def test_subject_visits_come_from_the_schedule() -> None:
    """S schedules 5 visits (one event-driven visit not counted) over 8 weeks =
    8 / (365.25/12/7) months: 5 / 1.8397 = 2.718 visits a subject-month, so DM hours in
    Feb–Mar are 10 + 0.5 × 2.718."""
    p = portfolio(schedule=True)
    rate = visits_per_subject_month(p, "S")
    assert rate == pytest.approx(5 / (8 / (365.25 / 12 / 7)))
    assert visits_per_subject_month(p, "T") == 1.0  # no schedule: the default
    work = role_workload(p, MONTHS, AS_OF)
    assert hours(work, "S", "DM")[:2] == pytest.approx([10 + 0.5 * rate] * 2)


def test_new_subjects_add_dm_hours_at_the_rate() -> None:
    """T gets 0.5 new subjects a month at site 101 from March (the month after the cut)
    to December (its LPI month), each staying round(20 weeks) = 5 months: subjects on
    study 0.5, 1.0, ... up to 2.5, and 2.0 in January (Sep–Dec arrivals); DM hours grow
    by 0.5 h per subject (1 visit a month)."""
    work = role_workload(portfolio(), MONTHS, AS_OF, rates={"T": {"101": 0.5}})
    extra = [h - base for h, base in zip(hours(work, "T", "DM"), [30, 30] + [10] * 10,
                                         strict=True)]
    on = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.0]
    assert extra == pytest.approx([0.5 * x for x in on])


def test_staffing_demand_adds_the_cra_monitoring_hours() -> None:
    """The whole demand: the CRA rows are the monitoring workload per study and month,
    the other roles' rows are role_workload's (no recruitment model can be fitted on one
    subject, so no new subjects in either)."""
    p = portfolio()
    demand = staffing_demand(p, AS_OF, 12)
    cra = demand[demand["role"] == "CRA"].groupby("month")["hours"].sum()
    expected = monitoring_workload(p, MONTHS, AS_OF).groupby("month")["hours"].sum()
    assert cra.to_numpy() == pytest.approx(expected[expected > 0].to_numpy())
    others = demand[demand["role"] != "CRA"]
    assert others["hours"].sum() == pytest.approx(
        role_workload(p, MONTHS, AS_OF)["hours"].sum())
    assert list(demand.columns) == ["study_id", "role", "month", "hours"]
