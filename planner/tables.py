"""The plan of record as SQLAlchemy 2.0 tables.

Surrogate integer keys join the tables; every table also has a natural key
(``study_id``, ``site_id``, ``USUBJID`` ...) under a unique constraint, which is
what importers match on so that re-importing a file changes nothing.
Relationships are ``lazy="raise"``: computations read frames, not ORM graphs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from planner.domain import AuditAction, MilestoneKind, Phase, Role, SiteStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class ExactDecimal(TypeDecorator):
    """An exact decimal: NUMERIC(precision, scale) on PostgreSQL, decimal text on SQLite.

    SQLite would turn a NUMERIC column's values into binary floats; text keeps
    every digit. Values always come back as ``Decimal``. Money is
    ``ExactDecimal(18, 2)`` (:data:`MONEY`); percentages, ratios and FX rates
    take their own scale.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> object:
        if value is None or dialect.name != "sqlite":
            return value
        return str(Decimal(value))

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


MoneyAmount = ExactDecimal  # the name the bulk readers and writers know exact columns by
MONEY = ExactDecimal(18, 2)


def _enum(enum_cls: type, name: str) -> Enum:
    return Enum(enum_cls, name=name, native_enum=False, create_constraint=True,
                values_callable=lambda members: [m.value for m in members], length=32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Sponsor(Base):
    __tablename__ = "sponsor"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Country(Base):
    """ISO 3166 country with the working hours a CRA there has in a month."""

    __tablename__ = "country"
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    alpha3: Mapped[str] = mapped_column(String(3), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    working_hours_month: Mapped[float] = mapped_column(Float)


class Study(Base):
    __tablename__ = "study"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(String(64), unique=True)
    sponsor_pk: Mapped[int] = mapped_column(ForeignKey("sponsor.id"))
    title: Mapped[str | None] = mapped_column(Text)
    phase: Mapped[Phase | None] = mapped_column(_enum(Phase, "phase"))
    therapeutic_area: Mapped[str | None] = mapped_column(String(100))
    target_randomized: Mapped[int] = mapped_column(Integer)
    planned_sf_rate: Mapped[float | None] = mapped_column(Float)
    dropout_rate: Mapped[float | None] = mapped_column(Float)
    treatment_weeks: Mapped[float] = mapped_column(Float)
    followup_weeks: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))

    sponsor: Mapped[Sponsor] = relationship(lazy="raise")


class Milestone(Base):
    """Baseline (contracted), forecast and actual date of one study milestone."""

    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("study_pk", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    kind: Mapped[MilestoneKind] = mapped_column(_enum(MilestoneKind, "milestone_kind"))
    baseline_date: Mapped[dt.date | None] = mapped_column(Date)
    forecast_date: Mapped[dt.date | None] = mapped_column(Date)
    actual_date: Mapped[dt.date | None] = mapped_column(Date)
    # the forecast run that set ``forecast_date`` (None when entered by hand or imported)
    forecast_run_pk: Mapped[int | None] = mapped_column(
        ForeignKey("forecast_run.id", ondelete="SET NULL"), index=True)


class ForecastRun(Base):
    """One recruitment forecast of a study: its inputs' hash, model, parameters, timings
    and resulting distributions, so a forecast date can always be traced and replayed."""

    __tablename__ = "forecast_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[dt.date] = mapped_column(Date)  # the data cut
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    sims: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class Site(Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("study_pk", "site_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(String(64))
    country_code: Mapped[str] = mapped_column(ForeignKey("country.code"))
    investigator: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SiteStatus] = mapped_column(_enum(SiteStatus, "site_status"))
    planned_activation: Mapped[dt.date | None] = mapped_column(Date)
    actual_activation: Mapped[dt.date | None] = mapped_column(Date)
    target_randomized: Mapped[int | None] = mapped_column(Integer)

    study: Mapped[Study] = relationship(lazy="raise")


class Subject(Base):
    """A screened subject (CDISC DM/DS) and the dates of its disposition."""

    __tablename__ = "subject"
    __table_args__ = (UniqueConstraint("study_pk", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(200))
    screened_date: Mapped[dt.date | None] = mapped_column(Date)
    randomized_date: Mapped[dt.date | None] = mapped_column(Date)
    screen_failed_date: Mapped[dt.date | None] = mapped_column(Date)
    discontinued_date: Mapped[dt.date | None] = mapped_column(Date)
    completed_date: Mapped[dt.date | None] = mapped_column(Date)
    disposition: Mapped[str | None] = mapped_column(String(200))


class PlannedVisit(Base):
    """One visit of the schedule of assessments (CDISC TV)."""

    __tablename__ = "planned_visit"
    __table_args__ = (UniqueConstraint("study_pk", "visit_num"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    visit_num: Mapped[float] = mapped_column(Float)
    visit_name: Mapped[str] = mapped_column(String(200))
    planned_day: Mapped[int | None] = mapped_column(Integer)
    scheduled: Mapped[bool] = mapped_column(Boolean)


class SubjectVisit(Base):
    """A visit that happened (CDISC SV); ``visit_seq`` numbers repeats of a VISITNUM."""

    __tablename__ = "subject_visit"
    __table_args__ = (UniqueConstraint("subject_pk", "visit_num", "visit_seq"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"))
    visit_num: Mapped[float] = mapped_column(Float)
    visit_seq: Mapped[int] = mapped_column(Integer)
    visit_name: Mapped[str | None] = mapped_column(String(200))
    visit_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    home_country: Mapped[str] = mapped_column(ForeignKey("country.code"))
    languages: Mapped[list[str]] = mapped_column(JSON)
    fte: Mapped[float] = mapped_column(Float)
    capacity_hours_month: Mapped[float] = mapped_column(Float)
    cost_rate: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))


class CraAssignment(Base):
    """Which CRA monitors a site, from ``effective_from`` until ``effective_to``."""

    __tablename__ = "cra_assignment"
    __table_args__ = (UniqueConstraint("site_pk", "effective_from"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    staff_pk: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)


class ImportBatch(Base):
    """One import (or demo build): what file, by whom, and what it changed."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """Who changed what, when, with the row before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    # the import batch (import_batch.id) that made the change. Not a foreign key: the
    # log is append-only and written in the batch's own transaction, and a per-row
    # key check doubled the cost of auditing a million-row import on PostgreSQL.
    batch_pk: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction, "audit_action"))
    entity: Mapped[str] = mapped_column(String(64))
    entity_key: Mapped[dict[str, Any]] = mapped_column(JSON)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)


class SolverRunColumns:
    """What every stored optimizer run records (rebalance, staffing): who ran it and
    when, the data cut, its inputs' hash, options, the solver's status and objective,
    timings and the result document; each run adds its bound and gap."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[dt.date] = mapped_column(Date)  # the data cut
    inputs_sha256: Mapped[str] = mapped_column(String(64), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    objective: Mapped[float] = mapped_column(Float)
    # sort_order: the tables' columns keep the order their migrations created
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, sort_order=2)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, sort_order=2)


class RebalanceRun(SolverRunColumns, Base):
    """One CRA rebalancing: its inputs' hash, options, solver figures and the proposal
    (moves, utilization, shortfalls), so a proposal can be traced and compared, and
    whether and when it was applied."""

    __tablename__ = "rebalance_run"
    bound: Mapped[float] = mapped_column(Float, sort_order=1)
    gap: Mapped[float] = mapped_column(Float, sort_order=1)
    applied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                           sort_order=3)


class StaffLeave(Base):
    """Hours a staff member is away in a month (leave, public holidays, training):
    capacity that month is reduced by them."""

    __tablename__ = "staff_leave"
    __table_args__ = (UniqueConstraint("staff_pk", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_pk: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    month: Mapped[dt.date] = mapped_column(Date)  # the month's first day
    hours: Mapped[float] = mapped_column(Float)


class DriverOverride(Base):
    """One monitoring driver's value for a study, for one of its countries, or for one
    of its sites (most specific wins: site > country > study > defaults)."""

    __tablename__ = "driver_override"
    __table_args__ = (UniqueConstraint("study_pk", "country_code", "site_pk", "driver"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.code"))
    site_pk: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    driver: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class StaffingRun(SolverRunColumns, Base):
    """One staffing plan: its inputs' hash, options, solver figures and the plan (the
    CLI's --json document), so a plan can be traced and compared with another."""

    __tablename__ = "staffing_run"
    bound: Mapped[float | None] = mapped_column(Float, sort_order=1)  # None: no bound given
    gap: Mapped[float | None] = mapped_column(Float, sort_order=1)
