"""A study's work order and timesheets read from the store as frames
(docs/SPONSOR_BUDGET.md).

Unit prices leave the store as ``Decimal`` and become integer minor units here,
exactly (``to_minor`` refuses a price finer than its currency, which the
importer never lets in); units stay exact ``Decimal`` objects. Cost rates stay
``Decimal`` too: actual cost is rounded once per timesheet row after conversion.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from contracts.minor import to_minor
from planner.budget_tables import ServiceLine, Timesheet, WorkOrderLine
from planner.frames import DATE, Col, FrameSchema
from planner.tables import Staff, Study

WORK_ORDER = FrameSchema("work_order", (
    Col("study_id", "string", "", "protocol id"),
    Col("service_line", "string", "", "project_management, site_management, data_management, "
        "biostatistics, medical_writing, pharmacovigilance, regulatory, pass_through"),
    Col("driver", "string", "", "months, sites_activated, monitoring_visits, "
        "subjects_randomized, crf_pages, deliverables, fixed"),
    Col("units", "object", "Decimal units", "units of the driver, exact (at most 2 decimals)"),
    Col("unit_price_minor", "int64", "minor units", "price of one unit"),
    Col("currency", "string", "ISO 4217", "the study's reporting currency"),
    Col("effective_from", DATE, "date", "first date the row is in force"),
    Col("change_order", "string", "", "change order id (NA: the original work order)"),
    Col("reason", "string", "", "why the change order was made"),
))
TIMESHEETS = FrameSchema("timesheets", (
    Col("staff_id", "string", "", "staff id"),
    Col("role", "string", "", "CRA, PM, CTA, DM, BIOSTAT, MW"),
    Col("study_id", "string", "", "protocol id"),
    Col("month", DATE, "first day of the month", "month the hours were booked in"),
    Col("hours", "float64", "hours", "hours booked on the study that month"),
    Col("cost_rate", "object", "Decimal per hour", "the staff member's cost per hour, exact"),
    Col("cost_currency", "string", "ISO 4217", "currency of the cost rate"),
))
_LINE_ORDER = {line.value: i for i, line in enumerate(ServiceLine)}


def _rows(session: Session, statement: Select, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records([tuple(r) for r in session.execute(statement)],
                                     columns=names)


def load_work_order(session: Session, study_id: str) -> pd.DataFrame:
    """The study's work order lines and change orders (:data:`WORK_ORDER`), by service line
    in the order of :class:`ServiceLine`, each line's original first, then by date."""
    statement = (select(Study.study_id, WorkOrderLine.service_line, WorkOrderLine.driver,
                        WorkOrderLine.units, WorkOrderLine.unit_price,
                        WorkOrderLine.currency, WorkOrderLine.effective_from,
                        WorkOrderLine.change_order, WorkOrderLine.reason)
                 .join(Study, WorkOrderLine.study_pk == Study.id)
                 .where(Study.study_id == study_id))
    frame = _rows(session, statement, ["study_id", "service_line", "driver", "units",
                                       "unit_price", "currency", "effective_from",
                                       "change_order", "reason"])
    frame["unit_price_minor"] = pd.Series(
        [to_minor(p, c) for p, c in zip(frame["unit_price"], frame["currency"], strict=True)],
        index=frame.index, dtype="int64")
    frame["_line"] = frame["service_line"].map(_LINE_ORDER)
    frame["_change"] = frame["change_order"].notna()
    frame = frame.sort_values(["_line", "_change", "effective_from", "change_order"],
                              na_position="first", kind="stable")
    return WORK_ORDER.conform(frame)


def load_timesheets(session: Session, study_id: str) -> pd.DataFrame:
    """The hours booked on the study (:data:`TIMESHEETS`), with each staff member's role
    and cost rate, by month and staff_id."""
    statement = (select(Staff.staff_id, Staff.role, Study.study_id, Timesheet.month,
                        Timesheet.hours, Staff.cost_rate, Staff.currency)
                 .join(Staff, Timesheet.staff_pk == Staff.id)
                 .join(Study, Timesheet.study_pk == Study.id)
                 .where(Study.study_id == study_id)
                 .order_by(Timesheet.month, Staff.staff_id))
    frame = _rows(session, statement, TIMESHEETS.names)
    return TIMESHEETS.conform(frame)
