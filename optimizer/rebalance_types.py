"""The rebalancing's inputs, options and result (DESIGN §4; the model: optimizer.rebalance).

Penalties are planning costs in USD-like units: an hour over capacity costs far
more than any move or trip, so removing overload always comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from optimizer.assignment import AssignmentResult

OVERLOAD_PENALTY = 1_000.0  # per hour over capacity: removing overload comes first
MOVE_PENALTY = 250.0  # per site moved: a handover (co-monitoring visit, site relations)
STUDY_SPREAD_PENALTY = 100.0  # per CRA working on a study: a study's sites stay together
Movable = Literal["auto", "all", "overloaded"]


@dataclass(frozen=True)
class RebalanceInputs:
    """``sites``: study_id, site_id, country, cra (current, may be missing); ``cras``:
    staff_id, home_country, languages (list); ``hours``: study_id, site_id, month, hours;
    ``trips``: study_id, site_id, trips (on-site visits over the horizon); ``capacity``:
    staff_id, month, capacity (hours)."""

    sites: pd.DataFrame
    cras: pd.DataFrame
    hours: pd.DataFrame
    trips: pd.DataFrame
    capacity: pd.DataFrame


@dataclass(frozen=True)
class RebalanceOptions:
    max_moves: int | None = None
    max_sites_per_cra: int | None = None
    pinned: frozenset[tuple[str, str]] = frozenset()  # (study_id, site_id) kept where they are
    travel: bool = True
    move_penalty: float = MOVE_PENALTY
    overload_penalty: float = OVERLOAD_PENALTY
    study_spread_penalty: float = STUDY_SPREAD_PENALTY
    time_limit: float = 60.0
    rel_gap: float = 1e-4
    decompose: bool = True
    movable: Movable = "auto"  # which sites may move: all, or those with a reason to


@dataclass(frozen=True)
class RebalanceTimings:
    """Where a rebalancing's wall time went, in seconds: preparing the model's data
    (eligibility, the neighbourhood, pricing), the solve against the time it was allowed
    (the limit less the set-up and what is kept back for the report), and the report.
    A run past its limit shows here which of them overran."""

    set_up: float = 0.0
    solve_allowed: float = 0.0
    solve: float = 0.0
    report: float = 0.0

    @property
    def total(self) -> float:
        return self.set_up + self.solve + self.report


@dataclass(frozen=True)
class Rebalance:
    moves: pd.DataFrame  # study_id, site_id, from, to, reason
    new_assignments: pd.DataFrame  # study_id, site_id, to: sites that had no CRA
    utilization: pd.DataFrame  # staff_id, month, before, after (fractions of capacity)
    result: AssignmentResult  # merged over the subproblems
    shortfalls: pd.DataFrame  # country, month, hours: capacity missing after the best plan
    unstaffable: pd.DataFrame  # study_id, site_id, country: no eligible CRA at all
    subproblems: pd.DataFrame  # component, sites, cras, status, objective, bound, seconds
    travel_before: float = 0.0
    travel_after: float = 0.0
    options: RebalanceOptions = field(default_factory=RebalanceOptions)
    movable: Movable = "all"  # the scope used (``auto`` resolved by the model's size)
    timings: RebalanceTimings = field(default_factory=RebalanceTimings)

    def explain(self) -> list[str]:
        """What is short, where and by how much, in words (empty when nothing is)."""
        budget = self.options.max_moves
        if budget is not None and len(self.moves) >= budget and len(self.shortfalls):
            lines = [f"{r.country} {r.month}: {r.hours:,.1f} hours over its CRAs' capacity "
                     "remain" for r in self.shortfalls.itertuples()]
            lines.append(f"the budget of {budget} moves is used up: more moves may remove "
                         "some of this")
        else:
            lines = [f"{r.country} {r.month}: {r.hours:,.1f} hours more than its eligible "
                     "CRAs can take" for r in self.shortfalls.itertuples()]
        lines += [f"site {r.site_id} of {r.study_id} ({r.country}): no CRA may monitor it "
                  "(none based there or nearby with its language)"
                  for r in self.unstaffable.itertuples()]
        return lines
