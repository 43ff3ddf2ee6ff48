"""A start read off the LP relaxation: where the LP is whole it is kept, the rest solved exactly.

At CRO scale the LP relaxation of a rebalancing part is nearly integral: on the
largest 2,000 × 20,000 part (4,524 sites, 77,725 pairs) it splits 809 sites, and
those fall into a few dozen groups that share no CRA the LP uses. So each site
goes where the LP puts most of it, single shifts take the overload this leaves
away, and then each group of split sites is re-placed together exactly (a small
sub-MIP, every other site kept). On that part this gives 629,300 in 3 s after
the LP, where the shedding start and 15 s of neighbourhood search reached
629,100 (benchmarks/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from optimizer.gap_arrays import GapArrays
from optimizer.greedy import shift_moves
from optimizer.local_search import LpGuide, SearchLog, solve_jobs

WHOLE = 1.0 - 1e-6  # an LP value at least this puts the site wholly on that pair
USED = 1e-6  # an LP value above this uses the pair
GROUP_SECONDS = 0.5  # at most for one group's sub-MIP


def rounded(g: GapArrays, guide: LpGuide) -> np.ndarray:
    """Pair per job: the one the LP puts most of the job on (the first of equals)."""
    starts = g.job_ptr[:-1]
    lengths = np.diff(g.job_ptr)
    best = np.maximum.reduceat(guide.x, starts)
    on_best = guide.x >= np.repeat(best, lengths)
    position = np.where(on_best, np.arange(len(guide.x)), len(guide.x))
    return np.minimum.reduceat(position, starts)


def split_groups(g: GapArrays, guide: LpGuide) -> list[np.ndarray]:
    """The jobs the LP splits, in groups connected through the agents of the pairs it
    uses (largest group first)."""
    best = np.maximum.reduceat(guide.x, g.job_ptr[:-1])
    split = np.flatnonzero(best < WHOLE)
    if len(split) == 0:
        return []
    pairs = g.job_pairs(split)
    pairs = pairs[guide.x[pairs] > USED]
    n_jobs, n_agents = len(g.jobs), len(g.agents)
    graph = coo_matrix((np.ones(len(pairs)), (g.pair_job[pairs], n_jobs + g.pair_agent[pairs])),
                       shape=(n_jobs + n_agents, n_jobs + n_agents))
    _, label = connected_components(graph, directed=False)
    groups = [split[label[split] == k] for k in np.unique(label[split])]
    return sorted(groups, key=len, reverse=True)


def lp_rounding_start(g: GapArrays, guide: LpGuide, deadline: float, threads: int = 1,
                      stop: Callable[[], bool] = lambda: False) -> np.ndarray:
    """The LP's whole assignments kept, each group of split jobs re-placed exactly (module
    docstring); as far as it got by ``deadline`` or once ``stop()``."""
    choice = shift_moves(g, rounded(g, guide))
    log = SearchLog()
    for jobs in split_groups(g, guide):
        left = deadline - time.perf_counter()
        if left <= 0.05 or stop():
            break
        choice = solve_jobs(g, choice, jobs, min(GROUP_SECONDS, left), log, threads)
    return shift_moves(g, choice)
