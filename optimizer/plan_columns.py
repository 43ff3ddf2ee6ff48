"""A search plan as HiGHS's column vector of the part's Pyomo model, from arrays.

The search hands each better plan to HiGHS as a user solution
(:mod:`optimizer.search_exchange`), inside HiGHS's callback: HiGHS waits for it, and
the callback holds Python's lock, so the search waits too. Made through the model
(:func:`optimizer.assignment.start_values`: data frames, merges, a dict per variable)
one vector took 0.42–0.50 s on the largest 2,000 × 20,000 part (98,059 columns), six
hand-overs 2.4 s of a 25 s part on both cores. Here each column's place is looked up
once, when the model is built, and a plan's vector is a few numpy calls (milliseconds):
its pairs' x, the overload its usage leaves, the (CRA, study) pairs it newly works on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem, BuiltModel
from optimizer.gap_arrays import GapArrays, in_sorted, overload, problem_pairs, usage


def _places(built: BuiltModel) -> dict[int, int]:
    """id(Pyomo variable) → its HiGHS column."""
    return {id(variable): column for column, variable in enumerate(built.compiled.columns)}


def _pair_columns(problem: AssignmentProblem, built: BuiltModel, g: GapArrays,
                  place: dict[int, int]) -> np.ndarray:
    """(P,) the column of x for each of the arrays' pairs (model.x follows the problem's
    pairs in order)."""
    columns = np.full(len(g.cost), -1, dtype=np.int64)
    columns[problem_pairs(g, problem)] = [place.get(id(x), -1)
                                          for x in built.model.x.values()]
    return columns


def _over_columns(problem: AssignmentProblem, built: BuiltModel, g: GapArrays,
                  place: dict[int, int]) -> np.ndarray:
    """(A, T) the column of over[a, t] (−1: none)."""
    columns = np.full(g.capacity.shape, -1, dtype=np.int64)
    if problem.overload_penalty is None:
        return columns
    keys = list(built.model.agent_periods)
    periods = pd.Index(np.unique(problem.capacity["period"].to_numpy()))
    agent = pd.Index(g.agents).get_indexer([a for a, _ in keys])
    period = periods.get_indexer([t for _, t in keys])
    known = (agent >= 0) & (period >= 0)
    over = np.array([place.get(id(built.model.over[k]), -1) for k in keys], dtype=np.int64)
    columns[agent[known], period[known]] = over[known]
    return columns


def _group_columns(problem: AssignmentProblem, built: BuiltModel, g: GapArrays,
                   place: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted (agent, group) keys of the arrays, their works_on columns): the pairs of a
    CRA and a study with two or more of its sites eligible (the others pay on x)."""
    if not g.grouped or not hasattr(built.model, "works_on"):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    labels = problem.groups.drop_duplicates("job").set_index("job")["group"].reindex(g.jobs)
    known = labels.notna().to_numpy()
    number = dict(zip(labels.to_numpy()[known], g.job_group[known], strict=True))
    keys = list(built.model.agent_groups)
    agent = pd.Index(g.agents).get_indexer([a for a, _ in keys])
    group = np.array([number.get(label, -1) for _, label in keys], dtype=np.int64)
    column = np.array([place.get(id(built.model.works_on[k]), -1) for k in keys],
                      dtype=np.int64)
    ok = (agent >= 0) & (group >= 0) & (column >= 0)
    key = agent[ok].astype(np.int64) * g.group_count + group[ok]
    order = np.argsort(key)
    return key[order], column[ok][order]


def plan_columns(problem: AssignmentProblem, built: BuiltModel,
                 g: GapArrays) -> Callable[[np.ndarray], np.ndarray]:
    """A plan in the arrays (one pair per job) → HiGHS's column values for ``built``:
    x = 1 on its pairs, over[a, t] = the overload it leaves, works_on = 1 on the (CRA,
    study) pairs it works on that nobody outside the part pays for; 0 elsewhere."""
    place = _places(built)
    pair_column = _pair_columns(problem, built, g, place)
    over_column = _over_columns(problem, built, g, place)
    has_over = over_column >= 0
    group_keys, group_column = _group_columns(problem, built, g, place)
    width = len(built.compiled.columns)

    def columns_of(choice: np.ndarray) -> np.ndarray:
        values = np.zeros(width)
        chosen = pair_column[choice]
        values[chosen[chosen >= 0]] = 1.0
        if has_over.any():
            values[over_column[has_over]] = overload(g, usage(g, choice))[has_over]
        if len(group_keys):
            charged = g.charged(choice)
            charged = charged[in_sorted(charged, group_keys)]
            values[group_column[np.searchsorted(group_keys, charged)]] = 1.0
        return values
    return columns_of
