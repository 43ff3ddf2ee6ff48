"""Choices the pages offer, read from the store: studies, and a study's as-of dates."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_units import study_start
from dashboards.source import StoreReader
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio

MAX_AS_OF_MONTHS = 60  # the as-of selector goes back at most five years of month ends


def study_ids(reader: StoreReader) -> list[str]:
    return reader.read(("study_ids",), known_study_ids)


def as_of_choices(session: Session, study_id: str) -> list[str]:
    """ISO dates a study can be looked at: the month ends from its start to its data cut,
    and the data cut itself (the last, the default); empty before anything happened."""
    portfolio = load_portfolio(session, study_id)
    cut = portfolio.latest_event(study_id)
    if cut is None:
        return []
    start = study_start(portfolio, study_id) or pd.Timestamp(cut)
    ends = pd.date_range(pd.Timestamp(start), pd.Timestamp(cut), freq="ME")
    dates = [d.date() for d in ends if d.date() < cut][-MAX_AS_OF_MONTHS:] + [cut]
    return [d.isoformat() for d in dates]


def study_as_of_choices(reader: StoreReader, study_id: str) -> list[str]:
    return reader.read(("as_of_choices", study_id), lambda s: as_of_choices(s, study_id))


def iso(value: str) -> dt.date:
    return dt.date.fromisoformat(value)
