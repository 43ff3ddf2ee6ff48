"""The portfolio as typed pandas DataFrames: what every computation reads.

Each frame's columns are declared once (name, dtype, unit, description) in a
:class:`FrameSchema`; :func:`load_portfolio` fills them from the store. No
computation ever sees an ORM object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from enum import Enum

import numpy as np
import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from planner.bulk import date_text, fetch_tuples
from planner.tables import (
    Country,
    CraAssignment,
    DriverOverride,
    Milestone,
    PlannedVisit,
    Site,
    Sponsor,
    Staff,
    StaffLeave,
    Study,
    Subject,
    SubjectVisit,
)

DATE = "datetime64[s]"


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class Col:
    name: str
    dtype: str
    unit: str
    description: str


@dataclass(frozen=True)
class FrameSchema:
    """The declared columns of one portfolio frame."""

    name: str
    columns: tuple[Col, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Exactly the declared columns, in order, with the declared dtypes."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise KeyError(f"frame {self.name} lacks columns {missing}")
        out = frame[self.names].copy()
        for col in self.columns:
            if col.dtype == "object":
                out[col.name] = out[col.name].astype(object)
            elif col.dtype == "string":  # enum members (StrEnum) become their plain values
                out[col.name] = out[col.name].map(_plain, na_action="ignore").astype("string")
            else:
                out[col.name] = out[col.name].astype(col.dtype)
        return out.reset_index(drop=True)

    def describe(self) -> pd.DataFrame:
        return pd.DataFrame([c.__dict__ for c in self.columns])


STUDIES = FrameSchema("studies", (
    Col("study_id", "string", "", "protocol id"),
    Col("sponsor", "string", "", "sponsor name"),
    Col("title", "string", "", "protocol title"),
    Col("phase", "string", "", "clinical phase (I .. IV)"),
    Col("therapeutic_area", "string", "", "therapeutic area or indication"),
    Col("target_randomized", "Int64", "subjects", "contracted number to randomize"),
    Col("planned_sf_rate", "Float64", "fraction", "planned screen-failure rate"),
    Col("dropout_rate", "Float64", "fraction", "planned dropout rate"),
    Col("treatment_weeks", "Float64", "weeks", "treatment duration per subject"),
    Col("followup_weeks", "Float64", "weeks", "follow-up after treatment"),
    Col("currency", "string", "ISO 4217", "reporting currency"),
))
MILESTONES = FrameSchema("milestones", (
    Col("study_id", "string", "", "protocol id"),
    Col("milestone", "string", "", "milestone kind (fpi, lpi, dbl ...)"),
    Col("baseline", DATE, "date", "contracted date"),
    Col("forecast", DATE, "date", "current forecast"),
    Col("actual", DATE, "date", "date reached"),
))
COUNTRIES = FrameSchema("countries", (
    Col("country", "string", "ISO 3166-1 alpha-2", "country code"),
    Col("name", "string", "", "country name"),
    Col("working_hours_month", "float64", "hours/month", "CRA working hours in a month"),
))
SITES = FrameSchema("sites", (
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number within the study"),
    Col("country", "string", "ISO 3166-1 alpha-2", "site country"),
    Col("investigator", "string", "", "principal investigator"),
    Col("status", "string", "", "identified, selected, activated, enrolling, closed"),
    Col("planned_activation", DATE, "date", "planned activation"),
    Col("actual_activation", DATE, "date", "actual activation"),
    Col("target_randomized", "Int64", "subjects", "site enrollment target"),
    Col("cra_id", "string", "", "CRA assigned now (open assignment)"),
))
SUBJECTS = FrameSchema("subjects", (
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number"),
    Col("subject_id", "string", "", "USUBJID"),
    Col("arm", "string", "", "planned arm"),
    Col("screened", DATE, "date", "screening (informed consent) date"),
    Col("randomized", DATE, "date", "randomization date"),
    Col("screen_failed", DATE, "date", "screen-failure date"),
    Col("discontinued", DATE, "date", "early discontinuation date"),
    Col("completed", DATE, "date", "completion date"),
    Col("disposition", "string", "", "final disposition (DS DSDECOD)"),
))
VISITS = FrameSchema("visits", (
    Col("study_id", "category", "", "protocol id"),
    Col("site_id", "category", "", "site number"),
    Col("subject_id", "category", "", "USUBJID"),
    Col("visit_num", "float64", "", "VISITNUM"),
    Col("visit_seq", "int64", "", "repeat number of this VISITNUM for the subject"),
    Col("visit_name", "category", "", "VISIT"),
    Col("visit_date", DATE, "date", "visit start date"),
))
PLANNED_VISITS = FrameSchema("planned_visits", (
    Col("study_id", "string", "", "protocol id"),
    Col("visit_num", "float64", "", "VISITNUM"),
    Col("visit_name", "string", "", "VISIT"),
    Col("planned_day", "Int64", "study day", "planned study day (VISITDY)"),
    Col("scheduled", "bool", "", "false for event-driven visits"),
))
STAFF = FrameSchema("staff", (
    Col("staff_id", "string", "", "staff id"),
    Col("name", "string", "", "full name"),
    Col("role", "string", "", "CRA, PM, CTA, DM, BIOSTAT, MW"),
    Col("home_country", "string", "ISO 3166-1 alpha-2", "home country"),
    Col("languages", "object", "list", "languages spoken"),
    Col("fte", "float64", "FTE", "full-time equivalent"),
    Col("capacity_hours_month", "float64", "hours/month", "hours available per month"),
    Col("cost_rate", "object", "Decimal per hour", "cost per hour, exact"),
    Col("currency", "string", "ISO 4217", "currency of the cost rate"),
))
ASSIGNMENTS = FrameSchema("assignments", (
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number"),
    Col("staff_id", "string", "", "CRA"),
    Col("effective_from", DATE, "date", "first day"),
    Col("effective_to", DATE, "date", "day it ended (NaT while open)"),
))
LEAVE = FrameSchema("leave", (
    Col("staff_id", "string", "", "staff id"),
    Col("month", DATE, "first day of the month", "month of the leave"),
    Col("hours", "float64", "hours", "hours away that month (leave, holidays, training)"),
))
DRIVERS = FrameSchema("drivers", (
    Col("study_id", "string", "", "protocol id"),
    Col("country", "string", "ISO 3166-1 alpha-2", "the study's sites there (NA: whole study)"),
    Col("site_id", "string", "", "one site (NA: not site-specific)"),
    Col("driver", "string", "", "monitoring driver name (imv_weeks, hours.IMV.on_site ...)"),
    Col("value", "float64", "driver's unit", "the driver's value there"),
))
SCHEMAS = (STUDIES, MILESTONES, COUNTRIES, SITES, SUBJECTS, VISITS, PLANNED_VISITS, STAFF,
           ASSIGNMENTS, LEAVE, DRIVERS)


def empty_frame(schema: FrameSchema) -> pd.DataFrame:
    """A frame with the schema's columns and no rows."""
    return schema.conform(pd.DataFrame(columns=schema.names))


@dataclass(frozen=True)
class Portfolio:
    """The plan of record, or one study of it, as frames keyed by domain ids."""

    studies: pd.DataFrame
    milestones: pd.DataFrame
    countries: pd.DataFrame
    sites: pd.DataFrame
    subjects: pd.DataFrame
    visits: pd.DataFrame
    planned_visits: pd.DataFrame
    staff: pd.DataFrame
    assignments: pd.DataFrame
    # recorded later than the rest: portfolios built in memory may leave them out
    leave: pd.DataFrame = field(default_factory=lambda: empty_frame(LEAVE))
    drivers: pd.DataFrame = field(default_factory=lambda: empty_frame(DRIVERS))

    @property
    def as_of(self) -> dt.date | None:
        """The data cut: the latest recorded event (visit, randomization, activation)."""
        return self.latest_event()

    def latest_event(self, study_id: str | None = None) -> dt.date | None:
        """The latest recorded visit, screening, randomization or site activation, of the
        whole portfolio or of one study (a finished study's data stop long before)."""

        def of(frame: pd.DataFrame) -> pd.DataFrame:
            return frame if study_id is None else frame[frame["study_id"] == study_id]

        subjects = of(self.subjects)
        candidates = [of(self.visits)["visit_date"].max(), subjects["screened"].max(),
                      subjects["randomized"].max(), of(self.sites)["actual_activation"].max()]
        dates = [d for d in candidates if not pd.isna(d)]
        return max(dates).date() if dates else None


def _frame(session: Session, statement: Select, schema: FrameSchema) -> pd.DataFrame:
    rows = [tuple(row) for row in session.execute(statement)]  # Row objects are slow in pandas
    return schema.conform(pd.DataFrame.from_records(rows, columns=schema.names))


def _categorical(values: pd.Series, positions: np.ndarray) -> pd.Categorical:
    """``values`` (one per subject) spread over the visits at ``positions``."""
    categories = pd.Categorical(values.astype(object))
    return pd.Categorical.from_codes(categories.codes[positions], categories.categories)


def _visits(session: Session, study_id: str | None) -> pd.DataFrame:
    """Visits are the big frame: raw tuples keyed by subject, then typed column-wise.

    Study, site and subject ids are attached from the (much smaller) subject
    table as categoricals instead of being joined into every row.
    """
    dialect = session.get_bind().dialect.name
    owners = (select(Subject.id, Study.study_id, Site.site_id, Subject.subject_id)
              .join(Site, Subject.site_pk == Site.id).join(Study, Subject.study_pk == Study.id))
    visits = select(SubjectVisit.subject_pk, SubjectVisit.visit_num, SubjectVisit.visit_seq,
                    SubjectVisit.visit_name, date_text(SubjectVisit.visit_date, dialect))
    if study_id is not None:
        owners = owners.where(Study.study_id == study_id)
        visits = visits.join(Subject, SubjectVisit.subject_pk == Subject.id).join(
            Study, Subject.study_pk == Study.id).where(Study.study_id == study_id)
    subjects = pd.DataFrame.from_records(fetch_tuples(session, owners),
                                         columns=["pk", "study_id", "site_id", "subject_id"])
    raw = pd.DataFrame.from_records(fetch_tuples(session, visits),
                                    columns=["subject_pk", "visit_num", "visit_seq",
                                             "visit_name", "visit_date"])
    positions = pd.Index(subjects["pk"]).get_indexer(raw["subject_pk"])
    frame = pd.DataFrame({
        **{c: _categorical(subjects[c], positions) for c in ("study_id", "site_id",
                                                              "subject_id")},
        "visit_num": raw["visit_num"].astype("float64"),
        "visit_seq": raw["visit_seq"].astype("int64"),
        "visit_name": pd.Categorical(raw["visit_name"]),
        "visit_date": pd.to_datetime(raw["visit_date"], format="%Y-%m-%d"),
    })
    return VISITS.conform(frame)


def load_portfolio(session: Session, study_id: str | None = None) -> Portfolio:
    """Read the store into a :class:`Portfolio`; one study's rows when ``study_id`` is given."""

    def only(statement: Select) -> Select:
        return statement if study_id is None else statement.where(Study.study_id == study_id)

    studies = only(select(Study.study_id, Sponsor.name, Study.title, Study.phase,
                          Study.therapeutic_area, Study.target_randomized, Study.planned_sf_rate,
                          Study.dropout_rate, Study.treatment_weeks, Study.followup_weeks,
                          Study.currency).join(Sponsor, Study.sponsor_pk == Sponsor.id))
    milestones = only(select(Study.study_id, Milestone.kind, Milestone.baseline_date,
                             Milestone.forecast_date, Milestone.actual_date)
                      .join(Study, Milestone.study_pk == Study.id))
    open_cra = (select(CraAssignment.site_pk, Staff.staff_id)
                .join(Staff, CraAssignment.staff_pk == Staff.id)
                .where(CraAssignment.effective_to.is_(None)).subquery())
    sites = only(select(Study.study_id, Site.site_id, Site.country_code, Site.investigator,
                        Site.status, Site.planned_activation, Site.actual_activation,
                        Site.target_randomized, open_cra.c.staff_id)
                 .join(Study, Site.study_pk == Study.id)
                 .outerjoin(open_cra, open_cra.c.site_pk == Site.id))
    subjects = only(select(Study.study_id, Site.site_id, Subject.subject_id, Subject.arm,
                           Subject.screened_date, Subject.randomized_date,
                           Subject.screen_failed_date, Subject.discontinued_date,
                           Subject.completed_date, Subject.disposition)
                    .join(Site, Subject.site_pk == Site.id)
                    .join(Study, Subject.study_pk == Study.id))
    planned = only(select(Study.study_id, PlannedVisit.visit_num, PlannedVisit.visit_name,
                          PlannedVisit.planned_day, PlannedVisit.scheduled)
                   .join(Study, PlannedVisit.study_pk == Study.id))
    assignments = only(select(Study.study_id, Site.site_id, Staff.staff_id,
                              CraAssignment.effective_from, CraAssignment.effective_to)
                       .join(Site, CraAssignment.site_pk == Site.id)
                       .join(Study, Site.study_pk == Study.id)
                       .join(Staff, CraAssignment.staff_pk == Staff.id))
    staff = select(Staff.staff_id, Staff.name, Staff.role, Staff.home_country, Staff.languages,
                   Staff.fte, Staff.capacity_hours_month, Staff.cost_rate, Staff.currency)
    countries = select(Country.code, Country.name, Country.working_hours_month)
    leave = (select(Staff.staff_id, StaffLeave.month, StaffLeave.hours)
             .join(Staff, StaffLeave.staff_pk == Staff.id)
             .order_by(Staff.staff_id, StaffLeave.month))
    drivers = only(select(Study.study_id, DriverOverride.country_code, Site.site_id,
                          DriverOverride.driver, DriverOverride.value)
                   .join(Study, DriverOverride.study_pk == Study.id)
                   .outerjoin(Site, DriverOverride.site_pk == Site.id)
                   .order_by(Study.study_id, DriverOverride.driver))
    return Portfolio(
        studies=_frame(session, studies.order_by(Study.study_id), STUDIES),
        milestones=_frame(session, milestones, MILESTONES),
        countries=_frame(session, countries.order_by(Country.code), COUNTRIES),
        sites=_frame(session, sites.order_by(Study.study_id, Site.site_id), SITES),
        subjects=_frame(session, subjects, SUBJECTS),
        visits=_visits(session, study_id),
        planned_visits=_frame(session, planned, PLANNED_VISITS),
        staff=_frame(session, staff.order_by(Staff.staff_id), STAFF),
        assignments=_frame(session, assignments, ASSIGNMENTS),
        leave=_frame(session, leave, LEAVE),
        drivers=_frame(session, drivers, DRIVERS),
    )


def frame_names() -> list[str]:
    return [f.name for f in fields(Portfolio)]
