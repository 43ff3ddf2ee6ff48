"""Sponsor budget earned value (docs/SPONSOR_BUDGET.md) on a hand-worked study.

Study S1 (EUR), cut D = 2024-06-20 (the last calendar month ended by D is May).
Three service lines:

=================  ===================  ====================================
line               driver               rows (EUR)
=================  ===================  ====================================
project_management months               original 24 × 8,500.00 (2024-01-10);
                                        CO-02 price 8,925.55 from 2024-05-01
site_management    subjects_randomized  original 40 × 1,234.57 (2024-01-10);
                                        CO-01 units 50 from 2024-04-01
pass_through       sites_activated      original 4 × 12,500.00 (2024-01-10);
                                        CO-03 units 6 from 2024-07-01 (after D)
=================  ===================  ====================================

Every figure below is worked by hand in the comments and asserted to the cent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from contracts.budget_lines import BudgetError, half_up
from contracts.earned_value import (
    actual_cost_months,
    actual_costs,
    budget_in_force,
    budget_json,
    change_order_log,
    earned_value,
    estimate_at_completion,
    monthly_burn,
    planned_units,
    units_delivered,
    work_visits_to_date,
)
from planner.frames import MILESTONES, SCHEMAS, SITES, STUDIES, SUBJECTS, VISITS, Portfolio
from planner.fx import FxTable
from planner.workload.monitoring import WORKLOAD_COLUMNS as WORK
from planner.workload.monitoring import monitoring_workload

AS_OF = dt.date(2024, 6, 20)
T = pd.Timestamp
LINES = ["project_management", "site_management", "pass_through"]


def work_order() -> pd.DataFrame:
    def row(line: str, driver: str, units: str, price: int, start: str,
            change: str | None = None, reason: str | None = None) -> dict:
        return {"study_id": "S1", "service_line": line, "driver": driver,
                "units": Decimal(units), "unit_price_minor": price, "currency": "EUR",
                "effective_from": T(start), "change_order": change, "reason": reason}

    frame = pd.DataFrame([
        row("project_management", "months", "24", 850000, "2024-01-10"),
        row("site_management", "subjects_randomized", "40", 123457, "2024-01-10"),
        row("pass_through", "sites_activated", "4", 1250000, "2024-01-10"),
        row("site_management", "subjects_randomized", "50", 123457, "2024-04-01", "CO-01",
            "10 more subjects"),
        row("project_management", "months", "24", 892555, "2024-05-01", "CO-02",
            "rate card"),
        row("pass_through", "sites_activated", "6", 1250000, "2024-07-01", "CO-03",
            "two rescue sites"),
    ])
    return frame.astype({"change_order": "string", "reason": "string",
                         "effective_from": "datetime64[s]"})


def portfolio() -> Portfolio:
    empty = {s.name: s.conform(pd.DataFrame(columns=s.names)) for s in SCHEMAS}
    studies = pd.DataFrame([{"study_id": "S1", "sponsor": "Acme", "title": None,
                             "phase": "III", "therapeutic_area": None,
                             "target_randomized": 50, "planned_sf_rate": None,
                             "dropout_rate": None, "treatment_weeks": 24.0,
                             "followup_weeks": 4.0, "currency": "EUR"}])
    milestone = {  # kind: (baseline, forecast, actual)
        "contract_signed": ("2024-01-10", None, "2024-02-02"),
        "protocol_final": ("2024-01-20", None, "2024-01-25"),
        "first_site_activated": ("2024-02-15", None, "2024-03-01"),
        "fpi": ("2024-03-01", None, "2024-03-20"),
        "lpi": ("2024-10-31", "2024-12-15", None),
        "lplv": ("2025-05-15", "2025-07-01", None),
        "dbl": ("2025-07-15", "2025-09-01", None),
        "csr_final": ("2025-12-15", "2026-02-20", None),
    }
    milestones = pd.DataFrame([{"study_id": "S1", "milestone": k, "baseline": T(b),
                                "forecast": T(f) if f else pd.NaT,
                                "actual": T(a) if a else pd.NaT}
                               for k, (b, f, a) in milestone.items()])
    sites = pd.DataFrame([{"study_id": "S1", "site_id": s, "country": "DE",
                           "investigator": None, "status": "enrolling",
                           "planned_activation": T(p),
                           "actual_activation": T(a) if a else pd.NaT,
                           "target_randomized": 12, "cra_id": "C1"}
                          for s, p, a in (("S01", "2024-02-15", "2024-03-01"),
                                          ("S02", "2024-03-15", "2024-04-10"),
                                          ("S03", "2024-05-15", None),
                                          ("S04", "2024-07-15", None))])
    randomized = [f"2024-{m:02d}-{d:02d}" for m, d in (
        (3, 20), (3, 28), (4, 2), (4, 15), (4, 22), (5, 3), (5, 9), (5, 17), (5, 30),
        (6, 4), (6, 11), (6, 18))] + ["2024-06-25"]  # 12 by D, one after
    subjects = pd.DataFrame([{"study_id": "S1", "site_id": "S01" if i % 2 else "S02",
                              "subject_id": f"S1-{i:03d}", "arm": None,
                              "screened": T(r) - pd.Timedelta(days=7), "randomized": T(r),
                              "screen_failed": pd.NaT, "discontinued": pd.NaT,
                              "completed": pd.NaT, "disposition": None}
                             for i, r in enumerate(randomized)]
                            + [{"study_id": "S1", "site_id": "S01", "subject_id": "S1-SF",
                                "arm": None, "screened": T("2024-04-01"),
                                "randomized": pd.NaT, "screen_failed": T("2024-04-10"),
                                "discontinued": pd.NaT, "completed": pd.NaT,
                                "disposition": "SCREEN FAILURE"}])
    visits = pd.DataFrame([{"study_id": "S1", "site_id": "S01", "subject_id": "S1-001",
                            "visit_num": float(n), "visit_seq": 1, "visit_name": f"V{n}",
                            "visit_date": T(d)}
                           for n, d in enumerate(("2024-03-13", "2024-03-28", "2024-04-25",
                                                  "2024-05-23", "2024-06-20", "2024-06-21"))])
    return Portfolio(**{**empty, "studies": STUDIES.conform(studies),
                        "milestones": MILESTONES.conform(milestones),
                        "sites": SITES.conform(sites), "subjects": SUBJECTS.conform(subjects),
                        "visits": VISITS.conform(visits)})


def timesheets() -> pd.DataFrame:
    rows = [("P1", "PM", m, h, "95.00", "EUR") for m, h in (
        ("2024-02", 40.5), ("2024-03", 52.25), ("2024-04", 60.0), ("2024-05", 48.75),
        ("2024-06", 30.0))]
    rows += [("C1", "CRA", m, h, "70.00", "GBP") for m, h in (
        ("2024-03", 20.5), ("2024-04", 33.25), ("2024-05", 41.75), ("2024-06", 12.0))]
    rows += [("T1", "CTA", m, h, "45.50", "EUR") for m, h in (("2024-04", 10.0),
                                                              ("2024-05", 15.5))]
    return pd.DataFrame([{"staff_id": s, "role": r, "study_id": "S1",
                          "month": T(f"{m}-01"), "hours": h, "cost_rate": Decimal(c),
                          "cost_currency": cur} for s, r, m, h, c, cur in rows]).astype(
        {"month": "datetime64[s]"})


def payments() -> pd.DataFrame:
    return pd.DataFrame({"through": [T("2024-03-31"), T("2024-05-31"), T("2024-06-15"),
                                     T("2024-06-30")],
                         "reporting_amount": [Decimal("5000.00"), Decimal("7250.50"),
                                              Decimal("3000.00"), Decimal("4000.00")]})


def fx() -> FxTable:
    # GBP → EUR = per_usd[EUR] / per_usd[GBP], rounded to 10 decimals:
    #   from 2024-01-01: 0.90 / 0.75 = 1.2; from 2024-04-01: 0.92 / 0.80 = 1.15;
    #   from 2024-05-15: 0.93 / 0.78 = 1.19230769230769… → 1.1923076923
    return FxTable.from_rows([(dt.date(2024, 1, 1), "EUR", Decimal("0.90")),
                              (dt.date(2024, 1, 1), "GBP", Decimal("0.75")),
                              (dt.date(2024, 4, 1), "EUR", Decimal("0.92")),
                              (dt.date(2024, 4, 1), "GBP", Decimal("0.80")),
                              (dt.date(2024, 5, 15), "EUR", Decimal("0.93")),
                              (dt.date(2024, 5, 15), "GBP", Decimal("0.78"))], "test rates")


def compute(as_of: dt.date = AS_OF) -> tuple[pd.DataFrame, ...]:
    p = portfolio()
    budget = budget_in_force(work_order(), as_of)
    delivered = units_delivered(p, pd.DataFrame(columns=["study_id", "site_id", "role",
                                                         "month", "visit_type", "visits",
                                                         "hours"]), as_of)
    planned = planned_units(p, as_of)
    actuals = actual_costs(timesheets(), payments(), as_of, "EUR", fx())
    evm = earned_value("S1", budget, delivered, planned, actuals, as_of)
    return budget, delivered, planned, actuals, evm


def cents(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return dict(zip(frame["service_line"], frame[column].astype(int), strict=True))


def test_budget_in_force_and_change_order_log() -> None:
    budget = budget_in_force(work_order(), AS_OF).set_index("service_line")
    # PM: CO-02 in force: 24 × 8,925.55 = 214,213.20 (original 24 × 8,500.00 = 204,000.00)
    # SM: CO-01 in force: 50 × 1,234.57 = 61,728.50 (original 40 × 1,234.57 = 49,382.80)
    # PT: CO-03 is dated after D: the original 4 × 12,500.00 = 50,000.00
    # BAC = 214,213.20 + 61,728.50 + 50,000.00 = 325,941.70
    assert budget.loc[LINES, "bac_minor"].tolist() == [21421320, 6172850, 5000000]
    assert budget.loc[LINES, "original_bac_minor"].tolist() == [20400000, 4938280, 5000000]
    assert budget.loc[LINES, "units"].tolist() == [Decimal(24), Decimal(50), Decimal(4)]
    assert budget.loc[LINES, "change_order"].fillna("").tolist() == ["CO-02", "CO-01", ""]
    assert budget.loc[LINES, "change_orders"].tolist() == [1, 1, 0]
    log = change_order_log(work_order(), AS_OF).set_index("change_order")
    # CO-01: 61,728.50 − 49,382.80 = 12,345.70; CO-02: 214,213.20 − 204,000.00 = 10,213.20;
    # CO-03: 6 × 12,500.00 − 50,000.00 = 25,000.00, listed but not effective by D
    assert log["value_minor"].tolist() == [1234570, 1021320, 2500000]
    assert log["effective"].tolist() == [True, True, False]
    assert log.loc["CO-01", "units_before"] == Decimal(40)
    assert log.loc["CO-02", "unit_price_before_minor"] == 850000
    # before CO-01 took effect the original is in force; before any row, the original too
    early = budget_in_force(work_order(), dt.date(2024, 3, 31)).set_index("service_line")
    assert early.loc[LINES, "bac_minor"].tolist() == [20400000, 4938280, 5000000]
    # 204,000.00 + 49,382.80 + 50,000.00 = 303,382.80
    assert budget_in_force(work_order(), dt.date(2023, 1, 1))["bac_minor"].sum() == 30338280
    # after CO-03: 6 × 12,500.00 = 75,000.00
    later = budget_in_force(work_order(), dt.date(2024, 7, 1)).set_index("service_line")
    assert later.loc["pass_through", "bac_minor"] == 7500000


def test_budget_rounds_units_times_price_once_half_up() -> None:
    frame = work_order().iloc[[0]].assign(units=Decimal("12.5"), unit_price_minor=33333)
    # 12.5 × 333.33 = 4,166.625 → 4,166.63
    assert budget_in_force(frame, AS_OF)["bac_minor"].tolist() == [416663]


def test_units_delivered_and_planned_by_hand() -> None:
    p = portfolio()
    work = pd.DataFrame({"study_id": "S1", "site_id": "S01", "role": "CRA",
                         "month": pd.PeriodIndex(["2024-03", "2024-05", "2024-05", "2024-06"],
                                                 freq="M"),
                         "visit_type": ["SIV", "IMV", "remote IMV", "IMV"],
                         "visits": [1.0, 2.5, 1 / 3, 3.0], "hours": 0.0})
    got = units_delivered(p, work, AS_OF).set_index("driver")["delivered"]
    # months: contract signed (actual) 2024-02-02 → Feb, Mar, Apr, May ended by 06-20 = 4
    # sites: S01 (03-01), S02 (04-10) activated; subjects: 12 randomized by 06-20
    # monitoring visits: IMV + remote IMV in months ended (May): 2.5 + 0.333… → 2.83
    #   (the SIV is no monitoring visit, June has not ended)
    # crf pages: 5 SV rows dated ≤ 06-20 × 8 = 40; deliverables: protocol_final reached
    assert got.to_dict() == {"months": 4, "sites_activated": 2,
                             "monitoring_visits": Decimal("2.83"), "subjects_randomized": 12,
                             "crf_pages": 40, "deliverables": 1, "fixed": 1}
    assert units_delivered(p, work, AS_OF, pages_per_visit=10).set_index(
        "driver").at["crf_pages", "delivered"] == 50
    share = planned_units(p, AS_OF).set_index("driver")["share"]
    # months: baseline start 2024-01-10 → csr_final baseline 2025-12: 24 months; Jan..May = 5
    # sites: planned 02-15, 03-15, 05-15 ≤ D of 4
    # subjects: fpi 2024-03-01 → lpi 2024-10-31 = 244 days; to D 111 days
    # visits: first_site_activated 2024-02-15 → lplv 2025-05-15 = 455 days; to D 126 days
    # pages: fpi 2024-03-01 → lplv 2025-05-15 = 440 days; to D 111 days
    # deliverables: baselines protocol_final ≤ D; dbl, csr_final later (topline: none)
    assert share.to_dict() == {
        "months": Fraction(5, 24), "sites_activated": Fraction(3, 4),
        "deliverables": Fraction(1, 3), "fixed": 1,
        "subjects_randomized": Fraction(111, 244), "monitoring_visits": Fraction(126, 455),
        "crf_pages": Fraction(111, 440)}


def test_actual_costs_by_hand() -> None:
    months = actual_cost_months(timesheets(), payments(), AS_OF, "EUR", fx())
    actuals = actual_costs(timesheets(), payments(), AS_OF, "EUR", fx())
    # PM (95.00 EUR/h): Feb 40.5 h = 3,847.50; Mar 52.25 h = 4,963.75; Apr 60 h = 5,700.00;
    #   May 48.75 h = 4,631.25; June has not ended by D → 19,142.50
    # CRA (70.00 GBP/h) at the rate in force on the month's last day:
    #   Mar 20.5 × 70 × 1.2 = 1,722.00; Apr 33.25 × 70 × 1.15 = 2,676.625 → 2,676.63;
    #   May 41.75 × 70 × 1.1923076923 = 2,922.50 × 1.1923076923 = 3,484.5192… → 3,484.52
    # CTA (45.50 EUR/h): Apr 10 h = 455.00; May 15.5 h = 705.25
    #   site_management = 1,722.00 + 2,676.63 + 3,484.52 + 455.00 + 705.25 = 9,043.40
    # pass_through: runs through 03-31, 05-31, 06-15 (≤ D): 5,000.00 + 7,250.50 + 3,000.00
    #   = 15,250.50 (the run through 06-30 is after D)
    assert cents(actuals, "ac_minor") == {"pass_through": 1525050,
                                          "project_management": 1914250,
                                          "site_management": 904340}
    cra = months[(months["service_line"] == "site_management")].groupby("month")[
        "ac_minor"].sum()
    assert cra.tolist() == [172200, 267663 + 45500, 348452 + 70525]
    assert actuals.set_index("service_line").at["site_management", "hours"] == pytest.approx(
        20.5 + 33.25 + 41.75 + 10 + 15.5)


def test_hand_worked_earned_value_to_the_cent() -> None:
    *_, evm = compute()
    # PV = units × planned share × price, rounded once:
    #   PM: 24 × 5/24 × 8,925.55 = 44,627.75
    #   SM: 50 × 111/244 × 1,234.57 = 685,186,350 / 244 cents = 2,808,140.78 → 28,081.41
    #   PT: 4 × 3/4 × 12,500.00 = 37,500.00; total 110,209.16
    assert cents(evm, "pv_minor") == {"project_management": 4462775,
                                      "site_management": 2808141, "pass_through": 3750000,
                                      "total": 11020916}
    # EV = delivered × price: PM 4 × 8,925.55 = 35,702.20; SM 12 × 1,234.57 = 14,814.84;
    #   PT 2 × 12,500.00 = 25,000.00; total 75,517.04
    assert cents(evm, "ev_minor") == {"project_management": 3570220,
                                      "site_management": 1481484, "pass_through": 2500000,
                                      "total": 7551704}
    # AC (test_actual_costs_by_hand): 19,142.50 + 9,043.40 + 15,250.50 = 43,436.40
    assert cents(evm, "ac_minor") == {"project_management": 1914250,
                                      "site_management": 904340, "pass_through": 1525050,
                                      "total": 4343640}
    assert cents(evm, "bac_minor") == {"project_management": 21421320,
                                       "site_management": 6172850, "pass_through": 5000000,
                                       "total": 32594170}
    # EAC = AC + (BAC − EV) × AC / EV:
    #   PM: (214,213.20 − 35,702.20) / 35,702.20 = 20 months / 4 months = 5 exactly
    #       → 19,142.50 + 5 × 19,142.50 = 114,855.00
    #   SM: (61,728.50 − 14,814.84) / 14,814.84 = 38 / 12 subjects = 19/6
    #       → 9,043.40 × 19/6 = 28,637.4333… → 28,637.43; 9,043.40 + 28,637.43 = 37,680.83
    #   PT: (50,000.00 − 25,000.00) / 25,000.00 = 1 → 15,250.50 + 15,250.50 = 30,501.00
    #   total = 114,855.00 + 37,680.83 + 30,501.00 = 183,036.83
    assert cents(evm, "eac_minor") == {"project_management": 11485500,
                                       "site_management": 3768083, "pass_through": 3050100,
                                       "total": 18303683}
    # ETC = EAC − AC: 95,712.50; 28,637.43; 15,250.50; total 139,600.43
    assert cents(evm, "etc_minor") == {"project_management": 9571250,
                                       "site_management": 2863743, "pass_through": 1525050,
                                       "total": 13960043}
    # VAC = BAC − EAC: 99,358.20; 24,047.67; 19,499.00; total 142,904.87
    assert cents(evm, "vac_minor") == {"project_management": 9935820,
                                       "site_management": 2404767, "pass_through": 1949900,
                                       "total": 14290487}
    # CPI = EV / AC: 35,702.20 / 19,142.50 = 1.86507…; 14,814.84 / 9,043.40 = 1.63819…;
    #   25,000.00 / 15,250.50 = 1.63929…; total 75,517.04 / 43,436.40 = 1.73857…
    # SPI = EV / PV: 0.8 exactly; 14,814.84 / 28,081.41 = 0.52757…; 25,000 / 37,500 = 2/3;
    #   total 75,517.04 / 110,209.16 = 0.68522…
    rows = {r["service_line"]: r for r in budget_json(evm)}
    assert {k: (r["cpi"], r["spi"]) for k, r in rows.items()} == {
        "project_management": ("1.8651", "0.8000"), "site_management": ("1.6382", "0.5276"),
        "pass_through": ("1.6393", "0.6667"), "total": ("1.7386", "0.6852")}
    by = evm.set_index("service_line")
    assert by.at["project_management", "spi"] == Decimal("0.8")
    assert by.at["pass_through", "cpi"] == Decimal(2500000) / Decimal(1525050)
    assert rows["total"] == {"service_line": "total", "bac": "325941.70", "pv": "110209.16",
                             "ev": "75517.04", "ac": "43436.40", "cpi": "1.7386",
                             "spi": "0.6852", "eac": "183036.83", "etc": "139600.43",
                             "vac": "142904.87", "currency": "EUR"}
    assert list(rows["site_management"]) == ["service_line", "bac", "pv", "ev", "ac", "cpi",
                                             "spi", "eac", "etc", "vac", "currency"]
    assert rows["site_management"]["eac"] == "37680.83"


def test_invariants_and_no_float_money() -> None:
    budget, delivered, planned, actuals, evm = compute()
    lines, total = evm[evm["service_line"] != "total"], evm[evm["service_line"] == "total"]
    money = ["bac_minor", "pv_minor", "ev_minor", "ac_minor", "eac_minor", "etc_minor",
             "vac_minor"]
    for column in money:
        assert evm[column].dtype == np.int64
        assert int(total[column].iloc[0]) == int(lines[column].sum())
    assert (evm["etc_minor"] == evm["eac_minor"] - evm["ac_minor"]).all()
    assert (evm["vac_minor"] == evm["bac_minor"] - evm["eac_minor"]).all()
    assert (lines["ev_minor"] <= lines["bac_minor"]).all()
    assert (lines["pv_minor"] <= lines["bac_minor"]).all()
    for frame in (budget, actuals, evm):
        for column in frame.columns:
            if column.endswith("_minor"):
                assert not str(frame[column].dtype).lower().startswith("float"), column
                assert not any(isinstance(v, float) for v in frame[column]), column
    for value in [*evm["units"], *evm["delivered_units"], *evm["cpi"], *evm["spi"]]:
        assert value is None or isinstance(value, Decimal)


def test_units_never_above_the_line() -> None:
    # site_management contracted for 10 subjects only: 12 are randomized by D
    frame = work_order()
    frame.loc[frame["service_line"] == "site_management", "units"] = Decimal(10)
    p = portfolio()
    evm = earned_value("S1", budget_in_force(frame, AS_OF),
                       units_delivered(p, pd.DataFrame(columns=["study_id", "month",
                                                                "visit_type", "visits"]),
                                       AS_OF), planned_units(p, AS_OF),
                       actual_costs(timesheets(), payments(), AS_OF, "EUR", fx()), AS_OF)
    row = evm.set_index("service_line").loc["site_management"]
    # 12 randomized but 10 contracted: EV = 10 × 1,234.57 = BAC = 12,345.70
    assert row["delivered_units"] == Decimal(10)
    assert row["ev_minor"] == row["bac_minor"] == 1234570


def test_eac_when_cpi_is_undefined() -> None:
    assert estimate_at_completion(bac=100000, ev=0, ac=0) == 100000  # nothing spent or earned
    # spent, not earned: AC + BAC = 2,500 + 100,000
    assert estimate_at_completion(bac=100000, ev=0, ac=2500) == 102500
    # earned, nothing booked (a line no cost source books to): no cost evidence, on
    # budget: EAC = BAC = 100,000 (not BAC − EV = 60,000, the earned value as savings)
    assert estimate_at_completion(bac=100000, ev=40000, ac=0) == 100000
    # 25,001 + (100,000 − 40,000) × 25,001 / 40,000 = 25,001 + 37,501.5 → 25,001 + 37,502
    assert estimate_at_completion(bac=100000, ev=40000, ac=25001) == 25001 + 37502
    assert half_up(Fraction(5, 2)) == 3 and half_up(Fraction(-5, 2)) == -3
    assert half_up(Fraction(7, 3)) == 2


def test_cost_without_a_line_is_kept_in_the_total() -> None:
    sheets = pd.concat([timesheets(), timesheets().iloc[[0]].assign(
        staff_id="D1", role="DM", hours=10.0, cost_rate=Decimal("60.00"))],
                       ignore_index=True)
    budget, delivered, planned, _, _ = compute()
    actuals = actual_costs(sheets, payments(), AS_OF, "EUR", fx())
    evm = earned_value("S1", budget, delivered, planned, actuals, AS_OF).set_index(
        "service_line")
    dm = evm.loc["data_management"]
    # 10 h × 60.00 = 600.00, no budget: EAC = AC, VAC = −600.00
    assert (dm["bac_minor"], dm["ac_minor"], dm["eac_minor"], dm["vac_minor"]) == (
        0, 60000, 60000, -60000)
    assert dm["cpi"] == 0 and dm["spi"] is None  # EV 0 / AC 600.00; PV 0: undefined
    assert evm.at["total", "ac_minor"] == 4343640 + 60000


def test_bad_inputs_are_refused() -> None:
    mixed = work_order()
    mixed.loc[0, "currency"] = "USD"
    with pytest.raises(BudgetError, match="mixes currencies"):
        budget_in_force(mixed, AS_OF)
    tied = pd.concat([work_order(), work_order().iloc[[3]].assign(change_order="CO-09")])
    with pytest.raises(BudgetError, match="ambiguous"):
        budget_in_force(tied, AS_OF)
    bad_role = timesheets().assign(role="ASTRONAUT")
    with pytest.raises(BudgetError, match="ASTRONAUT"):
        actual_costs(bad_role, payments(), AS_OF, "EUR", fx())
    with pytest.raises(BudgetError, match="no work order"):
        earned_value("S2", *compute()[:4], AS_OF)


def test_monthly_burn() -> None:
    budget, _, _, _, evm = compute()
    p = portfolio()
    cost = actual_cost_months(timesheets(), payments(), AS_OF, "EUR", fx())
    bands = pd.DataFrame({"milestone": ["lpi"], "p10": [T("2024-11-15")],
                          "p50": [T("2024-12-15")], "p90": [T("2025-02-15")]})
    burn = monthly_burn(p, "S1", budget, evm, cost, AS_OF, bands).set_index("month")
    eac, bac = 18303683, 32594170
    # months from the baseline start (2024-01) to the P90 end of project management:
    # csr_final forecast 2026-02-20 moved by lpi's P90 − P50 (62 days) → 2026-04
    assert burn.index[0] == T("2024-01-01") and burn.index[-1] == T("2026-04-01")
    # actual, cumulative: Feb 3,847.50; Mar + 4,963.75 + 1,722.00 + 5,000.00 = 15,533.25;
    #   Apr + 5,700.00 + 2,676.63 + 455.00 = 24,364.88;
    #   May + 4,631.25 + 3,484.52 + 705.25 + 7,250.50 = 40,436.40; NA from June
    assert burn.loc[T("2024-02-01"):T("2024-05-01"), "actual_minor"].tolist() == [
        384750, 1553325, 2436488, 4043640]
    assert burn.loc[T("2024-06-01"):, "actual_minor"].isna().all()
    # planned by May 31: PM 5/24 → 44,627.75; SM 50 × 91/244 × 1,234.57 = 23,021.69;
    #   PT 3 × 12,500.00 = 37,500.00 → 105,149.44; by the end every line is planned: BAC
    assert burn.at[T("2024-05-01"), "planned_minor"] == 4462775 + 2302169 + 3750000
    assert burn["planned_minor"].iloc[-1] == bac
    assert (np.diff(burn["planned_minor"].to_numpy()) >= 0).all()
    # forecast: = actual in May; from June AC at D (43,436.40) + each line's ETC spread:
    #   PM 95,712.50 over 2024-06..2026-02 (csr_final forecast) = 21 months → 4,557.74;
    #   SM 28,637.43 over 2024-06..2024-12 (lpi forecast) = 7 months → 4,091.06;
    #   PT 15,250.50 over 2024-06..2024-07 (S04's planned activation) → 7,625.25
    #   June = 43,436.40 + 4,557.74 + 4,091.06 + 7,625.25 = 59,710.45
    assert burn.loc[:T("2024-04-01"), "forecast_minor"].isna().all()
    assert burn.at[T("2024-05-01"), "forecast_minor"] == 4043640
    assert burn.at[T("2024-06-01"), "forecast_minor"] == 5971045
    assert burn.at[T("2026-02-01"), "forecast_minor"] == eac  # reaches EAC at csr_final
    assert burn.at[T("2026-01-01"), "forecast_minor"] < eac
    # bands: P10 (lpi 2024-11-15) ends SM in 2024-11 and PM in 2026-01 (csr 30 days
    # earlier); P90 (2025-02-15) in 2025-02 and 2026-04; each reaches EAC
    assert burn.at[T("2026-01-01"), "forecast_p10_minor"] == eac
    assert burn.at[T("2026-03-01"), "forecast_p90_minor"] < eac
    assert burn["forecast_p90_minor"].iloc[-1] == eac
    later = burn.loc[T("2024-06-01"):]
    assert (later["forecast_p10_minor"] >= later["forecast_minor"]).all()
    assert (later["forecast_minor"] >= later["forecast_p90_minor"]).all()
    plain = monthly_burn(p, "S1", budget, evm, cost, AS_OF)
    assert plain["forecast_p10_minor"].isna().all()
    # remaining at budget (BAC − EV) instead of ETC: the forecast ends at AC + BAC − EV
    at_budget = monthly_burn(p, "S1", budget, evm, cost, AS_OF, remaining="budget")
    assert at_budget["forecast_minor"].iloc[-1] == 4343640 + bac - 7551704


def test_a_line_nothing_books_cost_to_is_on_budget() -> None:
    # regulatory, priced per deliverable: 4 × 3,750.00 = BAC 15,000.00; no role books
    # regulatory, so AC = 0 while protocol_final (actual 2024-01-25) is delivered:
    #   EV = 1 × 3,750.00 = 3,750.00; PV: 1 of the 3 deliverables with a baseline
    #   (protocol_final 2024-01-20; dbl, csr_final later) → 4 × 1/3 × 3,750.00 = 5,000.00
    #   EAC = BAC = 15,000.00 (AC = 0: no cost evidence); ETC = 15,000.00; VAC = 0.00
    #   (the old rule, AC + BAC − EV = 11,250.00, reported EV as 3,750.00 of savings)
    regulatory = work_order().iloc[[0]].assign(
        service_line="regulatory", driver="deliverables", units=Decimal(4),
        unit_price_minor=375000)
    orders = pd.concat([work_order(), regulatory], ignore_index=True)
    p = portfolio()
    evm = earned_value("S1", budget_in_force(orders, AS_OF),
                       units_delivered(p, pd.DataFrame(columns=WORK), AS_OF),
                       planned_units(p, AS_OF),
                       actual_costs(timesheets(), payments(), AS_OF, "EUR", fx()), AS_OF)
    row = evm.set_index("service_line").loc["regulatory"]
    assert (row["bac_minor"], row["pv_minor"], row["ev_minor"], row["ac_minor"]) == (
        1500000, 500000, 375000, 0)
    assert (row["eac_minor"], row["etc_minor"], row["vac_minor"]) == (1500000, 1500000, 0)
    assert row["cpi"] is None and row["spi"] == Decimal("0.75")
    # total EAC = 183,036.83 (the three lines) + 15,000.00 = 198,036.83
    assert evm.set_index("service_line").at["total", "eac_minor"] == 18303683 + 1500000


def closed_history() -> Portfolio:
    """The hand-worked study with every site closed now; S01's last subject visit
    recorded on 2024-04-25 (its visits after that left out)."""
    p = portfolio()
    return replace(p, sites=p.sites.assign(status="closed"),
                   visits=p.visits[p.visits["visit_date"] <= T("2024-04-25")])


def test_monitoring_visits_of_sites_closed_now_are_earned() -> None:
    # IMV (on site and remote) a month while a site has a subject on study and has been
    # active < 6 months: WEEKS_PER_MONTH / 4 weeks = (365.25 / 12 / 7) / 4
    #   = 1.0870535714… (× min(1, subjects on study) = 1: every month below has one)
    # months ended by D (2024-06-20): March, April, May.
    # S01 (activated 2024-03-01; subjects from 2024-03-28 on): March, April, May
    # S02 (activated 2024-04-10; its first subject randomized 2024-03-20): April, May
    #   open sites: 5 site-months × 1.0870535714… = 5.4352678… → 5.44
    p = portfolio()
    open_now = units_delivered(p, work_visits_to_date(p, AS_OF), AS_OF).set_index("driver")
    assert open_now.at["monitoring_visits", "delivered"] == Decimal("5.44")
    # closed now: the visits were delivered all the same, up to each site's last subject
    # visit: S01's is 2024-04-25 (March, April); S02 has none recorded (its subjects'
    # dates: April, May) → 4 site-months × 1.0870535714… = 4.3482142… → 4.35
    # (before, a closed site was skipped: 0.00)
    closed = closed_history()
    work = work_visits_to_date(closed, AS_OF)
    got = units_delivered(closed, work, AS_OF).set_index("driver")
    assert got.at["monitoring_visits", "delivered"] == Decimal("4.35")
    imv = work[work["visit_type"].isin(["IMV", "remote IMV"])]
    assert sorted({(s, str(m)) for s, m in zip(imv["site_id"], imv["month"], strict=True)}
                  ) == [("S01", "2024-03"), ("S01", "2024-04"), ("S02", "2024-04"),
                        ("S02", "2024-05"), ("S02", "2024-06")]  # June: not ended by D
    # the forward workload still skips sites closed now
    months = pd.period_range("2024-03", "2024-06", freq="M")
    forward = monitoring_workload(closed, months, AS_OF)
    assert not forward["visit_type"].isin(["IMV", "remote IMV", "COV"]).any()


def test_work_visits_before_any_study_started() -> None:
    # contract_signed (actual) 2024-02-02: nothing has started by 2024-01-31
    early = dt.date(2024, 1, 31)
    work = work_visits_to_date(portfolio(), early)
    assert work.empty and list(work.columns) == WORK
    got = units_delivered(portfolio(), work, early).set_index("driver")["delivered"]
    assert got["monitoring_visits"] == 0 and got["fixed"] == 0
    # a new study with only a work order: no milestones, no sites
    bare = replace(portfolio(), milestones=portfolio().milestones.iloc[0:0],
                   sites=portfolio().sites.iloc[0:0])
    assert list(work_visits_to_date(bare, AS_OF).columns) == WORK


def test_burn_bands_without_quantiles() -> None:
    # the forecast gave no lpi quantile (a late cut, a slow study): None and NaT are no
    # band, every line keeps its point end, so P10 and P90 equal the point forecast
    # (June: 59,710.45 as in test_monthly_burn; it ends at EAC 183,036.83)
    budget, _, _, _, evm = compute()
    cost = actual_cost_months(timesheets(), payments(), AS_OF, "EUR", fx())
    for missing in (None, pd.NaT):
        bands = pd.DataFrame({"milestone": ["lpi", "lplv"], "p10": [missing, missing],
                              "p50": [missing, missing], "p90": [missing, missing]})
        burn = monthly_burn(portfolio(), "S1", budget, evm, cost, AS_OF, bands)
        assert burn.set_index("month").at[T("2024-06-01"), "forecast_minor"] == 5971045
        assert burn["forecast_minor"].iloc[-1] == 18303683
        for band in ("forecast_p10_minor", "forecast_p90_minor"):
            assert burn[band].equals(burn["forecast_minor"]), band
    # only P50 missing: lpi's shift is unknown, lplv and csr_final keep their dates;
    # lpi's own P10 (2024-11-15) still ends subjects a month early
    bands = pd.DataFrame({"milestone": ["lpi"], "p10": [T("2024-11-15")], "p50": [pd.NaT],
                          "p90": [T("2025-02-15")]})
    burn = monthly_burn(portfolio(), "S1", budget, evm, cost, AS_OF, bands)
    assert burn["forecast_p10_minor"].iloc[-1] == burn["forecast_p90_minor"].iloc[-1] \
        == 18303683
    assert burn.set_index("month").at[T("2026-02-01"), "forecast_p10_minor"] == 18303683

