"""A start built the other way round: each over-capacity CRA sheds its best set of sites.

The repair start (:mod:`optimizer.repair`) makes the single moves that gain most,
one at a time; on a rebalancing neighbourhood at CRO scale (overloaded CRAs
handing sites to CRAs with room) that sheds more sites than needed, or the
wrong ones for the studies. Here every CRA over capacity under the current
assignment solves its own shedding problem exactly (:func:`optimizer.relief.least_relief`:
which of its sites to hand over so that its overload, moves and studies cost
least, each site priced at its cheapest CRA with no overload of its own,
counting a study that CRA does not work on yet); the shed sites are then placed
largest first where cost + study + added overload is least, re-placed together
exactly by a sub-MIP, and single shifts finish.

On the synthetic 2,000 × 20,000 portfolio's parts the start is 3–5 % below the
repair start's (44,200 against 46,500 on a 309-site part, 342,700 against 356,900
on a 2,475-site part), and the search goes on from the better of the two. Where
CRAs both give and take (every pair eligible, 300 × 3,000) the placed plan is often
no better than the repair's, and then no sub-MIP is spent on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from optimizer.gap_arrays import GapArrays, current_pairs, objective, usage
from optimizer.greedy import shift_moves, study_counts
from optimizer.local_search import SearchLog, solve_jobs
from optimizer.relief import RELIEF_SECONDS, least_relief

PLACE_SHARE = 0.5  # of the time left for the sub-MIP that re-places the shed sites


def _current(g: GapArrays, start: np.ndarray) -> np.ndarray:
    """Pair per job under the current assignment (the pair that is no move); ``start``'s
    for a job without a current CRA."""
    choice = start.copy()
    held = current_pairs(g)
    choice[g.pair_job[held]] = held
    return choice


def _on_study(g: GapArrays, counts: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Each pair's agent works on its job's study already: paid for, or holding one of its
    sites (``counts``: :func:`optimizer.greedy.study_counts`). Always, without studies."""
    if not g.grouped:
        return np.ones(len(pairs), dtype=bool)
    return g.pair_paid[pairs] | (counts.reshape(-1)[g.group_key(pairs)] > 0)


def _shed_sets(g: GapArrays, choice: np.ndarray, donors: np.ndarray, deadline: float,
               stop: Callable[[], bool], threads: int) -> np.ndarray:
    """Jobs each donor hands over, by its exact shedding problem (donors left when the
    deadline passes or ``stop()`` shed nothing)."""
    receiving = np.ones(len(g.cost), dtype=bool)
    receiving[np.isin(g.pair_agent, donors)] = False
    every = np.arange(len(g.cost))
    price = g.cost + g.group_penalty * ~_on_study(g, study_counts(g, choice), every)
    leave = np.full(len(g.jobs), np.inf)
    np.minimum.at(leave, g.pair_job[receiving], price[receiving])
    holder = g.pair_agent[choice]
    shed = []
    for agent in donors:
        if time.perf_counter() > deadline or stop():
            break
        jobs = np.flatnonzero(holder == agent)
        pairs = choice[jobs]
        studies = None
        if g.grouped:
            studies = np.where(g.pair_paid[pairs], -1, g.job_group[jobs])
        relief = least_relief(g.load[pairs], g.capacity[agent], g.cost[pairs], leave[jobs],
                              float(g.penalty), studies, g.group_penalty,
                              min(RELIEF_SECONDS, deadline - time.perf_counter()), threads)
        shed.append(jobs[relief.shed])
    return np.concatenate(shed) if shed else np.empty(0, dtype=np.int64)


def _place(g: GapArrays, choice: np.ndarray, jobs: np.ndarray,
           donors: np.ndarray) -> np.ndarray:
    """``jobs`` taken off their agents, then each (largest first) where cost + study +
    penalty × added overload is least, never on a donor."""
    choice = choice.copy()
    used = usage(g, choice)
    np.subtract.at(used, g.pair_agent[choice[jobs]], g.load[choice[jobs]])
    donor = np.zeros(len(g.agents), dtype=bool)
    donor[donors] = True
    counts = study_counts(g, choice[np.setdiff1d(np.arange(len(g.jobs)), jobs)])
    for job in jobs[np.argsort(-g.load[choice[jobs]].sum(axis=1), kind="stable")]:
        pairs = np.arange(g.job_ptr[job], g.job_ptr[job + 1])
        pairs = pairs[~donor[g.pair_agent[pairs]]]
        if len(pairs) == 0:
            pairs = np.array([choice[job]])
        agents = g.pair_agent[pairs]
        before = np.maximum(used[agents] - g.capacity[agents], 0.0).sum(axis=1)
        after = np.maximum(used[agents] + g.load[pairs] - g.capacity[agents], 0.0).sum(axis=1)
        score = g.cost[pairs] + g.group_penalty * ~_on_study(g, counts, pairs) \
            + g.penalty * (after - before)
        best = pairs[int(np.argmin(score))]
        choice[job] = best
        used[g.pair_agent[best]] += g.load[best]
        if g.grouped and not g.pair_paid[best]:
            counts.reshape(-1)[g.group_key(best)] += 1
    return choice


def shed_start(g: GapArrays, start: np.ndarray, seconds: float, threads: int = 1,
               stop: Callable[[], bool] = lambda: False) -> np.ndarray:
    """The shedding start (module docstring), or ``start`` when that is better; within
    about ``seconds``, less once ``stop()`` (another solver proved the part). Soft
    capacities without a move budget only."""
    if not g.soft or g.max_moves is not None:
        return start
    deadline = time.perf_counter() + seconds
    current = _current(g, start)
    over = usage(g, current) - g.capacity > 1e-9
    donors = np.flatnonzero(over.any(axis=1))
    shed = _shed_sets(g, current, donors, deadline, stop, threads)
    if len(shed) == 0 or stop():
        return start
    plan = shift_moves(g, _place(g, current, shed, donors))
    if objective(g, plan) >= objective(g, start):
        return start  # no sub-MIP for a plan the repair beats already
    left = deadline - time.perf_counter()
    moved = np.flatnonzero(plan != current)
    if left > 0.05 and len(moved):
        plan = shift_moves(g, solve_jobs(g, plan, moved, PLACE_SHARE * left + 0.05,
                                         SearchLog(), threads))
    return plan
