"""Portfolio status: counts per study, computed from the frames."""

from __future__ import annotations

import pandas as pd

from planner.frames import Portfolio

STATUS_COLUMNS = ["study_id", "sites", "subjects_screened", "subjects_randomized",
                  "screen_failures", "visits", "planned_visits"]


def study_status(portfolio: Portfolio) -> pd.DataFrame:
    """One row per study: sites, screened, randomized, screen failures, visits, schedule size.

    ``planned_visits`` counts the scheduled visits of the schedule of
    assessments (event-driven visits such as an AE follow-up are left out).
    """
    studies = portfolio.studies[["study_id"]].astype(object)

    def per_study(frame: pd.DataFrame, name: str) -> pd.Series:
        counts = frame.groupby(frame["study_id"].astype(object), observed=True).size()
        return studies["study_id"].map(counts).fillna(0).astype(int).rename(name)

    subjects = portfolio.subjects
    out = pd.concat([
        studies["study_id"],
        per_study(portfolio.sites, "sites"),
        per_study(subjects, "subjects_screened"),
        per_study(subjects[subjects["randomized"].notna()], "subjects_randomized"),
        per_study(subjects[subjects["screen_failed"].notna()], "screen_failures"),
        per_study(portfolio.visits, "visits"),
        per_study(portfolio.planned_visits[portfolio.planned_visits["scheduled"]],
                  "planned_visits"),
    ], axis=1)
    return out[STATUS_COLUMNS].reset_index(drop=True)


def open_assignments(portfolio: Portfolio) -> int:
    """CRA-site assignments in force (not ended)."""
    return int(portfolio.assignments["effective_to"].isna().sum())


def status_document(portfolio: Portfolio) -> dict:
    """The machine-readable status (``trialplan status --json``)."""
    as_of = portfolio.as_of
    rows = study_status(portfolio).to_dict(orient="records")
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "studies": [{k: (int(v) if k != "study_id" else str(v)) for k, v in r.items()}
                    for r in rows],
        "staff": len(portfolio.staff),
        "assignments": open_assignments(portfolio),
    }
