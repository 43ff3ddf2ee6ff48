"""Each CRA's caseload re-placed exactly, one CRA at a time: the sweep between start and search.

A rebalancing part is nearly separable by the CRA that holds a site today: an
overloaded CRA's best shedding (which of its sites go, to which CRAs with room,
which studies that opens or closes) is a choice over its own sites, the other
CRAs' plans only changing the room left. So, for each CRA holding sites under
the current assignment, its sites are freed wherever the plan has them now and
re-placed together exactly over all their pairs (a sub-MIP of a few hundred
columns: 22 ms on average), every other site kept; an improvement is kept with
single shifts after it. The large-neighbourhood search's picks (a few CRAs and
the sites they hold now, only among themselves) rarely free a CRA's whole
caseload with all its options at once. On the largest 2,000 × 20,000 part one
sweep (305 CRAs, 6.7 s) took the LP-rounding start from 629,300 to 619,800, where
15 s of the search reached 624,700; the search then goes on from it
(benchmarks/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from optimizer.gap_arrays import GapArrays, current_pairs
from optimizer.greedy import shift_moves
from optimizer.local_search import LpGuide, SearchLog, solve_jobs

CASELOAD_SECONDS = 0.5  # at most for one CRA's sub-MIP


def caseloads(g: GapArrays, choice: np.ndarray) -> list[np.ndarray]:
    """The jobs of each agent that holds jobs under the current assignment (its pairs with
    no move), the agents whose jobs cost most in ``choice`` first: those that gave jobs
    away, where a better shedding can gain."""
    held = current_pairs(g)
    holder, jobs = g.pair_agent[held], g.pair_job[held]
    order = np.argsort(holder, kind="stable")
    holder, jobs = holder[order], jobs[order]
    ends = np.flatnonzero(np.diff(holder)) + 1
    groups = np.split(jobs, ends)
    if not groups or len(groups[0]) == 0:
        return []
    spent = np.array([float(g.cost[choice[group]].sum()) for group in groups])
    return [groups[i] for i in np.argsort(-spent, kind="stable")]


def caseload_sweep(g: GapArrays, choice: np.ndarray, guide: LpGuide | None, deadline: float,
                   threads: int = 1, stop: Callable[[], bool] = lambda: False,
                   found: Callable[[np.ndarray], None] = lambda plan: None) -> np.ndarray:
    """One sweep over the caseloads (module docstring) until ``deadline`` or ``stop()``;
    ``found`` hears of each better plan."""
    log = SearchLog()
    for jobs in caseloads(g, choice):
        left = deadline - time.perf_counter()
        if left <= 0.05 or stop():
            break
        new = solve_jobs(g, choice, jobs, min(CASELOAD_SECONDS, left), log, threads, guide)
        if new is not choice:  # strictly better (solve_jobs keeps only those)
            changed = np.flatnonzero(new != choice)
            choice = shift_moves(g, new, around=np.concatenate(
                [g.pair_agent[choice[changed]], g.pair_agent[new[changed]]]))
            found(choice)
    return choice
