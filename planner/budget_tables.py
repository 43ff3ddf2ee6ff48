"""The sponsor budget as tables: work order lines with their change orders, and
timesheets (docs/SPONSOR_BUDGET.md, DESIGN §7).

A work order line is the original (``change_order`` NULL) or a change order's
restatement of one service line from its effective date on. Because NULL never
equals NULL in a unique constraint, importers match the key (study_pk,
service_line, change_order) in pandas (blank equals blank); the constraint
still refuses two rows of one change order for one line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from planner.tables import MONEY, Base, ExactDecimal, _enum


class ServiceLine(StrEnum):
    """What the sponsor pays the CRO for (DESIGN §3, sponsor budget)."""

    PROJECT_MANAGEMENT = "project_management"
    SITE_MANAGEMENT = "site_management"  # site management and monitoring
    DATA_MANAGEMENT = "data_management"
    BIOSTATISTICS = "biostatistics"
    MEDICAL_WRITING = "medical_writing"
    PHARMACOVIGILANCE = "pharmacovigilance"
    REGULATORY = "regulatory"
    PASS_THROUGH = "pass_through"  # investigator grants, travel, IRB fees: paid on at cost


class Driver(StrEnum):
    """The unit a service line is priced in."""

    MONTHS = "months"
    SITES_ACTIVATED = "sites_activated"
    MONITORING_VISITS = "monitoring_visits"
    SUBJECTS_RANDOMIZED = "subjects_randomized"
    CRF_PAGES = "crf_pages"
    DELIVERABLES = "deliverables"
    FIXED = "fixed"  # a lump sum


SERVICE_LINES = tuple(line.value for line in ServiceLine)  # in the order the sheets list them
DRIVERS = tuple(driver.value for driver in Driver)

UNITS = ExactDecimal(14, 2)  # units of a driver: at most 2 decimals, 12 digits before the point
CHANGE_ORDER = 64  # length of a change order id
HOURS = ExactDecimal(5, 2)  # hours of a month: at most 744, at most 2 decimals


class WorkOrderLine(Base):
    """One service line of a study's work order (``change_order`` NULL: the original) or
    of a change order, which states the line's units and unit price from
    ``effective_from`` on."""

    __tablename__ = "work_order_line"
    __table_args__ = (UniqueConstraint("study_pk", "service_line", "change_order",
                                       name="uq_work_order_line_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    service_line: Mapped[ServiceLine] = mapped_column(_enum(ServiceLine, "service_line"))
    driver: Mapped[Driver] = mapped_column(_enum(Driver, "budget_driver"))
    units: Mapped[Decimal] = mapped_column(UNITS)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    change_order: Mapped[str | None] = mapped_column(String(CHANGE_ORDER))  # None: original
    reason: Mapped[str | None] = mapped_column(Text)


class Timesheet(Base):
    """Hours a staff member booked on a study in a month."""

    __tablename__ = "timesheet"
    __table_args__ = (UniqueConstraint("staff_pk", "study_pk", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_pk: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    month: Mapped[dt.date] = mapped_column(Date)  # the month's first day
    hours: Mapped[Decimal] = mapped_column(HOURS)
