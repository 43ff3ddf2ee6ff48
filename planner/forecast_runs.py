"""Persisting forecasts: a run row per forecast, P50 dates on the study's milestones.

Repository functions take a session and never commit (the edge owns the
transaction). Milestone updates go through the ORM, so the audit hook records
each forecast date that moved, with the run that moved it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planner.frames import load_portfolio
from planner.recruitment.poisson_gamma import RecruitmentDataError
from planner.study_forecast import (
    PLAN_SEED,
    PLAN_SIMS,
    StudyForecast,
    forecast_document,
    forecast_study,
)
from planner.tables import ForecastRun, Milestone, Site, Study, Subject, SubjectVisit

ACTIVATION_PLAN_MODEL = "activation_plan"
SCENARIO_MODELS = (ACTIVATION_PLAN_MODEL,)  # runs that hold a plan, not a forecast


def store_data_cut(session: Session) -> dt.date | None:
    """The latest recorded event anywhere in the store: no data exist after it."""
    columns = (SubjectVisit.visit_date, Subject.screened_date, Subject.randomized_date,
               Site.actual_activation)
    dates = [session.scalar(select(func.max(column))) for column in columns]  # one table each
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def known_study_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Study.study_id).order_by(Study.study_id)))


def record_forecast(session: Session, forecast: StudyForecast, actor: str
                    ) -> tuple[ForecastRun, bool]:
    """Store the run and set the milestones' forecast dates from it: the P50 of each one
    not yet reached, the date reached for those reached by the cut (unless an actual
    date is recorded). Returns the run and whether it was reused: a forecast whose
    inputs hash equals the study's latest run's is that run again (same data, options
    and seed give the same numbers), so no run is added, but the milestone dates are
    set again (an import may have changed them since).
    """
    history = forecast.history
    study = session.scalars(select(Study).where(Study.study_id == history.study_id)).one()
    latest = latest_runs(session, history.study_id, limit=1)
    reused = bool(latest) and latest[0].inputs_sha256 == forecast.inputs_sha256
    if reused:
        run = latest[0]
    else:
        run = ForecastRun(study_pk=study.id, at=dt.datetime.now(dt.UTC), actor=actor,
                          as_of=history.cut, inputs_sha256=forecast.inputs_sha256,
                          model=forecast.recruitment.model.value, sims=forecast.sims,
                          seed=forecast.seed, params=forecast.recruitment.params(),
                          timings=forecast.recruitment.timings, result={})
        session.add(run)
        session.flush()
        run.result = forecast_document(forecast, run.id)
    stored = {m.kind: m for m in session.scalars(
        select(Milestone).where(Milestone.study_pk == study.id))}
    for item in forecast.milestones:
        milestone = stored.get(item.kind)
        if milestone is None:
            milestone = Milestone(study_pk=study.id, kind=item.kind)
            session.add(milestone)
        if milestone.actual_date is None:
            milestone.forecast_date = item.p50
            milestone.forecast_run_pk = run.id
    session.flush()
    return run, reused


def latest_runs(session: Session, study_id: str, limit: int = 10) -> list[ForecastRun]:
    """The study's most recent recruitment forecast runs, newest first (saved scenario
    plans, such as activation plans, are runs too but not forecasts of record)."""
    return list(session.scalars(
        select(ForecastRun).join(Study, ForecastRun.study_pk == Study.id)
        .where(Study.study_id == study_id, ForecastRun.model.not_in(SCENARIO_MODELS))
        .order_by(ForecastRun.id.desc()).limit(limit)))


def forecast_every_study(session: Session, actor: str, sims: int = PLAN_SIMS,
                         seed: int = PLAN_SEED
                         ) -> list[tuple[str, StudyForecast | None, str]]:
    """Forecast and record every study; a study that cannot be forecast (target reached,
    nothing randomized yet) gets the reason instead. (study id, forecast, note) rows."""
    portfolio = load_portfolio(session)
    rows: list[tuple[str, StudyForecast | None, str]] = []
    for study_id in portfolio.studies["study_id"].astype(str):
        try:
            forecast = forecast_study(portfolio, study_id, None, sims, seed)
        except RecruitmentDataError as reason:
            rows.append((study_id, None, str(reason)))
            continue
        run, reused = record_forecast(session, forecast, actor)
        rows.append((study_id, forecast,
                     f"forecast run {run.id}" + (" (unchanged inputs: reused)" if reused else "")))
    return rows
