"""The demo's sponsor budgets: work orders, change orders and timesheets imported through
the project's own importers, and a review workbook for one study and the CDISC pilot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from contracts.review_workbook import write_review
from contracts.sponsor_budget import sponsor_budget
from contracts.sponsor_review import review_data
from planner.frames import load_portfolio
from trialplan.demo.build import import_frame
from trialplan.demo.work_orders import cra_timesheet_rows, timesheet_rows, work_order_rows

TIMESHEET_SEED = 11
REVIEWED = ("HLX-CV-302", "CDISCPILOT01")


def build_sponsor_budgets(session: Session, actor: str, as_of: dt.date) -> int:
    """Import every study's work order (with change orders) and timesheets; rows changed."""
    p = load_portfolio(session)
    orders = work_order_rows(p.studies, p.sites, p.milestones, p.planned_visits, as_of)
    changed = import_frame(session, "workorders", orders, actor)
    sheets = pd.concat([
        timesheet_rows(p.studies, p.staff, p.milestones, as_of,
                       np.random.default_rng(TIMESHEET_SEED)),
        cra_timesheet_rows(p.sites, as_of)], ignore_index=True)
    return changed + import_frame(session, "timesheets", sheets, actor)


def write_reviews(session: Session, folder: Path) -> list[Path]:
    """The sponsor review workbook of each reviewed study, as of its data cut."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for study_id in REVIEWED:
        data = review_data(session, sponsor_budget(session, study_id))
        paths.append(write_review(data, folder / f"sponsor-review-{study_id}.xlsx"))
    return paths
