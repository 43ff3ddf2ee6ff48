"""What every stored solver run shares: the inputs' digest and the run's common fields.

A run is traceable when it keeps the SHA-256 of exactly what went in (every input
frame sorted and written as text, and the options as sorted JSON) beside the
solver's figures; equal digests mean equal inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any, TypeVar

import pandas as pd
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from sqlalchemy.orm import Session

from planner.tables import RebalanceRun, StaffingRun

Run = TypeVar("Run", RebalanceRun, StaffingRun)


def _canonical(frame: pd.DataFrame) -> str:
    columns = sorted(frame.columns)
    return frame[columns].astype(str).sort_values(columns).to_csv(index=False)


def inputs_digest(frames: Iterable[pd.DataFrame], options: dict[str, Any]) -> str:
    """SHA-256 of the frames (sorted, as text) and the options (sorted JSON)."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(_canonical(frame).encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def solver_figures(status: str, objective: float, bound: float, gap: float,
                   build_seconds: float, solve_seconds: float) -> dict[str, Any]:
    """The head of every plan's --json document: status, objective, bound and gap (null
    when HiGHS gave none: NaN is not JSON), seconds in all, to build and to solve."""
    def rounded(value: float, digits: int) -> float | None:
        finite = _finite(value)
        return None if finite is None else round(finite, digits)

    return {"status": status, "objective": round(objective, 2), "bound": rounded(bound, 2),
            "gap": rounded(gap, 6), "seconds": round(build_seconds + solve_seconds, 2),
            "build_seconds": round(build_seconds, 2), "solve_seconds": round(solve_seconds, 2)}


def record_run(session: Session, table: type[Run], document: dict[str, Any],
               options: dict[str, Any], digest: str, as_of: dt.date, actor: str) -> Run:
    """Store one run of ``table`` from its --json document; returns it with its id."""
    run = table(at=dt.datetime.now(dt.UTC), actor=actor, as_of=as_of, inputs_sha256=digest,
                options=options, status=document["status"], objective=document["objective"],
                bound=document["bound"], gap=document["gap"],
                timings={"build": document["build_seconds"],
                         "solve": document["solve_seconds"]},
                result=document)
    session.add(run)
    session.flush()
    return run


def highs_status(results: Any, accept_incumbent: bool, seconds: float,
                 error: type[Exception]) -> str:
    """The product's word for how HiGHS ended: "optimal" when it proved an optimum,
    "time_limit" when ``accept_incumbent`` and the time limit left a feasible incumbent;
    any other end raises ``error`` saying how HiGHS stopped after ``seconds``."""
    condition = results.termination_condition
    if condition == TerminationCondition.convergenceCriteriaSatisfied:
        return "optimal"
    if (accept_incumbent and results.solution_status == SolutionStatus.feasible
            and condition == TerminationCondition.maxTimeLimit):
        return "time_limit"
    raise error(f"no proven optimum: HiGHS stopped with {condition.name} "
                f"({results.solution_status.name}) after {seconds:.1f} s")


def relative_gap(objective: float, bound: float) -> float:
    """|objective − bound| / |objective| (NaN when either is NaN)."""
    return abs(objective - bound) / max(abs(objective), 1e-9)
