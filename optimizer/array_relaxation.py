"""A part's LP relaxation from its arrays, shedding rows included: solved while Pyomo builds.

Pyomo builds the largest 2,000 × 20,000 part's model in 3–5 s on one core, holding
Python's lock, while the other core has nothing to do; then its LP relaxation took
another 2.5–3.4 s before the search could start from it. The same relaxation made from
the search's arrays (:func:`optimizer.gap_arrays.highs_model`, plus the model's shedding
rows, :func:`optimizer.assignment.add_shedding_constraints`) is a few numpy calls, and
HiGHS releases the lock while it solves, so it runs on the idle core during the build.
Its optimum is the Pyomo model's LP bound (the same rows), a valid bound on the part.
"""

from __future__ import annotations

import time

import numpy as np

from optimizer.assignment import AssignmentProblem, kept_excess, shedding_lines
from optimizer.gap_arrays import GapArrays, highs_model
from optimizer.local_search import LpGuide, guide_of

LP_OPTIONS = {"solver": "simplex", "simplex_strategy": 1, "presolve": "off"}  # serial dual
# simplex from the slack basis: 0.7 s on the largest 2,000 × 20,000 part (77,725 pairs),
# 1.0 s with HiGHS's own choice of strategy, 2.0 s with presolve, 21 s by interior point


def _shedding_rows(g: GapArrays, problem: AssignmentProblem, over_column: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(starts, columns, values, lower) of the rows over[a, t] − slope · Σ_j x[a, j] ≥
    f(r − 1) − slope · (|J(a, t)| − r + 1), one per secant (see the Pyomo family's
    docstring); ``over_column[a, t]`` is the column of over[a, t] (−1: none)."""
    table = kept_excess(problem)
    if table.empty:
        return (np.zeros(1, dtype=np.int32), np.empty(0, dtype=np.int32), np.empty(0),
                np.empty(0))
    periods = np.unique(problem.capacity["period"].to_numpy())
    sizes = table["jobs"].map(len).to_numpy()
    agents = np.repeat(np.searchsorted(g.agents, table["agent"].to_numpy()), sizes)
    jobs = np.searchsorted(g.jobs, np.concatenate([np.asarray(j, dtype=g.jobs.dtype)
                                                    for j in table["jobs"]]))
    pairs = np.split(g.pair_of(agents, jobs), np.cumsum(sizes)[:-1])  # one sort for all
    overs = over_column[np.searchsorted(g.agents, table["agent"].to_numpy()),
                        np.searchsorted(periods, table["period"].to_numpy())]
    starts, columns, values, lower = [0], [], [], []
    for held, over, excess, hours in zip(pairs, overs, table["excess"], table["hours"],
                                         strict=True):
        if over < 0 or (held < 0).any():  # cannot happen: the jobs load the agent in t
            continue
        for value, slope, number in shedding_lines(excess, hours):
            columns += [over, *held.tolist()]
            values += [1.0, *([-slope] * len(held))]
            lower.append(value - slope * (len(held) - number + 1))
            starts.append(len(columns))
    return (np.asarray(starts, dtype=np.int32), np.asarray(columns, dtype=np.int32),
            np.asarray(values, dtype=float), np.asarray(lower, dtype=float))


def _over_columns(g: GapArrays) -> np.ndarray:
    """(A, T) the column of over[a, t] in :func:`highs_model` over every pair (−1: none):
    after the P pair columns, one per (agent, period) with some load, in that order."""
    loaded = np.zeros_like(g.capacity, dtype=bool)
    nz_p, nz_t = np.nonzero(g.load)
    loaded[g.pair_agent[nz_p], nz_t] = True
    column = np.full(g.capacity.shape, -1, dtype=np.int64)
    flat = np.flatnonzero(loaded.ravel())
    column.ravel()[flat] = len(g.cost) + np.arange(len(flat))
    return column


def relaxation_with_shedding(g: GapArrays, problem: AssignmentProblem,
                             time_limit: float, threads: int = 1) -> LpGuide | None:
    """The part's LP relaxation (x and reduced cost per pair, the optimum) with the model's
    shedding rows; None when HiGHS does not solve it within ``time_limit`` seconds.
    Minimization with overload allowed only (the rebalancing parts the search takes)."""
    started = time.perf_counter()
    h = highs_model(g, np.arange(len(g.cost)), np.arange(len(g.jobs)), g.capacity, False,
                    g.max_moves, threads)
    starts, columns, values, lower = _shedding_rows(g, problem, _over_columns(g))
    if len(lower):
        h.addRows(len(lower), lower, np.full(len(lower), np.inf), len(columns),
                  starts[:-1], columns, values)
    for name, value in LP_OPTIONS.items():
        h.setOptionValue(name, value)
    h.setOptionValue("time_limit", max(0.1, time_limit - (time.perf_counter() - started)))
    h.run()
    return guide_of(h, len(g.cost))
