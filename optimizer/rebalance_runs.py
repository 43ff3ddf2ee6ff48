"""Persisting rebalancing runs: what was proposed, from which inputs, and whether applied.

A proposal is reviewed before it is applied, so the run keeps the inputs' hash:
applying a stored run later is refused when the portfolio changed since (the
same hash means the same sites, hours, capacities and options). Repository
functions take a session and never commit (the edge owns the transaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.rebalance import Rebalance, RebalanceInputs, RebalanceOptions
from planner.tables import RebalanceRun


def _canonical(frame: pd.DataFrame) -> str:
    columns = sorted(frame.columns)
    return frame[columns].astype(str).sort_values(columns).to_csv(index=False)


def options_document(options: RebalanceOptions, months: int) -> dict[str, Any]:
    document = dataclasses.asdict(options)
    document["pinned"] = sorted([list(p) for p in options.pinned])
    document["months"] = months
    return document


def inputs_hash(inputs: RebalanceInputs, options: RebalanceOptions, months: int) -> str:
    """SHA-256 of the inputs (sorted, as text) and the options: equal hashes, equal runs."""
    digest = hashlib.sha256()
    for frame in (inputs.sites, inputs.cras, inputs.hours, inputs.trips, inputs.capacity):
        digest.update(_canonical(frame).encode())
    digest.update(json.dumps(options_document(options, months), sort_keys=True).encode())
    return digest.hexdigest()


def rebalance_document(plan: Rebalance) -> dict[str, Any]:
    """The proposal as the CLI's --json and the stored run show it."""
    result = plan.result
    return {
        "status": result.status, "objective": round(result.objective, 2),
        "bound": round(result.bound, 2), "gap": round(result.gap, 6),
        "seconds": round(result.build_seconds + result.solve_seconds, 2),
        "build_seconds": round(result.build_seconds, 2),
        "solve_seconds": round(result.solve_seconds, 2),
        "travel_cost": {"before": round(plan.travel_before, 2),
                        "after": round(plan.travel_after, 2)},
        "moves": [{"study_id": m.study_id, "site_id": m.site_id, "from": m[3], "to": m.to,
                   "reason": m.reason} for m in plan.moves.itertuples()],
        "new_assignments": [{"study_id": m.study_id, "site_id": m.site_id, "to": m.to}
                            for m in plan.new_assignments.itertuples()],
        "shortfalls": [{"country": r.country, "month": str(r.month), "hours": float(r.hours)}
                       for r in plan.shortfalls.itertuples()],
        "explanation": plan.explain(),
        "unstaffable": [{"study_id": r.study_id, "site_id": r.site_id, "country": r.country}
                        for r in plan.unstaffable.itertuples()],
        "subproblems": [{"sites": int(r.sites), "cras": int(r.cras), "status": r.status,
                         "objective": round(float(r.objective), 2),
                         "bound": round(float(r.bound), 2), "seconds": round(r.seconds, 2)}
                        for r in plan.subproblems.itertuples()],
        "utilization": [{"staff_id": u.staff_id, "month": u.month,
                         "before": round(float(u.before), 4), "after": round(float(u.after), 4)}
                        for u in plan.utilization.itertuples()],
    }


def record_rebalance(session: Session, document: dict[str, Any], options: dict[str, Any],
                     digest: str, as_of: dt.date, actor: str) -> RebalanceRun:
    """Store one run (not yet applied); returns it with its id."""
    run = RebalanceRun(at=dt.datetime.now(dt.UTC), actor=actor, as_of=as_of,
                       inputs_sha256=digest, options=options, status=document["status"],
                       objective=document["objective"], bound=document["bound"],
                       gap=document["gap"],
                       timings={"build": document["build_seconds"],
                                "solve": document["solve_seconds"]},
                       result=document)
    session.add(run)
    session.flush()
    return run


def stored_run(session: Session, run_id: int) -> RebalanceRun | None:
    return session.scalars(select(RebalanceRun).where(RebalanceRun.id == run_id)).one_or_none()
