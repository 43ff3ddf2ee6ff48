"""A feasible assignment from the first second: regret greedy, then improving shifts.

The solver is only as good as its first incumbent on large instances (plain
HiGHS on OR-Library c801600 ends 60 s at +196 %). Jobs are placed in order of
regret (how much worse their second-best feasible agent is), each on its
cheapest agent that still has room in every period (Martello & Toth's MTHG);
then single-job shifts that lower the cost while keeping every capacity are
applied until none is left. With overload allowed, a job that fits nowhere goes
where cost + penalty × added overload is least.

Everything works on the eligible pairs (:mod:`optimizer.gap_arrays`), never on
agents × jobs × periods arrays. Placing a job only shrinks its agent's room, so
only the unplaced jobs whose best or second-best option was that agent and no
longer fits need a new regret: a heap with lazy deletion keeps the order.
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem
from optimizer.gap_arrays import (
    TOL,
    GapArrays,
    from_problem,
    in_sorted,
    objective,
    to_frame,
    usage,
)

BIG = 1e18


def _options(g: GapArrays, measure: np.ndarray, free: np.ndarray, jobs: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per job, among the agents it still fits: (regret, best pair, second-best agent).
    Regret +inf when it fits nowhere (best pair −1), BIG when it fits one agent only.
    One vectorized pass over all the jobs' pairs (a lexsort by job, then measure)."""
    lengths = g.job_ptr[jobs + 1] - g.job_ptr[jobs]
    pairs = g.job_pairs(jobs)
    segment = np.repeat(np.arange(len(jobs)), lengths)
    fits = np.all(g.load[pairs] <= free[g.pair_agent[pairs]] + TOL, axis=1)
    value = np.where(fits, measure[pairs], np.inf)
    order = np.lexsort((value, segment))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    first = order[starts]
    second = order[np.minimum(starts + 1, len(order) - 1)]
    v1 = value[first]
    v2 = np.where(lengths >= 2, value[second], np.inf)
    best = np.where(np.isfinite(v1), pairs[first], -1)
    second_agent = np.where(np.isfinite(v2), g.pair_agent[pairs[second]], -1)
    with np.errstate(invalid="ignore"):  # inf − inf where a job fits nowhere: not used
        regret = np.where(~np.isfinite(v1), np.inf, np.where(np.isfinite(v2), v2 - v1, BIG))
    return regret, best, second_agent


def _cheapest_overloaded(g: GapArrays, free: np.ndarray, job: int) -> int:
    """The pair of least cost + penalty × overload it adds (soft capacities only)."""
    lo, hi = g.job_ptr[job], g.job_ptr[job + 1]
    room = np.maximum(free[g.pair_agent[lo:hi]], 0.0)
    added = np.maximum(g.load[lo:hi] - room, 0.0).sum(axis=1)
    return lo + int(np.argmin(g.cost[lo:hi] + g.penalty * added))


def place(g: GapArrays, measure: np.ndarray) -> np.ndarray | None:
    """Regret greedy on ``measure`` (per pair, lower is better): one pair per job, or None
    when a job fits nowhere and capacities are hard."""
    free = g.capacity.copy()
    n = len(g.jobs)
    choice = np.full(n, -1, dtype=np.int64)
    best = np.full(n, -1, dtype=np.int64)  # best pair
    second = np.full(n, -1, dtype=np.int64)  # second-best agent
    version = np.zeros(n, dtype=np.int64)
    regret, best[:], second[:] = _options(g, measure, free, np.arange(n))
    heap = list(zip((-regret).tolist(), range(n), [0] * n, strict=True))
    heapq.heapify(heap)
    while heap:
        _, job, seen = heapq.heappop(heap)
        if choice[job] >= 0 or seen != version[job]:
            continue
        pair = best[job]
        if pair < 0:
            if not g.soft:
                return None
            pair = _cheapest_overloaded(g, free, job)
        choice[job] = pair
        agent = g.pair_agent[pair]
        free[agent] -= g.load[pair]
        mine = g.by_agent[g.agent_ptr[agent]:g.agent_ptr[agent + 1]]
        others = g.pair_job[mine]
        touched = (choice[others] < 0) & (
            (g.pair_agent[np.maximum(best[others], 0)] == agent) | (second[others] == agent))
        stale = mine[touched][np.any(g.load[mine[touched]] > free[agent] + TOL, axis=1)]
        if len(stale):
            redo = np.unique(g.pair_job[stale])
            regret, best[redo], second[redo] = _options(g, measure, free, redo)
            version[redo] += 1
            for r, other, v in zip((-regret).tolist(), redo.tolist(), version[redo].tolist(),
                                   strict=True):
                heapq.heappush(heap, (r, other, v))
    return choice


def shift_moves(g: GapArrays, choice: np.ndarray, max_rounds: int = 50,
                around: np.ndarray | None = None) -> np.ndarray:
    """Move single jobs to a cheaper agent with room (soft: cheaper counting the overload
    each move adds or removes), best gain first, round after round until none helps.
    Respects the move budget. ``around``: the agents whose jobs changed since the plan
    was last shifted; a shift's gain depends only on its two agents' rooms and studies,
    so the first round looks only at pairs touching them, and each next round at pairs
    touching the agents the last one moved jobs between. The same moves as a full scan
    of a plan with none left but there (without a move budget, which links every pair: a
    full scan then). On the largest 2,000 × 20,000 part a full scan took 22 ms, 1.4 s of
    a caseload sweep's 8.9 s."""
    choice = choice.copy()
    free = g.capacity - usage(g, choice)
    worked = study_counts(g, choice)
    everywhere = around is None or g.max_moves is not None
    dirty = None if everywhere else np.unique(np.asarray(around, dtype=np.int64))
    for _ in range(max_rounds):
        pairs = None if dirty is None else _touching(g, choice, dirty)
        gain = _shift_gains(g, choice, free, worked, pairs)
        if pairs is None:
            pairs = np.arange(len(g.cost))
        candidates = np.flatnonzero(gain > 1e-9)
        touched: list[int] = []
        moves = int(g.move[choice].sum())
        for pair in pairs[candidates[np.argsort(-gain[candidates], kind="stable")]]:
            job, agent = g.pair_job[pair], g.pair_agent[pair]
            old = choice[job]
            if old == pair or g.pair_agent[old] == agent:
                continue
            delta = _shift_delta(g, free, old, pair)
            if g.grouped:
                delta -= float(_group_gain(g, worked, np.array([old]), np.array([pair]))[0])
            if delta >= -1e-9:
                continue
            step = int(g.move[pair]) - int(g.move[old])
            if g.max_moves is not None and moves + step > g.max_moves:
                continue
            free[g.pair_agent[old]] += g.load[old]
            free[agent] -= g.load[pair]
            if g.grouped:
                worked.flat[g.group_key(np.array([old, pair]))] += [-1, 1]
            choice[job] = pair
            moves += step
            touched += [int(g.pair_agent[old]), int(agent)]
        if not touched:
            break
        if not everywhere:
            dirty = np.unique(touched)
    return choice


def _touching(g: GapArrays, choice: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """The pairs to ``agents`` (sorted agent numbers) and every pair of the jobs they hold
    in ``choice``, sorted."""
    to_them = np.concatenate([g.by_agent[g.agent_ptr[a]:g.agent_ptr[a + 1]]
                              for a in agents.tolist()] or [np.empty(0, dtype=np.int64)])
    held = np.flatnonzero(in_sorted(g.pair_agent[choice], agents))
    return np.union1d(to_them, g.job_pairs(held))


def _shift_gains(g: GapArrays, choice: np.ndarray, free: np.ndarray, worked: np.ndarray,
                 pairs: np.ndarray | None) -> np.ndarray:
    """What moving each pair's job onto that pair saves, for ``pairs`` (None: every pair);
    −inf where that is no move or breaks a hard capacity."""
    numbers = np.arange(len(g.cost)) if pairs is None else pairs
    job, agent, load, cost = (g.pair_job, g.pair_agent, g.load, g.cost) if pairs is None \
        else (g.pair_job[pairs], g.pair_agent[pairs], g.load[pairs], g.cost[pairs])
    held = choice[job]
    gain = g.cost[held] - cost
    if g.grouped:
        gain += _group_gain(g, worked, held, numbers)
    if g.soft:
        target = free[agent]
        gain -= g.penalty * (np.maximum(load - np.maximum(target, 0), 0).sum(axis=1))
        source = free[g.pair_agent[choice]]
        relief = (np.maximum(-source, 0).sum(axis=1)
                  - np.maximum(-(source + g.load[choice]), 0).sum(axis=1))
        gain += g.penalty * relief[job]
    else:
        gain[np.any(load > free[agent] + TOL, axis=1)] = -np.inf
    gain[held == numbers] = -np.inf
    return gain


def study_counts(g: GapArrays, choice: np.ndarray) -> np.ndarray:
    """(A, G) jobs each agent holds of each group, counting only unpaid (agent, group)s
    (empty when not grouped)."""
    if not g.grouped:
        return np.zeros((0, 0), dtype=np.int64)
    worked = np.zeros((len(g.agents), g.group_count), dtype=np.int64)
    unpaid = choice[~g.pair_paid[choice]]
    np.add.at(worked.reshape(-1), g.group_key(unpaid), 1)
    return worked


def _group_gain(g: GapArrays, worked: np.ndarray, old: np.ndarray,
                new: np.ndarray) -> np.ndarray:
    """Group penalty saved by moving each job from pair ``old`` to pair ``new``: its
    last job of the group leaves the old agent, minus the new agent's first."""
    counts = worked.reshape(-1)
    leaves = ~g.pair_paid[old] & (counts[g.group_key(old)] == 1)
    joins = ~g.pair_paid[new] & (counts[g.group_key(new)] == 0)
    return g.group_penalty * (leaves.astype(float) - joins)


def _shift_delta(g: GapArrays, free: np.ndarray, old: int, new: int) -> float:
    """Objective change of moving a job from pair ``old`` to pair ``new`` (inf if it breaks
    a hard capacity)."""
    a, b = g.pair_agent[old], g.pair_agent[new]
    after_b = free[b] - g.load[new]
    if not g.soft:
        return np.inf if np.any(after_b < -TOL) else float(g.cost[new] - g.cost[old])
    after_a = free[a] + g.load[old]
    over = (np.maximum(-after_b, 0).sum() - np.maximum(-free[b], 0).sum()
            + np.maximum(-after_a, 0).sum() - np.maximum(-free[a], 0).sum())
    return float(g.cost[new] - g.cost[old] + g.penalty * over)


def measures(g: GapArrays) -> list[np.ndarray]:
    """MTHG's measures per pair: cost, relative load max_t load / capacity, and
    (cost − min cost + 1) × relative load."""
    cap = g.capacity[g.pair_agent]
    relative = np.max(np.where(cap > 0, g.load / np.where(cap > 0, cap, 1.0),
                               np.where(g.load > 0, BIG, 0.0)), axis=1)
    shifted = g.cost - g.cost.min() + 1.0
    return [g.cost, relative, shifted * (relative + 1e-9)]


def greedy_choice(g: GapArrays, max_rounds: int = 50) -> np.ndarray | None:
    """The best of the three MTHG measures, each improved by shifts; pair number per job."""
    best, best_value = None, np.inf
    for measure in measures(g):
        choice = place(g, measure)
        if choice is None:
            continue
        choice = shift_moves(g, choice, max_rounds)
        value = objective(g, choice)
        if value < best_value or best is None:
            best, best_value = choice, value
    return best


def greedy_assignment(problem: AssignmentProblem, max_rounds: int = 50) -> pd.DataFrame | None:
    """(job, agent) rows of a feasible assignment, or None when no measure finds one
    (hard capacities only: with overload every job is placed)."""
    g = from_problem(problem)
    choice = greedy_choice(g, max_rounds)
    return None if choice is None else to_frame(g, choice)
