"""A rebalancing part solved two ways at once: HiGHS bounds it, a search improves the plan.

On the synthetic 300 × 3,000 portfolio's largest part (1,252 sites × 125 CRAs,
44,238 pairs) HiGHS spends its minute on the root's cuts: 90 s left the
LP-rounded start of 213,896 untouched (bound 205,989). The large-neighbourhood
search of :mod:`optimizer.local_search` (free the sites of a few CRAs, solve
that small sub-problem exactly from arrays, keep what improves) took the same
start to 209,217 in 20 s. HiGHS releases Python's interpreter lock while it
solves, so the two run at once on two cores: HiGHS, one thread, on the part's
whole Pyomo model for the proven bound (and its own plans), the search on the
calling thread for better plans. The result is the better plan with HiGHS's
bound; the search stops as soon as HiGHS is done, and HiGHS is stopped at the
deadline (beside the search it overran its own time limit by up to 11 s, at
random, on a 42,892-pair part; alone it did not). A part too large for HiGHS to
get past its root LP in its share is left to the search, with the LP's bound.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from optimizer.assignment import (
    AssignmentError,
    AssignmentProblem,
    AssignmentResult,
    BuiltModel,
    objective_of,
    overload_of,
    solve_built,
)
from optimizer.gap_arrays import GapArrays, choice_of, from_problem, to_frame
from optimizer.greedy import shift_moves
from optimizer.highs_bridge import Relaxation, set_threads
from optimizer.local_search import LpGuide, SearchLog, large_neighbourhoods, lp_relaxation

HIGHS_THREADS = 1  # the other core runs the search
MIP_SECONDS_PER_PAIR = 1.2e-4  # below this share HiGHS does not get past its root LP
# (9 s on a 77,725-pair part): the LP's bound stands and the search has the time alone


def searchable(problem: AssignmentProblem) -> bool:
    """The search keeps no move budget across parts nor a cap on sites per CRA, so those
    problems are HiGHS's alone."""
    return problem.sense == "min" and problem.max_moves is None \
        and problem.max_jobs_per_agent is None and problem.overload_penalty is not None


def _guide(g: GapArrays, problem: AssignmentProblem, built: BuiltModel,
           relaxed: Relaxation | None) -> LpGuide | None:
    """The LP relaxation per pair in the arrays' order: the Pyomo model's when it was
    solved already, else the arrays' own (the same problem without the shedding rows)."""
    if relaxed is None:
        return lp_relaxation(g, SearchLog(), HIGHS_THREADS)
    agent = pd.Index(g.agents).get_indexer(problem.pairs["agent"])
    job = pd.Index(g.jobs).get_indexer(problem.pairs["job"])
    at = g.pair_of(agent, job)  # model.x is indexed by the problem's pairs, in order
    variables = list(built.model.x.values())
    x, reduced = np.zeros(len(g.cost)), np.zeros(len(g.cost))
    x[at] = [relaxed.values.get(id(v), 0.0) for v in variables]
    reduced[at] = [relaxed.reduced.get(id(v), 0.0) for v in variables]
    return LpGuide(x, reduced, relaxed.objective)


def _plan_result(problem: AssignmentProblem, plan: pd.DataFrame, bound: float,
                 proven: bool, build_seconds: float, seconds: float) -> AssignmentResult:
    """The searched ``plan`` (job, agent) as a result with ``bound`` (``proven``: HiGHS
    proved its own plan within the gap, which this one beats)."""
    overload = overload_of(problem, plan)
    value = objective_of(problem, plan, overload)
    met = proven or value - bound <= 1e-9 * max(1.0, abs(value))
    return AssignmentResult(plan.sort_values("job", kind="stable").reset_index(drop=True),
                            overload, value, min(bound, value),
                            "optimal" if met else "time_limit", build_seconds, seconds)


def _with_plan(problem: AssignmentProblem, result: AssignmentResult,
               plan: pd.DataFrame, seconds: float) -> AssignmentResult:
    """HiGHS's result with the searched ``plan`` (job, agent) when that is better."""
    searched = _plan_result(problem, plan, result.bound, result.status == "optimal",
                            result.build_seconds, seconds)
    if searched.objective < result.objective - 1e-7 * max(1.0, abs(result.objective)):
        return searched
    return dataclasses.replace(result, solve_seconds=seconds)


def solve_with_search(problem: AssignmentProblem, built: BuiltModel, start: pd.DataFrame,
                      time_limit: float, rel_gap: float,
                      relaxed: Relaxation | None = None) -> AssignmentResult:
    """HiGHS on ``built`` from ``start`` (job, agent) and the neighbourhood search from the
    same start, at once, for ``time_limit`` seconds (see the module docstring)."""
    started = time.perf_counter()
    deadline = started + time_limit
    g = from_problem(problem)
    choice = choice_of(g, start)
    guide = _guide(g, problem, built, relaxed)
    if choice is not None and relaxed is not None \
            and time_limit < MIP_SECONDS_PER_PAIR * len(problem.pairs):
        choice = large_neighbourhoods(g, shift_moves(g, choice), guide, deadline,
                                      SearchLog(), HIGHS_THREADS)
        return _plan_result(problem, to_frame(g, choice), relaxed.objective, False,
                            built.seconds, time.perf_counter() - started)
    highs = built.compiled.highs
    set_threads(highs, HIGHS_THREADS)  # the pool sized before both run
    highs.HandleUserInterrupt = True  # so that the search can stop it at the deadline
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="highs") as pool:
        running = pool.submit(solve_built, problem, built,
                              max(0.5, deadline - time.perf_counter()), rel_gap,
                              HIGHS_THREADS, True, start)
        if choice is not None:
            choice = shift_moves(g, choice)
            choice = large_neighbourhoods(g, choice, guide, deadline, SearchLog(),
                                          HIGHS_THREADS, until=running.done)
        if not running.done():
            time.sleep(max(0.0, deadline - time.perf_counter()))
            highs.cancelSolve()  # HiGHS overran its limit by up to 11 s beside the search;
            # the request stays set on ``built``, which is not run again
        try:
            result = running.result()
        except AssignmentError:  # stopped before it had a plan: the search's stands
            if choice is None:
                raise
            return _plan_result(problem, to_frame(g, choice),
                                guide.bound if guide is not None else -math.inf, False,
                                built.seconds, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if choice is None or not math.isfinite(result.objective):
        return result
    return _with_plan(problem, result, to_frame(g, choice), seconds)
