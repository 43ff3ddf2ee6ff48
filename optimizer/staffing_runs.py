"""Persisting staffing runs: which plan was made, from which inputs and options.

A run keeps the SHA-256 of its inputs (the problem's frames, sorted, as text, and the
options), so two plans can be told apart by what they were made from: the same hash
means the same demand, staff, capacity, hire and contractor options and command
options. Repository functions take a session and never commit (the edge owns the
transaction).
"""

from __future__ import annotations

from typing import Any

from optimizer.runs import inputs_digest
from optimizer.staffing import StaffingProblem


def options_document(problem: StaffingProblem, months: int, time_limit: float
                     ) -> dict[str, Any]:
    """The command's options and the problem's scalar settings, as stored with a run."""
    return {"months": months, "horizon": problem.horizon, "time_limit": time_limit,
            "max_studies": problem.max_studies, "max_churn": problem.max_churn,
            "churn_penalty": problem.churn_penalty, "staff_cost": problem.staff_cost,
            "unmet_penalty": problem.unmet_penalty}


def inputs_hash(problem: StaffingProblem, options: dict[str, Any]) -> str:
    """SHA-256 of the inputs (sorted, as text) and the options: equal hashes, equal runs."""
    return inputs_digest((problem.demand, problem.staff, problem.capacity, problem.hires,
                          problem.contractors, problem.coverage, problem.staff_covers),
                         options)
