"""Pyomo model → HiGHS as whole sparse matrices (the fastest route measured).

Pyomo's persistent HiGHS interface translates a model constraint by constraint;
compiled to sparse matrices in one pass instead, the model goes to ``highspy``
whole (``passModel``): on the rebalancing models this cut the translation time
several-fold (benchmarks/README.md). Pyomo's ``LinearStandardFormCompiler`` did
that pass until :mod:`optimizer.linear_form` read the same matrices off the
expression trees in two thirds of its time. It also gives a direct handle to HiGHS for a
warm start (``setSolution``), which Pyomo's interfaces lack.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import highspy
import numpy as np
import pyomo.environ as pyo

from optimizer.linear_form import linear_form

Outcome = Literal["optimal", "time_limit", "infeasible", "stopped"]
T = TypeVar("T")


@dataclass(frozen=True)
class CompiledModel:
    highs: highspy.Highs
    columns: list  # Pyomo variables, in HiGHS column order
    maximize: bool  # a maximization, turned into a minimization (costs negated)
    seconds: float


@dataclass(frozen=True)
class HighsOutcome:
    outcome: Outcome
    values: dict[int, float]  # id(Pyomo variable) → value (empty without a solution)
    objective: float  # in the model's own sense
    bound: float  # in the model's own sense
    seconds: float
    message: str


_pool_threads: list[int] = []  # the thread count HiGHS's process-wide pool was last built for
_made: list[bool] = []  # a first instance was made (its banner went to /dev/null)
_process_wide = threading.Lock()  # both above are the process's, and searches run in threads


def set_threads(highs: highspy.Highs, threads: int | None) -> None:
    """Ask for ``threads`` threads (None: as many as the process's pool has, or one per
    core for the first run). HiGHS keeps one thread pool per process, sized by the first
    run; a later run asking for another count fails with kError unless the pool is
    rebuilt, which is done here when the count changes (never while another thread
    solves: callers fix the count before starting any). None is never HiGHS's own
    choice (its option's 0): such a run sizes the pool behind this bookkeeping's back
    (two threads here after a one-thread search), and the next one-thread run failed."""
    if not threads:
        with _process_wide:
            threads = _pool_threads[0] if _pool_threads else (os.cpu_count() or 1)
    highs.setOptionValue("threads", int(threads))
    size_pool(int(threads))


def size_pool(threads: int) -> None:
    """HiGHS's process-wide thread pool rebuilt for ``threads`` when it was sized for
    another count (see :func:`set_threads`)."""
    with _process_wide:
        if _pool_threads != [threads]:
            highspy.Highs.resetGlobalScheduler(True)
            _pool_threads[:] = [threads]


def in_yielding_thread(native_ids: list[int], run: Callable[[], T]) -> T:
    """``run()``, with the id of the thread running it kept in ``native_ids`` for
    :func:`yield_cpu`."""
    native_ids.append(threading.get_native_id())
    return run()


def yield_cpu(native_ids: list[int]) -> None:
    """Lowest CPU priority for these threads (Linux; elsewhere nothing). A HiGHS run that
    did not stop when cancelled is in a phase that checks neither its time limit nor an
    interrupt: after the root's cuts, a 42,892-pair part went on 8 s alone and 19 s beside
    the next part's solve, whose two threads it slowed on two cores. Niced, it takes only
    the cores nobody else wants until it ends."""
    if not sys.platform.startswith("linux"):  # elsewhere the id would name a process
        return
    for native_id in native_ids:
        with contextlib.suppress(OSError):  # the thread may have ended meanwhile
            os.setpriority(os.PRIO_PROCESS, native_id, 19)


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that printed nothing: HiGHS writes its banner straight to file
    descriptor 1 when the process makes its first instance, which would corrupt the
    CLI's --json output, so descriptor 1 points at /dev/null meanwhile. Only then:
    two threads redirecting at once could restore each other's /dev/null for good."""
    with _process_wide:
        if _made:
            highs = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as sink:
                    os.dup2(sink.fileno(), 1)
                    highs = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _made.append(True)
    highs.setOptionValue("output_flag", False)
    return highs


def compile_model(model: pyo.ConcreteModel) -> CompiledModel:
    """The model's matrices (:mod:`optimizer.linear_form`) loaded into a fresh HiGHS
    instance (quiet)."""
    started = time.perf_counter()
    form = linear_form(model)
    columns = form.columns
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(columns), form.matrix.shape[0]
    lp.col_cost_ = form.cost
    lp.offset_ = form.offset
    bounds = np.array([v.bounds for v in columns], dtype=float).reshape(-1, 2)  # None: nan
    # (one call a variable for both: 0.2 s less on a 98,059-column model)
    lp.col_lower_ = np.where(np.isnan(bounds[:, 0]), -highspy.kHighsInf, bounds[:, 0])
    lp.col_upper_ = np.where(np.isnan(bounds[:, 1]), highspy.kHighsInf, bounds[:, 1])
    lp.row_lower_, lp.row_upper_ = form.row_lower, form.row_upper  # (±inf: HiGHS's own)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = form.matrix.indptr
    lp.a_matrix_.index_ = form.matrix.indices
    lp.a_matrix_.value_ = form.matrix.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if v.is_integer()
                       else highspy.HighsVarType.kContinuous for v in columns]
    highs = quiet_highs()
    highs.passModel(lp)
    return CompiledModel(highs, columns, form.maximize, time.perf_counter() - started)


def _sign(compiled: CompiledModel) -> float:
    """HiGHS's objective × this is the model's own sense (HiGHS minimizes here)."""
    return -1.0 if compiled.maximize else 1.0


def _by_variable(compiled: CompiledModel, column_values: Sequence[float]) -> dict[int, float]:
    """id(Pyomo variable) → its value, from HiGHS's column values."""
    return {id(v): column_values[i] for i, v in enumerate(compiled.columns)}


def solve_compiled(compiled: CompiledModel, time_limit: float, rel_gap: float,
                   threads: int | None = None,
                   start: dict[int, float] | np.ndarray | None = None,
                   wanted: Callable[[], bool] = lambda: True) -> HighsOutcome:
    """Run HiGHS (from ``start`` when given: id(variable) → value, others 0, or the
    column vector itself). Its plan is read back only if still ``wanted()`` when it
    returns: a run given up on that ends during the rebalancing's report would otherwise
    take Python's lock from it for a dict of 98,059 columns on the largest part."""
    highs = compiled.highs
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("mip_rel_gap", float(rel_gap))
    set_threads(highs, threads)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = (start.tolist() if isinstance(start, np.ndarray)
                              else [start.get(id(v), 0.0) for v in compiled.columns])
        solution.value_valid = True
        highs.setSolution(solution)
    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    status = highs.getModelStatus()
    info = highs.getInfo()
    feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
    sign = _sign(compiled)
    if status == highspy.HighsModelStatus.kOptimal:
        outcome: Outcome = "optimal"
    elif status in (highspy.HighsModelStatus.kInfeasible,
                    highspy.HighsModelStatus.kUnboundedOrInfeasible):
        outcome = "infeasible"
    elif status in (highspy.HighsModelStatus.kTimeLimit,
                    highspy.HighsModelStatus.kInterrupt) and feasible:
        outcome = "time_limit"
    else:
        outcome = "stopped"
    values = {}
    if feasible and wanted():
        values = _by_variable(compiled, highs.getSolution().col_value)
    return HighsOutcome(outcome, values, sign * info.objective_function_value,
                        sign * info.mip_dual_bound, seconds,
                        highs.modelStatusToString(status))


@dataclass(frozen=True)
class Relaxation:
    values: dict[int, float]  # id(Pyomo variable) → value
    objective: float  # in the model's own sense: a bound on the MIP's optimum
    reduced: dict[int, float]  # id(Pyomo variable) → reduced cost (HiGHS's minimization)


def relaxation(compiled: CompiledModel, time_limit: float) -> Relaxation | None:
    """The LP relaxation's solution (HiGHS's ``solve_relaxation``: integrality untouched),
    or None when HiGHS did not solve it within ``time_limit`` seconds; the model is ready
    for :func:`solve_compiled` afterwards."""
    highs = compiled.highs
    set_threads(highs, None)
    highs.setOptionValue("solve_relaxation", True)
    highs.setOptionValue("time_limit", float(time_limit))
    try:
        highs.run()
        solved = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        solution = highs.getSolution()
        value = list(solution.col_value) if solved else []  # one copy
        reduced = list(solution.col_dual) if solved else []
        objective = _sign(compiled) * highs.getInfo().objective_function_value
    finally:
        highs.setOptionValue("solve_relaxation", False)
        highs.clearSolver()  # the MIP starts afresh (not from the LP's status)
    if not solved:
        return None
    return Relaxation(_by_variable(compiled, value), objective,
                      _by_variable(compiled, reduced))
