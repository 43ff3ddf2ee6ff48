"""The last (largest) part's first plan made ahead, in a process that takes only idle cycles.

Parts are solved one after the other, the largest last. Its first 12 s on the
2,000 × 20,000 benchmark went to making the plan its neighbourhood search starts
from: the LP relaxation, the rounding start and the caseload sweep
(:mod:`optimizer.lp_rounding`, :mod:`optimizer.caseload_sweep`). None of these
needs anything the earlier parts find, and while those parts are solved the
machine's second core stands idle for about 7 of their 30 s (their builds hold
Python's lock; a small part's HiGHS proves it and stops). So the same steps run
from the start in a child process at the lowest scheduling priority
(``SCHED_IDLE``, else nice 19): it takes only cycles nobody else wants, and
neither Python's lock nor a priority inversion ties it to the parent (a
thread's Python would take turns with the builds). It tells the parent what it
has as it goes (the LP, each better plan, each caseload swept); when the part
starts, the parent takes the LP if it is there, and once the part's model is
built (the child has a core to itself meanwhile), stops the child and goes on
from its best plan: rounding and caseloads swept already are not done again.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from optimizer.array_relaxation import relaxation, shedding_rows
from optimizer.assignment import AssignmentProblem
from optimizer.caseload_sweep import caseload_sweep
from optimizer.gap_arrays import GapArrays, from_problem, objective
from optimizer.highs_bridge import size_pool
from optimizer.local_search import LpGuide, SearchLog, large_neighbourhoods
from optimizer.lp_rounding import lp_rounding_start
from optimizer.repair import current_completed

AHEAD_SEED = 3  # the part's own searches have seeds 0 and 1, a lingering one 2
_CHILD = ("import os, sys\n"
          "try:\n"
          "    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
          "except (AttributeError, OSError):\n"
          "    try:\n"
          "        os.nice(19)\n"
          "    except (AttributeError, OSError):\n"
          "        pass\n"
          "sys.path.insert(0, sys.argv[1])\n"
          "from optimizer.search_ahead import serve\n"
          "serve()\n")  # the priority first: the imports take 1.8 s of CPU


@dataclass
class Progress:
    """What the child has told so far: the LP, its best plan (pair per job), whether that
    plan is past the rounding, the holders whose caseloads were swept, the sweep's end."""

    guide: LpGuide | None = None
    plan: np.ndarray | None = None
    swept: set[int] = field(default_factory=set)
    sweep_done: bool = False


class SearchAhead:
    """The child process making a part's first plan (module docstring). Started before
    the part is known, so that its imports take the idle core while the rebalancing is
    set up; :meth:`begin` gives it the part, :meth:`take` or :meth:`stop` end it."""

    def __init__(self) -> None:
        """Start the child (OSError where none can be: :func:`start_search_ahead`)."""
        self.g: GapArrays | None = None
        self._progress = Progress()
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(Path(__file__).resolve().parents[1])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True, name="ahead-reader")
        self._reader.start()

    def begin(self, problem: AssignmentProblem, seconds: float) -> GapArrays:
        """Make ``problem``'s first plan, for ``seconds`` at most; its arrays."""
        self.g = from_problem(problem)
        rows = shedding_rows(self.g, problem)
        inputs = pickle.dumps((self.g, rows, seconds), protocol=pickle.HIGHEST_PROTOCOL)
        threading.Thread(target=self._write, args=(inputs,), daemon=True,
                         name="ahead-writer").start()  # (the pipe blocks until the child
        # has imported and reads)
        return self.g

    def _write(self, inputs: bytes) -> None:
        stdin = self._process.stdin
        try:
            if stdin is not None:
                stdin.write(inputs)
                stdin.close()
        except (OSError, ValueError):  # the child is gone (or stopped): nothing ahead
            pass

    def _read(self) -> None:
        stdout = self._process.stdout
        plan: np.ndarray | None = None
        try:
            while stdout is not None:
                kind, value = pickle.load(stdout)
                with self._lock:
                    progress = self._progress
                    if kind == "guide":
                        progress.guide = value
                    elif kind == "plan":
                        jobs, pairs = value
                        plan = pairs.astype(np.int64) if plan is None else plan.copy()
                        plan[jobs] = pairs
                        progress.plan = plan
                    elif kind == "swept":
                        progress.swept.add(value)
                    elif kind == "sweep_done":
                        progress.sweep_done = True
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            return  # the child ended (or was stopped mid-message: that one is dropped)

    def guide(self) -> LpGuide | None:
        """The part's LP relaxation, when the child has solved it."""
        with self._lock:
            return self._progress.guide

    def take(self) -> Progress:
        """Everything the child told, once it is stopped."""
        self.stop()
        self._reader.join()
        with self._lock:
            return self._progress

    def ended(self, timeout: float = 0.0) -> bool:
        """Whether the child has ended, waiting ``timeout`` seconds at most for it."""
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        """End the child now (at once: it holds nothing the parent needs)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self.g is None and self._process.stdin is not None:  # never begun
            self._process.stdin.close()


def start_search_ahead() -> SearchAhead | None:
    """A :class:`SearchAhead`, or None where no child process can be started (an embedded
    Python without an executable): the parts then make their own first plans."""
    try:
        return SearchAhead()
    except OSError:
        return None


class _Teller:
    """The child's side of the pipe: each better plan as the jobs it changes."""

    def __init__(self, out: IO[bytes], g: GapArrays) -> None:
        self._out, self._g = out, g
        self._told: np.ndarray | None = None

    def tell(self, kind: str, value: Any) -> None:
        pickle.dump((kind, value), self._out, protocol=pickle.HIGHEST_PROTOCOL)
        self._out.flush()

    def plan(self, plan: np.ndarray) -> None:
        jobs = np.arange(len(plan)) if self._told is None else np.flatnonzero(
            plan != self._told)
        self.tell("plan", (jobs, plan[jobs]))
        self._told = plan.copy()


def serve() -> None:
    """The child: reads (arrays, shedding rows, seconds) from stdin, tells its progress
    on stdout (pickled (kind, value) pairs), each step as the part's own first search
    takes it (:func:`optimizer.rebalance_search._first_plan`), then searches on."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the pipe
    try:
        g, rows, seconds = pickle.load(sys.stdin.buffer)
    except EOFError:  # stopped before it was given a part
        return
    deadline = time.perf_counter() + seconds
    size_pool(1)
    teller = _Teller(out, g)
    guide = relaxation(g, rows, deadline - time.perf_counter(), 1)
    if guide is None:
        return
    teller.tell("guide", guide)
    choice = current_completed(g)
    rounded = lp_rounding_start(g, guide, deadline, 1)
    if objective(g, rounded) < objective(g, choice):
        choice = rounded
    teller.plan(choice)
    choice = caseload_sweep(g, choice, guide, deadline, 1, found=teller.plan,
                            done=lambda holder: teller.tell("swept", holder))
    if time.perf_counter() >= deadline:
        return
    teller.tell("sweep_done", None)
    large_neighbourhoods(g, choice, guide, deadline, SearchLog(), 1, AHEAD_SEED,
                         found=teller.plan)

