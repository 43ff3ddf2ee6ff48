"""Persisting staffing runs: which plan was made, from which inputs and options.

A run keeps the SHA-256 of its inputs (the problem's frames, sorted, as text, and the
options), so two plans can be told apart by what they were made from: the same hash
means the same demand, staff, capacity, hire and contractor options and command
options. Repository functions take a session and never commit (the edge owns the
transaction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from optimizer.staffing import StaffingProblem
from planner.tables import StaffingRun


def _canonical(frame: pd.DataFrame) -> str:
    columns = sorted(frame.columns)
    return frame[columns].astype(str).sort_values(columns).to_csv(index=False)


def options_document(problem: StaffingProblem, months: int, time_limit: float
                     ) -> dict[str, Any]:
    """The command's options and the problem's scalar settings, as stored with a run."""
    return {"months": months, "horizon": problem.horizon, "time_limit": time_limit,
            "max_studies": problem.max_studies, "max_churn": problem.max_churn,
            "churn_penalty": problem.churn_penalty, "staff_cost": problem.staff_cost,
            "unmet_penalty": problem.unmet_penalty}


def inputs_hash(problem: StaffingProblem, options: dict[str, Any]) -> str:
    """SHA-256 of the inputs (sorted, as text) and the options: equal hashes, equal runs."""
    digest = hashlib.sha256()
    for frame in (problem.demand, problem.staff, problem.capacity, problem.hires,
                  problem.contractors, problem.coverage, problem.staff_covers):
        digest.update(_canonical(frame).encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def record_staffing(session: Session, document: dict[str, Any], options: dict[str, Any],
                    digest: str, as_of: dt.date, actor: str) -> StaffingRun:
    """Store one run (``document``: the CLI's --json document); returns it with its id."""
    run = StaffingRun(at=dt.datetime.now(dt.UTC), actor=actor, as_of=as_of,
                      inputs_sha256=digest, options=options, status=document["status"],
                      objective=document["objective"], bound=_finite(document["bound"]),
                      gap=_finite(document["gap"]),
                      timings={"build": document["build_seconds"],
                               "solve": document["solve_seconds"]},
                      result=document)
    session.add(run)
    session.flush()
    return run
