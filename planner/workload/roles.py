"""Demand hours of the roles besides the CRA (PM, CTA, DM, BIOSTAT, MW), per study and
month (DESIGN §3: "hours per study-month or per unit by phase"), and the whole staffing
demand: CRA monitoring hours (``monitoring``) plus these.

A study is in one stage a month, from its milestones (each date: actual, else the
stored forecast, else the baseline):

* start-up: from contract signed (when known) until before the first site activation
  (the milestone, else the earliest site activation recorded or planned);
* enrollment: from the first activation's month to the LPI's month (no LPI date:
  enrolling through the horizon);
* treatment/follow-up: to the LPLV's month, LPLV = the recorded actual, else LPI +
  treatment + follow-up weeks (DESIGN §3);
* close-out: ``close_out_months`` after the LPLV month (DBL about 6 weeks and the CSR
  about 14 weeks later: about 5 months); nothing afterwards.

Each role's hours = its stage's hours per study-month + hours per active site-month
(sites activated by then, neither identified nor closed, while the study enrolls or
treats) + hours per subject visit (expected subjects on study × visits per
subject-month: the study's scheduled visits over treatment + follow-up, else the
default). Expected values (fractions of hours), as in the monitoring workload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind, Role
from planner.frames import Portfolio
from planner.workload.drivers import WEEKS_PER_MONTH
from planner.workload.monitoring import (
    horizon,
    milestone_date,
    monitoring_workload,
    subjects_on_study,
    treatment_followup_weeks,
)
from planner.workload.rates import portfolio_site_rates

DEMAND_COLUMNS = ["study_id", "role", "month", "hours"]


class StudyStage(StrEnum):
    START_UP = "start-up"
    ENROLLMENT = "enrollment"
    TREATMENT = "treatment/follow-up"
    CLOSE_OUT = "close-out"


def _stage_hours(start_up: float, enrollment: float, treatment: float, close_out: float
                 ) -> dict[StudyStage, float]:
    return {StudyStage.START_UP: start_up, StudyStage.ENROLLMENT: enrollment,
            StudyStage.TREATMENT: treatment, StudyStage.CLOSE_OUT: close_out}


@dataclass(frozen=True)
class RoleDrivers:
    """Hours per study-month by role and stage, per active site-month and per subject
    visit by role. Defaults: a mid-size study's typical values (docs/STAFFING.md)."""

    per_study_month: Mapping[Role, Mapping[StudyStage, float]] = field(
        default_factory=lambda: {
            Role.PM: _stage_hours(40, 30, 20, 25),
            Role.CTA: _stage_hours(30, 20, 15, 20),
            Role.DATA_MANAGER: _stage_hours(30, 10, 10, 40),  # build; cleaning and lock
            Role.BIOSTATISTICIAN: _stage_hours(15, 4, 6, 60),  # SAP; analysis
            Role.MEDICAL_WRITER: _stage_hours(20, 2, 4, 60),  # documents; the CSR
        })
    per_active_site_month: Mapping[Role, float] = field(default_factory=lambda: {
        Role.PM: 1.0, Role.CTA: 2.0})
    per_subject_visit: Mapping[Role, float] = field(default_factory=lambda: {
        Role.DATA_MANAGER: 0.5})
    visits_per_subject_month: float = 1.0  # when the study has no visit schedule
    close_out_months: int = 5


DEFAULT_ROLE_DRIVERS = RoleDrivers()


def _month(value: dt.date | pd.Timestamp | None) -> pd.Period | None:
    return None if value is None or pd.isna(value) else pd.Period(value, "M")


def study_stages(portfolio: Portfolio, study_id: str, months: pd.PeriodIndex,
                 close_out_months: int = DEFAULT_ROLE_DRIVERS.close_out_months
                 ) -> list[StudyStage | None]:
    """The study's stage in each month of ``months`` (None: not started or over)."""
    weeks = treatment_followup_weeks(portfolio, study_id)
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id]
    first = milestone_date(portfolio, study_id, MilestoneKind.FIRST_SITE_ACTIVATED)
    if first is None:
        first = sites["actual_activation"].fillna(sites["planned_activation"]).min()
    signed = _month(milestone_date(portfolio, study_id, MilestoneKind.CONTRACT_SIGNED))
    first_month = _month(first)
    lpi = milestone_date(portfolio, study_id, MilestoneKind.LPI)
    lplv = milestone_date(portfolio, study_id, MilestoneKind.LPLV, ("actual",))
    lplv_date = (lplv if lplv is not None else
                 None if lpi is None else lpi + dt.timedelta(days=round(weeks * 7)))
    lpi_month, lplv_month = _month(lpi), _month(lplv_date)
    stages: list[StudyStage | None] = []
    for month in months:
        if signed is not None and month < signed:
            stages.append(None)
        elif first_month is None or month < first_month:
            stages.append(StudyStage.START_UP)
        elif lpi_month is None or month <= lpi_month:
            stages.append(StudyStage.ENROLLMENT)
        elif month <= lplv_month:
            stages.append(StudyStage.TREATMENT)
        elif (month - lplv_month).n <= close_out_months:
            stages.append(StudyStage.CLOSE_OUT)
        else:
            stages.append(None)
    return stages


def _active_sites(portfolio: Portfolio, study_id: str, months: pd.PeriodIndex,
                  stages: list[StudyStage | None]) -> np.ndarray:
    """Sites activated by each month (not identified or closed) while the study enrolls
    or treats."""
    sites = portfolio.sites[(portfolio.sites["study_id"] == study_id)
                            & ~portfolio.sites["status"].isin(["identified", "closed"])]
    activation = sites["actual_activation"].fillna(sites["planned_activation"]).dropna()
    opened = np.array([m.ordinal for m in activation.dt.to_period("M")], dtype=np.int64)
    counts = np.array([(opened <= m.ordinal).sum() for m in months], dtype=float)
    running = np.array([s in (StudyStage.ENROLLMENT, StudyStage.TREATMENT) for s in stages])
    return counts * running


def visits_per_subject_month(portfolio: Portfolio, study_id: str,
                             drivers: RoleDrivers = DEFAULT_ROLE_DRIVERS) -> float:
    """Scheduled visits ÷ treatment + follow-up months, else the drivers' default."""
    weeks = treatment_followup_weeks(portfolio, study_id)
    plan = portfolio.planned_visits
    scheduled = int(((plan["study_id"] == study_id) & plan["scheduled"]).sum())
    if scheduled == 0 or weeks <= 0:
        return drivers.visits_per_subject_month
    return scheduled / (weeks / WEEKS_PER_MONTH)


def role_workload(portfolio: Portfolio, months: pd.PeriodIndex, as_of: dt.date,
                  rates: Mapping[str, Mapping[str, float]] | None = None,
                  drivers: RoleDrivers = DEFAULT_ROLE_DRIVERS) -> pd.DataFrame:
    """(study_id, role, month, hours) of PM, CTA, DM, BIOSTAT and MW over ``months``
    (positive hours only); ``rates`` as in ``monitoring_workload`` (new subjects)."""
    rows = []
    roles = sorted(set(drivers.per_study_month) | set(drivers.per_active_site_month)
                   | set(drivers.per_subject_visit))
    for study_id in portfolio.studies["study_id"].astype(str):
        stages = study_stages(portfolio, study_id, months, drivers.close_out_months)
        sites = _active_sites(portfolio, study_id, months, stages)
        lpi = milestone_date(portfolio, study_id, MilestoneKind.LPI)
        on = subjects_on_study(portfolio, study_id, months, as_of,
                               (rates or {}).get(study_id, {}), lpi).sum(axis=0).to_numpy()
        visits = on * visits_per_subject_month(portfolio, study_id, drivers)
        for role in roles:
            fixed = drivers.per_study_month.get(role, {})
            hours = (np.array([fixed.get(s, 0.0) if s is not None else 0.0 for s in stages])
                     + drivers.per_active_site_month.get(role, 0.0) * sites
                     + drivers.per_subject_visit.get(role, 0.0) * visits)
            rows.extend((study_id, role.value, m, float(h))
                        for m, h in zip(months, hours, strict=True) if h > 1e-9)
    return pd.DataFrame(rows, columns=DEMAND_COLUMNS)


def staffing_demand(portfolio: Portfolio, as_of: dt.date, months: int = 12,
                    drivers: RoleDrivers = DEFAULT_ROLE_DRIVERS) -> pd.DataFrame:
    """(study_id, role, month, hours) of every role for ``months`` months from the cut's
    month: CRA monitoring hours (``monitoring_workload``) plus the other roles', new
    subjects at the recruitment model's posterior site rates in both."""
    window = horizon(as_of, months)
    rates = portfolio_site_rates(portfolio, as_of)  # one recruitment fit per study for both
    cra = monitoring_workload(portfolio, window, as_of, rates)
    cra = cra.groupby(["study_id", "role", "month"], as_index=False)["hours"].sum()
    others = role_workload(portfolio, window, as_of, rates, drivers)
    frame = pd.concat([cra[cra["hours"] > 1e-9][DEMAND_COLUMNS], others], ignore_index=True)
    frame = frame.astype({"study_id": str, "role": str, "hours": float})
    return frame.sort_values(["role", "study_id", "month"]).reset_index(drop=True)
