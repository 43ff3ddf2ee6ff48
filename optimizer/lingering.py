"""A searched plan as a part's result, and a part's search carried on past its time.

Parts are solved one after the other, and each starts with Python building its
Pyomo model on one core while the other has little to do: the part's LP from
arrays (0.7 s of the largest 2,000 × 20,000 part's 3.9 s build), then nothing.
At 2,000 CRAs × 20,000 sites that is 7–8 s of an idle core in a 60 s
rebalancing. A :class:`Lingering` search fills it with the part just solved:
its neighbourhood search goes on from its best plan until the next part's model
is built. Its sub-MIPs run in HiGHS, which releases Python's lock, so it
hardly slows the build (benchmarks/README.md). The part's bound stays; a
better plan only lowers its objective.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem, AssignmentResult, objective_of, overload_of
from optimizer.gap_arrays import GapArrays, objective, to_frame
from optimizer.highs_bridge import size_pool
from optimizer.local_search import LpGuide, SearchLog, large_neighbourhoods

LINGER_SEED = 2  # the part's own searches have seeds 0 and 1


def searched_result(problem: AssignmentProblem, plan: pd.DataFrame, bound: float,
                    proven: bool, build_seconds: float, seconds: float,
                    rel_gap: float = 0.0) -> AssignmentResult:
    """The searched ``plan`` (job, agent) as a result with ``bound`` (``proven``: HiGHS
    proved its own plan within the gap, which this one beats); optimal within the
    caller's ``rel_gap``, as HiGHS reports one."""
    overload = overload_of(problem, plan)
    value = objective_of(problem, plan, overload)
    met = proven or value - bound <= max(1e-9, rel_gap) * max(1.0, abs(value))
    return AssignmentResult(plan.sort_values("job", kind="stable").reset_index(drop=True),
                            overload, value, min(bound, value),
                            "optimal" if met else "time_limit", build_seconds, seconds)


class Lingering:
    """The neighbourhood search of a solved part, on from ``plan`` (its result's, in the
    arrays ``g``) in a thread of its own until :meth:`stop` or ``deadline`` (in
    ``time.perf_counter()`` seconds); :meth:`result` is the part's result with the better
    plan."""

    def __init__(self, problem: AssignmentProblem, g: GapArrays, guide: LpGuide | None,
                 plan: np.ndarray, result: AssignmentResult, rel_gap: float,
                 deadline: float) -> None:
        self._problem, self._g, self._result, self._rel_gap = problem, g, result, rel_gap
        self._start = plan
        self._plan = plan
        self._stop = threading.Event()
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._plan = large_neighbourhoods(g, plan, guide, deadline, SearchLog(),
                                                  1, LINGER_SEED, until=self._stop.is_set)
            except BaseException as error:  # noqa: BLE001 (raised again by result())
                self._error = error

        size_pool(1)  # here, not in the search's thread: HiGHS's pool rebuilt from another
        # thread than the next run's failed that run (kError)
        self._thread = threading.Thread(target=run, name="lingering", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the search to end (after the sub-MIP it is in: at most 0.5 s)."""
        self._stop.set()

    def result(self) -> AssignmentResult:
        """The part's result, with the search's plan when that is better (the bound
        unchanged); stops the search and waits for it."""
        self.stop()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if objective(self._g, self._plan) >= objective(self._g, self._start) - 1e-7 * max(
                1.0, abs(self._result.objective)):
            return self._result
        better = searched_result(self._problem, to_frame(self._g, self._plan),
                                 self._result.bound, False, self._result.build_seconds,
                                 self._result.solve_seconds, self._rel_gap)
        return better if better.objective < self._result.objective else self._result
