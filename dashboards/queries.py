"""The pages' computations as (cache key, compute) jobs: one definition, used by the page
states when they ask and by the prefetcher when it guesses what comes next.

Default views (every study at its data cut, the portfolio, the workload) are
prefetched when the server starts and whenever a page is opened after the store
changed; a budget or payments page prefetches the as-of dates next to the one
shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_picture import BudgetPicture, budget_picture
from contracts.budget_units import study_start
from contracts.payments_picture import PaymentsPicture, payments_picture
from contracts.portfolio_status import portfolio_status
from dashboards.source import Job, StoreReader
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from planner.recruitment.forecast import ExtraSites
from planner.recruitment.history import ForecastInputError
from planner.recruitment_picture import RecruitmentPicture, recruitment_picture
from planner.study_forecast import PLAN_SEED, PLAN_SIMS
from planner.workload.portfolio import PortfolioWorkload, portfolio_workload

NEIGHBOURS = 2  # as-of dates prefetched on each side of the one shown
MAX_AS_OF_MONTHS = 60  # the as-of selector goes back at most five years of month ends
WORKLOAD_MONTHS = 12


def as_date(as_of: str | None) -> dt.date | None:
    """An as-of choice (ISO text) as a date; None: the study's data cut."""
    return dt.date.fromisoformat(as_of) if as_of else None


def as_of_choices(session: Session, study_id: str) -> list[str]:
    """ISO dates a study can be looked at: the month ends from its start to its data cut,
    and the data cut itself (the last, the default); empty before anything happened."""
    study = load_portfolio(session, study_id)
    cut = study.latest_event(study_id)
    if cut is None:
        return []
    start = study_start(study, study_id) or pd.Timestamp(cut)
    ends = pd.date_range(pd.Timestamp(start), pd.Timestamp(cut), freq="ME")
    dates = [d.date() for d in ends if d.date() < cut][-MAX_AS_OF_MONTHS:] + [cut]
    return [d.isoformat() for d in dates]


def workload_of(session: Session) -> PortfolioWorkload:
    """Every CRA's workload for the next months from the portfolio's data cut."""
    whole = load_portfolio(session)
    if whole.as_of is None:
        raise ForecastInputError("nothing recorded yet: no data cut to plan from")
    return portfolio_workload(whole, whole.as_of, WORKLOAD_MONTHS)


# Each job's compute is a module-level function bound to plain arguments (a partial): it
# pickles, so the prefetcher can run it in its own process.

def studies() -> Job:
    return ("study_ids",), known_study_ids


def study_dates(study: str) -> Job:
    return ("as_of_choices", study), partial(_study_dates, study)


def _study_dates(study: str, session: Session) -> list[str]:
    return as_of_choices(session, study)


def portfolio() -> Job:
    return ("portfolio_status",), portfolio_status


def budget(study: str, as_of: str | None) -> Job:
    return ("budget_picture", study, as_of), partial(_budget, study, as_of)


def _budget(study: str, as_of: str | None, session: Session) -> BudgetPicture:
    return budget_picture(session, study, as_date(as_of))


def payments(study: str, as_of: str | None) -> Job:
    return ("payments_picture", study, as_of), partial(_payments, study, as_of)


def _payments(study: str, as_of: str | None, session: Session) -> PaymentsPicture:
    return payments_picture(session, study, as_date(as_of))


def recruitment(study: str, extra: tuple[ExtraSites, ...] = ()) -> Job:
    """The forecast of record's size and seed: the page's dates are `trialplan forecast`'s
    and, while nothing changed, the stored forecast's the portfolio page shows."""
    return ("recruitment_picture", study, extra), partial(_recruitment, study, extra)


def _recruitment(study: str, extra: tuple[ExtraSites, ...], session: Session
                 ) -> RecruitmentPicture:
    return recruitment_picture(load_portfolio(session, study), study, None, extra, PLAN_SIMS,
                               PLAN_SEED)


def workload() -> Job:
    return ("workload",), workload_of


def default_views(reader: StoreReader) -> list[Job]:
    """What a user opens first: the portfolio, the workload, and each study's budget,
    recruitment and payments at its data cut (their default as-of)."""
    jobs = [portfolio(), workload()]
    for study in reader.read(*studies()):
        cut = (reader.read(*study_dates(study)) or [None])[-1]
        jobs += [budget(study, cut), recruitment(study), payments(study, cut)]
    return jobs


def near(choices: Sequence[str], as_of: str | None, count: int = NEIGHBOURS) -> list[str]:
    """The as-of choices next to ``as_of``, nearest first (earlier before later)."""
    if as_of not in choices:
        return []
    at = list(choices).index(as_of)
    out = []
    for step in range(1, count + 1):
        out += [choices[i] for i in (at - step, at + step) if 0 <= i < len(choices)]
    return out


def warm(reader: StoreReader) -> None:
    """Prefetch the default views in the background (cheap when they are cached)."""
    if reader.prefetching:
        reader.in_background(lambda: reader.prefetch(default_views(reader)))
