"""Persisting rebalancing runs: what was proposed, from which inputs, and whether applied.

A proposal is reviewed before it is applied, so the run keeps the inputs' hash:
applying a stored run later is refused when the portfolio changed since (the
same hash means the same sites, hours, capacities and options). Repository
functions take a session and never commit (the edge owns the transaction).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from optimizer.rebalance import Rebalance, RebalanceInputs, RebalanceOptions
from optimizer.runs import inputs_digest, solver_figures


def options_document(options: RebalanceOptions, months: int) -> dict[str, Any]:
    document = dataclasses.asdict(options)
    document["pinned"] = sorted([list(p) for p in options.pinned])
    document["months"] = months
    return document


def inputs_hash(inputs: RebalanceInputs, options: RebalanceOptions, months: int) -> str:
    """SHA-256 of the inputs (sorted, as text) and the options: equal hashes, equal runs."""
    return inputs_digest((inputs.sites, inputs.cras, inputs.hours, inputs.trips,
                          inputs.capacity), options_document(options, months))


def rebalance_document(plan: Rebalance) -> dict[str, Any]:
    """The proposal as the CLI's --json and the stored run show it."""
    result = plan.result
    return solver_figures(result.status, result.objective, result.bound, result.gap,
                          result.build_seconds, result.solve_seconds) | {
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
