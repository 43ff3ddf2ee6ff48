"""What HiGHS and the neighbourhood search tell each other while both run on one part.

The search (Python, on the calling thread) finds the plans; HiGHS (one thread beside
it) proves the bound. Alone, each wastes the other's work: HiGHS prunes and fixes by
reduced cost against its own incumbent, which on the 300 × 3,000 portfolio's
largest part stays at the LP-rounded start (213,896) while the search is at 208,400;
and the search goes on after HiGHS's bound already proves its plan within the gap.
So, through highspy's callbacks:

* the search's best plan goes to HiGHS as a user solution (``kCallbackMipUserSolution``,
  at most once a second). The callback holds Python's lock and HiGHS waits for it, so
  the column vector is made from arrays (:mod:`optimizer.plan_columns`, 2 ms on the
  largest 2,000 × 20,000 part): made through the Pyomo model it took 0.42–0.50 s there,
  2.4 s of a 25 s part on both cores;
* HiGHS's dual bound is read at each MIP interrupt check (``kCallbackMipInterrupt``),
  and HiGHS is stopped there, or inside its next LP solve (``kCallbackSimplexInterrupt``:
  the MIP checks come seconds apart in the root's cut loop), once the best plan known,
  either's, is within the caller's relative gap of it: the search stops too;
* with ``stall_seconds``, HiGHS is stopped at a MIP check once its bound has not risen
  by STALL_RISE of the gap left for that long, past ``stall_after``: on the 300 × 3,000
  portfolio's largest part the root's cuts reach 205,870 at 11–15 s and HiGHS then
  stays at the root without a node until 30 s, a core the second search can use; but
  the cuts also pause for 4 s or more between rounds before that (205,198 at 6 s,
  205,468 at 10 s), so a stall counts only once the root is likely done.

A callback that raises ends HiGHS's run with an error, so these never raise: a plan
that cannot be handed over is not, and the search goes on.

Every plan handed over is complete and feasible (soft capacities: overload is a
variable), so HiGHS accepts it; a bound HiGHS proves with it as cutoff is a bound on
every plan, since the plan itself is one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import highspy
import numpy as np

HANDOVER_SECONDS = 1.0  # least time between two plans handed to HiGHS
STALL_RISE = 0.01  # of the gap left (best plan − bound): a smaller rise is no progress


class Exchange:
    """Shared between HiGHS's thread (callbacks) and the search's (``offer``, ``met``).

    ``columns_of(choice)`` makes HiGHS's full column vector of a search plan (in the
    search's arrays; None when no HiGHS runs, and ``bound`` is then the bound the gap is
    measured against); objectives are HiGHS's own (the model minimizes)."""

    def __init__(self, columns_of: Callable[[np.ndarray], np.ndarray] | None, rel_gap: float,
                 bound: float = -math.inf, stall_seconds: float | None = None,
                 stall_after: float = -math.inf) -> None:
        self._columns_of = columns_of
        self._rel_gap = rel_gap
        self._lock = threading.Lock()
        self._offered: tuple[float, np.ndarray] | None = None  # the search's best
        self._handed = math.inf  # value of the last plan handed to HiGHS
        self._handed_at = -math.inf
        self.highs_best = math.inf  # HiGHS's incumbent, as its callbacks report it
        self.dual_bound = bound  # HiGHS's best bound so far
        self.handed = 0  # plans handed over
        self.failed: str | None = None  # why handing over stopped, if it did
        self.retired = threading.Event()  # HiGHS's run was given up on: it is only to stop
        self._stall_seconds = stall_seconds
        self._stall_after = stall_after  # (perf_counter) no stop for a stall before then
        self._progress = (-math.inf, math.inf)  # (bound, when): its last real rise
        self.stalled = False  # HiGHS was stopped because its bound stalled

    # the search's side
    def offer(self, choice: np.ndarray, value: float) -> None:
        """The search found ``choice`` (its arrays' plan) of objective ``value``."""
        with self._lock:
            if self._offered is None or value < self._offered[0]:
                self._offered = (value, choice.copy())

    def better_than(self, value: float) -> np.ndarray | None:
        """The searches' best plan (a copy) when its objective is below ``value``: for
        another search to carry on from."""
        with self._lock:
            offered = self._offered
        if offered is None or offered[0] >= value - 1e-7:
            return None
        return offered[1].copy()

    def best(self) -> float:
        """The best objective known to either side."""
        offered = self._offered[0] if self._offered is not None else math.inf
        return min(offered, self.highs_best)

    def met(self) -> bool:
        """The best plan known is within the relative gap of HiGHS's bound."""
        best = self.best()
        return math.isfinite(best) and best - self.dual_bound <= self._rel_gap * max(
            1.0, abs(best))

    def bound_by(self, bound: float) -> None:
        """A bound known without HiGHS (the LP relaxation's) for the gap test."""
        self.dual_bound = max(self.dual_bound, bound)

    # HiGHS's side
    def connect(self, columns_of: Callable[[np.ndarray], np.ndarray],
                stall_seconds: float | None, stall_after: float) -> None:
        """HiGHS's model is built: how to make its columns of a plan, and its stall rule
        (as for the constructor), for an exchange made before the model was."""
        self._columns_of = columns_of
        self._stall_seconds = stall_seconds
        self._stall_after = stall_after

    def attach(self, highs: highspy.Highs) -> None:
        if self._columns_of is None:
            raise ValueError("an exchange with HiGHS needs its columns_of")
        highs.cbMipUserSolution.subscribe(self._hand_over)
        highs.cbMipInterrupt.subscribe(self._check)
        highs.cbSimplexInterrupt.subscribe(self._stop_if_met)

    def detach(self, highs: highspy.Highs) -> None:
        highs.cbMipUserSolution.unsubscribe(self._hand_over)
        highs.cbMipInterrupt.unsubscribe(self._check)
        highs.cbSimplexInterrupt.unsubscribe(self._stop_if_met)

    def _note(self, event) -> None:
        out = event.data_out
        if math.isfinite(out.mip_dual_bound):
            self.dual_bound = max(self.dual_bound, float(out.mip_dual_bound))
        if math.isfinite(out.mip_primal_bound):
            self.highs_best = min(self.highs_best, float(out.mip_primal_bound))
        bound, _ = self._progress
        left = self.best() - bound
        if math.isfinite(self.dual_bound) and (
                not math.isfinite(left) or self.dual_bound - bound > STALL_RISE * left):
            self._progress = (self.dual_bound, time.perf_counter())

    def _stalling(self) -> bool:
        """HiGHS's bound has made no real progress for ``stall_seconds``, and it is past
        ``stall_after`` (its root's cuts pause for seconds between rounds)."""
        _, since = self._progress
        now = time.perf_counter()
        return self._stall_seconds is not None and now >= self._stall_after \
            and now - since > self._stall_seconds

    def _hand_over(self, event) -> None:
        if self.retired.is_set():  # given up on (it did not stop when cancelled): its
            return  # callbacks only stop it, holding Python's lock no longer than that
        self._note(event)
        now = time.perf_counter()
        with self._lock:
            offered = self._offered
        if self.failed is not None or offered is None \
                or offered[0] >= min(self._handed, self.highs_best) - 1e-7 \
                or now - self._handed_at < HANDOVER_SECONDS:
            return
        self._handed, self._handed_at = offered[0], now
        try:
            status = event.data_in.setSolution(self._columns_of(offered[1]))
        except Exception as error:  # noqa: BLE001 (raising here would end HiGHS's run)
            self.failed = f"{type(error).__name__}: {error}"
            return
        if status == highspy.HighsStatus.kOk:
            self.handed += 1

    def _check(self, event) -> None:
        self._note(event)
        if self._stalling():
            self.stalled = True
            event.interrupt()
            return
        self._stop_if_met(event)

    def _stop_if_met(self, event) -> None:
        if self.retired.is_set() or self.met():
            event.interrupt()
