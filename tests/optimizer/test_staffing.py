"""Staffing on hand-checkable cases: each optimum is worked out by hand in its docstring,
and every plan's invariants are recomputed from its rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.activation_costs import load_fx
from optimizer.staffing import (
    CONTRACTOR,
    HIRE,
    UNMET,
    StaffingPlan,
    StaffingProblem,
    solve_staffing,
)
from optimizer.staffing_inputs import staffing_inputs
from planner.frames import LEAVE, STAFF
from tests.planner.test_workload import portfolio

MONTHS = ("2026-01", "2026-02", "2026-03")


def demand(rows: list[tuple[str, str, float]], months: tuple[str, ...] = MONTHS
           ) -> pd.DataFrame:
    """The same hours every month: (role, study, hours) rows."""
    return pd.DataFrame([{"role": r, "study_id": s, "month": m, "hours": h}
                         for r, s, h in rows for m in months])


def staff(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["staff_id", "role", "capacity", "rate"])


def contractors(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["role", "rate", "max_hours"])


def check_invariants(problem: StaffingProblem, plan: StaffingPlan) -> None:
    """Demand met = the sum of its sources; nobody over that month's capacity (the
    ``capacity`` row, else the staff row's) or on more studies than allowed; hires only
    after their lead time and never more hire hours than hired FTE; the reported
    objective is the sum of its cost terms."""
    rows = plan.plan
    met = rows.groupby(["role", "study_id", "month"])["hours"].sum()
    wanted = problem.demand.groupby(["role", "study_id", "month"])["hours"].sum()
    assert met.reindex(wanted.index).to_numpy() == pytest.approx(wanted.to_numpy())
    assert set(met.index) == set(wanted.index)
    named = rows[~rows["source"].isin([HIRE, CONTRACTOR, UNMET])]
    capacity = problem.staff.set_index("staff_id")["capacity"]
    monthly = problem.capacity.set_index(["staff_id", "month"])["capacity"]
    used = named.groupby(["source", "month"])["hours"].sum()
    for (person, month), hours in used.items():
        assert hours <= monthly.get((person, month), capacity[person]) + 1e-6
    if problem.max_studies is not None:
        studies = named.groupby(["source", "month"])["study_id"].nunique()
        assert (studies <= problem.max_studies).all()
    months = problem.horizon
    for role, hire in problem.hires.set_index("role").iterrows():
        starts = plan.hires[plan.hires["role"] == role]
        assert all(months.index(m) >= hire["lead_months"] for m in starts["month"])
        for i, month in enumerate(months):
            fte = starts.loc[starts["month"].map(months.index) <= i, "fte"].sum()
            worked = rows[(rows["source"] == HIRE) & (rows["role"] == role)
                          & (rows["month"] == month)]["hours"].sum()
            assert worked <= fte * hire["capacity"] + 1e-6
    # the costs recomputed from the plan's rows are what HiGHS minimized
    assert plan.objective == pytest.approx(plan.solver_objective, rel=1e-7, abs=1e-6)
    assert plan.status == "optimal" and plan.gap == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(("contract_rate", "expected"), [(70.0, 20_400.0), (55.0, 19_950.0)])
def test_a_senior_covers_the_junior_role_when_cheaper_than_a_contractor(
        contract_rate: float, expected: float) -> None:
    """PM P1 (rate 60, 100 h) and CTA C1 (rate 40, 50 h); a PM may cover CTA work. Each
    month S needs 50 PM hours and 80 CTA hours; contractors: CTA at ``contract_rate``,
    PM at 120. C1 does 50 CTA h (2,000) and P1 the 50 PM h (3,000); 30 CTA h are left
    and P1 has 50 h spare:
    * contractor at 70 > 60: P1 covers them, 1,800 → 6,800 a month, 20,400 in 3 months;
    * contractor at 55 < 60: the contractor does, 1,650 → 6,650 a month, 19,950."""
    problem = StaffingProblem(
        demand([("PM", "S", 50.0), ("CTA", "S", 80.0)]),
        staff([("P1", "PM", 100.0, 60.0), ("C1", "CTA", 50.0, 40.0)]),
        coverage=pd.DataFrame({"role": ["PM"], "covers": ["CTA"]}),
        contractors=contractors([("CTA", contract_rate, np.nan), ("PM", 120.0, np.nan)]))
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(expected)
    cta = plan.plan[plan.plan["role"] == "CTA"].groupby("source")["hours"].sum()
    covered_by = "P1" if contract_rate > 60 else CONTRACTOR
    assert cta.to_dict() == pytest.approx({"C1": 150.0, covered_by: 90.0})


def test_sunk_named_staff_cover_whenever_they_are_idle() -> None:
    """The same case with the contractor at 55 and named staff as a sunk cost: P1's idle
    hours cost nothing, so P1 covers the 30 CTA hours and the plan costs 0 (the staff's
    hours at their rates, 6,800 a month, are reported but not minimized)."""
    problem = StaffingProblem(
        demand([("PM", "S", 50.0), ("CTA", "S", 80.0)]),
        staff([("P1", "PM", 100.0, 60.0), ("C1", "CTA", 50.0, 40.0)]),
        coverage=pd.DataFrame({"role": ["PM"], "covers": ["CTA"]}),
        contractors=contractors([("CTA", 55.0, np.nan)]), staff_cost="sunk")
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(0.0)
    assert plan.costs["staff"] == pytest.approx(3 * 6_800.0)
    assert set(plan.plan["source"]) == {"P1", "C1"}


def dm_hire_problem(lead_months: int) -> StaffingProblem:
    """No DM on staff; S needs 100, 100, 150 DM hours; a DM hire costs 30 an hour for 100
    paid hours a month after ``lead_months``; contractors cost 50 an hour."""
    return StaffingProblem(
        pd.DataFrame({"role": "DM", "study_id": "S", "month": list(MONTHS),
                      "hours": [100.0, 100.0, 150.0]}),
        staff([]),
        hires=pd.DataFrame([{"role": "DM", "rate": 30.0, "hours": 100.0, "capacity": 100.0,
                             "lead_months": lead_months, "max_fte": np.nan}]),
        contractors=contractors([("DM", 50.0, np.nan)]))


def test_a_hire_with_lead_time_two_helps_from_the_third_month() -> None:
    """No DM on staff; S needs 100, 100, 150 DM hours. A hire costs 30 an hour for 100
    paid (and plannable) hours a month, from month index 2 on (lead time 2); contractors
    cost 50 an hour. Months 1–2: contractors only, 2 × 5,000. Month 3: one hire
    (3,000 for 100 h) + 50 contractor hours (2,500) = 5,500 beats 150 contractor hours
    (7,500) and two hires (6,000). Total 15,500, one FTE starting 2026-03."""
    problem = dm_hire_problem(lead_months=2)
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(15_500.0)
    assert plan.hires.to_dict("records") == [{"role": "DM", "month": "2026-03", "fte": 1}]
    by = plan.plan.set_index(["month", "source"])["hours"]
    assert by[("2026-01", CONTRACTOR)] == pytest.approx(100.0)
    assert by[("2026-03", HIRE)] == pytest.approx(100.0)
    assert by[("2026-03", CONTRACTOR)] == pytest.approx(50.0)
    assert plan.costs == pytest.approx({"staff": 0.0, "hire": 3_000.0, "contractor": 12_500.0,
                                        "unmet": 0.0, "churn": 0.0})


def test_without_lead_time_the_hire_starts_at_once() -> None:
    """Lead time 0: one hire from the first month (3 months × 3,000 = 9,000) does the
    first 100 h every month; month 3's extra 50 h go to contractors (2,500): 11,500."""
    problem = dm_hire_problem(lead_months=0)
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(11_500.0)
    assert plan.hires.to_dict("records") == [{"role": "DM", "month": "2026-01", "fte": 1}]


@pytest.mark.parametrize(("max_fte", "expected", "hired"), [(np.nan, 18_500.0, 2),
                                                             (1, 20_500.0, 1)])
def test_a_hiring_cap_leaves_the_rest_to_contractors(max_fte: float, expected: float,
                                                     hired: int) -> None:
    """DM demand 100, 100, 250 h; hires as above (30 × 100 a month, lead time 2),
    contractors at 50. Months 1–2: 10,000 of contractors. Month 3: two hires (6,000) +
    50 contractor hours (2,500) = 8,500 beat one hire + 150 h (10,500): 18,500. With at
    most one FTE hired: 10,500, so 20,500."""
    problem = StaffingProblem(
        pd.DataFrame({"role": "DM", "study_id": "S", "month": list(MONTHS),
                      "hours": [100.0, 100.0, 250.0]}),
        staff([]),
        hires=pd.DataFrame([{"role": "DM", "rate": 30.0, "hours": 100.0, "capacity": 100.0,
                             "lead_months": 2, "max_fte": max_fte}]),
        contractors=contractors([("DM", 50.0, np.nan)]))
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(expected)
    assert plan.hires["fte"].sum() == hired


@pytest.mark.parametrize(("max_studies", "expected"), [(1, 13_200.0), (2, 10_500.0)])
def test_the_studies_per_person_limit_forces_a_contractor(max_studies: int,
                                                           expected: float) -> None:
    """CRA A (rate 50, 200 h) could do both S1 (40 h a month) and S2 (30 h); contractors
    cost 80. Limited to one study, A takes S1 (saving 40 × 30 = 1,200 against 900 on
    S2) and a contractor S2: 2,000 + 2,400 = 4,400 a month, 13,200. With two studies
    allowed, A does all 70 h: 3,500 a month, 10,500."""
    problem = StaffingProblem(
        demand([("CRA", "S1", 40.0), ("CRA", "S2", 30.0)]),
        staff([("A", "CRA", 200.0, 50.0)]),
        contractors=contractors([("CRA", 80.0, np.nan)]), max_studies=max_studies)
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(expected)
    if max_studies == 1:
        by = plan.plan.groupby(["study_id", "source"])["hours"].sum()
        assert by.to_dict() == pytest.approx({("S1", "A"): 120.0, ("S2", CONTRACTOR): 90.0})


def test_unmet_demand_when_hiring_and_contractors_are_capped() -> None:
    """S needs 100 MW hours a month; writer M has 50 h at 40; contractors at most 30 h a
    month at 90; hiring capped at 0 FTE; unmet hours cost 1,000. A month: 2,000 + 2,700
    + 20 × 1,000 = 24,700; 74,100 in three months, 60 hours unmet, said in words."""
    problem = StaffingProblem(
        demand([("MW", "S", 100.0)]), staff([("M", "MW", 50.0, 40.0)]),
        hires=pd.DataFrame([{"role": "MW", "rate": 10.0, "hours": 100.0, "capacity": 100.0,
                             "lead_months": 0, "max_fte": 0}]),
        contractors=contractors([("MW", 90.0, 30.0)]))
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(74_100.0)
    assert plan.unmet["hours"].tolist() == pytest.approx([20.0, 20.0, 20.0])
    assert plan.explain() == ["MW on S: 60.0 hours unmet in 3 months (2026-01, 2026-02, "
                              "2026-03): no qualified staff, hire or contractor hours left"]
    assert plan.hires.empty


def test_the_churn_limit_slows_a_ramp_up() -> None:
    """CTA A (rate 10, 100 h) on S needing 20 then 80 hours, at most 30 h of change a
    month; contractors at 50. Month 1: A 20 h (200). Month 2: A at most 50 h (500) and
    a contractor 30 h (1,500). Total 2,200 (without the limit: 1,000)."""
    months = ("2026-01", "2026-02")
    problem = StaffingProblem(
        pd.DataFrame({"role": "CTA", "study_id": "S", "month": list(months),
                      "hours": [20.0, 80.0]}),
        staff([("A", "CTA", 100.0, 10.0)]),
        contractors=contractors([("CTA", 50.0, np.nan)]), max_churn=30.0)
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(2_200.0)
    named = plan.plan[plan.plan["source"] == "A"].set_index("month")["hours"]
    assert named.to_dict() == pytest.approx({"2026-01": 20.0, "2026-02": 50.0})
    free = solve_staffing(StaffingProblem(problem.demand, problem.staff,
                                          contractors=problem.contractors), time_limit=30)
    assert free.objective == pytest.approx(1_000.0)


def test_a_churn_penalty_is_paid_per_hour_of_change() -> None:
    """Same ramp, no limit, 5 per hour changed: A doing 80 h in month 2 pays 60 × 5 = 300
    for the change (still cheaper than contractors at 50 − 10 = 40 more an hour): 200 +
    800 + 300 = 1,300."""
    problem = StaffingProblem(
        pd.DataFrame({"role": "CTA", "study_id": "S", "month": ["2026-01", "2026-02"],
                      "hours": [20.0, 80.0]}),
        staff([("A", "CTA", 100.0, 10.0)]),
        contractors=contractors([("CTA", 50.0, np.nan)]), churn_penalty=5.0)
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(1_300.0)
    assert plan.costs["churn"] == pytest.approx(300.0)


def test_a_personal_cover_lets_a_senior_cra_do_cta_work() -> None:
    """No role-level coverage, but CRA A personally covers CTA: A (rate 20, 100 h) takes
    the 40 CTA hours a month instead of the contractor at 50: 3 × 800 = 2,400; CRA B,
    without the cover, stays idle."""
    problem = StaffingProblem(
        demand([("CTA", "S", 40.0)]),
        staff([("A", "CRA", 100.0, 20.0), ("B", "CRA", 100.0, 15.0)]),
        contractors=contractors([("CTA", 50.0, np.nan)]),
        staff_covers=pd.DataFrame({"staff_id": ["A"], "covers": ["CTA"]}))
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(2_400.0)
    assert set(plan.plan["source"]) == {"A"}


def test_leave_in_one_month_is_covered_by_a_contractor_that_month() -> None:
    """DM A (rate 50, 100 h a month) on S needing 100 h a month; contractors at 80. A has
    40 h of leave in 2026-02, so 60 h that month. Months 1 and 3: A 100 h (5,000 each).
    Month 2: A 60 h (3,000) + exactly 40 contractor hours (3,200). Total 16,200, which
    is 40 × (80 − 50) = 1,200 more than the 15,000 without leave."""
    problem = StaffingProblem(
        demand([("DM", "S", 100.0)]), staff([("A", "DM", 100.0, 50.0)]),
        contractors=contractors([("DM", 80.0, np.nan)]),
        capacity=pd.DataFrame({"staff_id": ["A"], "month": ["2026-02"],
                               "capacity": [60.0]}))
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    assert plan.objective == pytest.approx(16_200.0)
    by = plan.plan.set_index(["month", "source"])["hours"].to_dict()
    assert by == pytest.approx({("2026-01", "A"): 100.0, ("2026-02", "A"): 60.0,
                                ("2026-02", CONTRACTOR): 40.0, ("2026-03", "A"): 100.0})
    assert plan.costs == pytest.approx({"staff": 13_000.0, "hire": 0.0, "contractor": 3_200.0,
                                        "unmet": 0.0, "churn": 0.0})
    free = solve_staffing(StaffingProblem(problem.demand, problem.staff,
                                          contractors=problem.contractors), time_limit=30)
    assert free.objective == pytest.approx(15_000.0)


def test_the_inputs_take_each_months_leave_off_every_role() -> None:
    """The cut is 2026-01-20 (the last randomization), so the horizon is 2026-01 to 03.
    A DM (165 h a full-time month, 0.5 FTE: 165 × 0.5 × 0.8 = 66 h) with 40 h of leave
    in 2026-02 has 26 h then, and 0 h (not −34) with 100 h in 2026-03; a PM (150 h,
    full time: 120 h) with 30 h of leave in 2026-01 has 90 h; leave after the horizon
    (2026-04) and of people without a rate (CRA-1) is left out. In the plan DM-1 does
    no DM work in 2026-03: a contractor does it."""
    p = portfolio()
    people = pd.DataFrame([
        {"staff_id": "DM-1", "name": "D", "role": "DM", "home_country": "DE",
         "languages": ["de"], "fte": 0.5, "capacity_hours_month": 165.0, "cost_rate": 60.0,
         "currency": "USD"},
        {"staff_id": "PM-1", "name": "P", "role": "PM", "home_country": "DE",
         "languages": ["de"], "fte": 1.0, "capacity_hours_month": 150.0, "cost_rate": 90.0,
         "currency": "USD"}])
    leave = LEAVE.conform(pd.DataFrame(
        [("DM-1", "2026-02-01", 40.0), ("DM-1", "2026-03-01", 100.0),
         ("PM-1", "2026-01-01", 30.0), ("PM-1", "2026-04-01", 50.0),
         ("CRA-1", "2026-01-01", 20.0)], columns=["staff_id", "month", "hours"]
    ).assign(month=lambda f: pd.to_datetime(f["month"])))
    p = type(p)(**{**p.__dict__, "leave": leave,
                   "staff": STAFF.conform(pd.concat([p.staff, pd.DataFrame(people)]))})
    problem = staffing_inputs(p, 3, load_fx(p.as_of))
    assert problem.horizon == ["2026-01", "2026-02", "2026-03"]
    assert problem.staff.set_index("staff_id")["capacity"].to_dict() == pytest.approx(
        {"DM-1": 66.0, "PM-1": 120.0})
    capacity = problem.capacity.set_index(["staff_id", "month"])["capacity"].to_dict()
    assert capacity == pytest.approx({("DM-1", "2026-02"): 26.0, ("DM-1", "2026-03"): 0.0,
                                      ("PM-1", "2026-01"): 90.0})
    plan = solve_staffing(problem, time_limit=30)
    check_invariants(problem, plan)
    dm = plan.plan[plan.plan["source"] == "DM-1"].groupby("month")["hours"].sum()
    assert dm.get("2026-02", 0.0) <= 26.0 + 1e-6 and "2026-03" not in dm.index
    march = plan.plan[(plan.plan["role"] == "DM") & (plan.plan["month"] == "2026-03")]
    assert set(march["source"]) == {CONTRACTOR}  # a DM hire needs 3 months' lead time
