"""A rebalancing part solved two ways at once: HiGHS bounds it, searches improve the plan.

On the synthetic 300 × 3,000 portfolio's largest part (1,252 sites × 125 CRAs,
44,238 pairs) HiGHS spends its minute on the root's cuts: 90 s left the
LP-rounded start of 213,896 untouched (bound 205,989). The large-neighbourhood
search of :mod:`optimizer.local_search` (free the sites of a few CRAs, solve
that small sub-problem exactly from arrays, keep what improves) took the same
start to 209,217 in 20 s. HiGHS releases Python's interpreter lock while it
solves, so the two run at once on two cores: HiGHS, one thread and without its
own primal heuristics, on the part's whole Pyomo model for the proven bound; the
search in a thread of its own for the plan (it solves the part's LP relaxation while
the calling thread builds that model). They exchange what they find
(:mod:`optimizer.search_exchange`): the search's best plan becomes HiGHS's
incumbent, and both stop once it is within the gap of HiGHS's bound. Once
HiGHS's share is over (65 % of the time, more when its root needs it), a second
search takes its core. HiGHS is stopped at its deadline, and left to end alone
when it does not listen. A part too large for HiGHS to get past its root LP in
its share is left to two searches, with the LP's bound. The result is the best
plan with the best bound. When the caller asks (:func:`solve_and_linger`), the search
goes on from it while the next part is built (:mod:`optimizer.lingering`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np
import pandas as pd

from optimizer.array_relaxation import relaxation_with_shedding
from optimizer.assignment import (
    AssignmentError,
    AssignmentProblem,
    AssignmentResult,
    BuiltModel,
    release,
    solve_built,
)
from optimizer.caseload_sweep import caseload_sweep
from optimizer.gap_arrays import (
    GapArrays,
    choice_of,
    from_problem,
    objective,
    problem_pairs,
    to_frame,
)
from optimizer.greedy import shift_moves
from optimizer.highs_bridge import (
    Relaxation,
    in_yielding_thread,
    set_threads,
    size_pool,
    yield_cpu,
)
from optimizer.lingering import Lingering, searched_result
from optimizer.local_search import (
    LpGuide,
    SearchLog,
    large_neighbourhoods,
    relaxation_induced,
)
from optimizer.lp_guided import MIN_PAIRS
from optimizer.lp_rounding import lp_rounding_start
from optimizer.plan_columns import plan_columns
from optimizer.repair import current_completed
from optimizer.search_exchange import Exchange
from optimizer.shed_start import shed_start

HIGHS_THREADS = 1  # the other core runs the search
LP_SHARE = 0.25  # of a part's time at most for its LP relaxation (0.7 s of dual simplex on
# the largest 2,000 × 20,000 part, made while Pyomo builds the model: array_relaxation)
LP_START_PAIRS = MIN_PAIRS  # from the size where HiGHS alone starts from the LP's rounding
# (lp_guided), the first search does too (lp_rounding); below it from the shedding start,
# and HiGHS always runs (it proves small parts, or nearly, in a second or two)
MIP_SECONDS_PER_PAIR = 1.2e-4  # below this share HiGHS does not get past its root LP
# (9 s on a 77,725-pair part): the LP's bound stands and the search has the time alone
HIGHS_SHARE = 0.65  # of a part's time for HiGHS beside the search; then a second search
# takes its core (their sub-MIPs are 97 % of their time and HiGHS releases the lock in
# them: on the largest 300 × 3,000 part two searches reached 208,567–208,731 in 20 s,
# one 209,695–209,744). Both at once with HiGHS, three threads on two cores, cost HiGHS
# more bound than the second search gained.
ROOT_SECONDS_PER_PAIR = 4.5e-4  # ... but not before HiGHS's root is done: 20 s on that
# part's 44,238 pairs. On the 2,000 × 20,000 largest part (77,725 pairs, 22 s) HiGHS to
# the end left a gap of 19,323, handing its core over at 65 % 26,893 (the LP's bound).
SHED_SHARE = 0.4  # of a part's time at most for the shedding start, made by the first search
# while HiGHS starts its root (a 309-site part of 2,000 × 20,000 in 1.5 s: 44,200–44,400
# with it, 45,000–45,200 without; its 0.15 and 0.25 fell in between)
ROUNDING_SHARE = 0.3  # of a part's time at most for the LP-rounding start (3.6 s on the
# largest 2,000 × 20,000 part: 629,800 where the shedding start gave 636,900), made
# instead of the shedding start where the part's own LP was solved (:func:`_first_plan`)
SWEEP_SHARE = 0.4  # of a part's time at most for the caseload sweep (6.7 s on the largest
# 2,000 × 20,000 part, 2.6 s on the largest 300 × 3,000 one), before the search
RINS_SHARE = 0.35  # of a part's time at most for the RINS sub-MIP after the sweep (on the
# largest 2,000 × 20,000 part it needs 8–12 s of its ~30 to find its better plan)
MIN_RINS_SECONDS = 0.2  # less time than this is left to the neighbourhoods: a RINS sub-MIP
# given 0.05 s took 0.15–0.18 s on the two large 2,000 × 20,000 parts (its model 0.05–0.09 s)
STALL_SECONDS, STALL_SECONDS_PER_PAIR = 2.0, 1e-4  # HiGHS beside the search is stopped
# once its bound has not really risen (search_exchange.STALL_RISE) for the longer of these,
# past the time its root likely needs (ROOT_SECONDS_PER_PAIR) or half its share when that
# is sooner, and the second search takes its core: on the largest 300 × 3,000 part
# (44,238 pairs: 4.4 s) the root's bound is done at 11–15 s, then HiGHS stayed at the root
# without a node until 30 s. Its cuts pause for 4 s and more between rounds before that:
# from the start, a 4.4 s rule stopped it at 205,200 in both of two runs (the root reaches
# 205,870). Where HiGHS's share ends first, a stop at a check keeps the bound of its last
# cuts, which a cancel in the phase after them loses: the 2,475-site part of 2,000 × 20,000
# ended at 335,423–335,552 when stopped so (six runs), at 334,753–335,156 when not (four)
STALL_AFTER_SHARE = 0.5
CANCEL_GRACE = 0.5  # HiGHS's own time limit ends this long before the part's, so that it
# stops and hands its result back within the part's time; cancelled when the searches
# end, it then has at most this long (at least STOP_WAIT) before it is left to end alone.
# What follows its root's cuts (the analytic centre, a separate IPX run) checks neither an
# interrupt nor the time limit: 8 s alone on a 42,892-pair part, and 19–33 s after the
# cancel beside the next part's solve, so it is then niced to the lowest CPU priority.
SECOND_SEARCH_SECONDS = 0.3  # the least time left for a second search: HiGHS's share ends
# 0.5 s before the part's (CANCEL_GRACE) on every part of 2,000 × 20,000, the small ones
# included (their root is likely longer than their time), and a core left idle there
# cost the eight small parts a few hundred (benchmarks/README.md, session 21)
STOP_WAIT = 0.2  # reading a stopped run's plan back takes Python tenths of a second
# Beside the search, HiGHS's own primal heuristics are off: on the largest 300 × 3,000 part
# its sub-MIPs took 15 of 40 s and found nothing the search had not; without them the
# root's cuts reach the same bound (205,868) at 21 s instead of 38 s. Its presolve is off
# too: on the 2,000 × 20,000 largest part (77,725 pairs) presolve and what follows it
# took 10.6 s before the root LP was even started; without them the root LP is solved
# at 2.3 s and the root's cuts reach 611,151 in a 21 s share (602,347, the LP's bound,
# or 607,742 with it). It removed 3 % of the columns there, nothing on a 42,892-pair part.
BESIDE_SEARCH = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rins": False,
                 "mip_heuristic_run_rens": False,
                 "mip_heuristic_run_root_reduced_cost": False,
                 "mip_heuristic_run_feasibility_jump": False, "presolve": "off"}


def searchable(problem: AssignmentProblem) -> bool:
    """The search keeps no move budget across parts nor a cap on sites per CRA, so those
    problems are HiGHS's alone."""
    return problem.sense == "min" and problem.max_moves is None \
        and problem.max_jobs_per_agent is None and problem.overload_penalty is not None


def _guide(g: GapArrays, problem: AssignmentProblem, built: BuiltModel,
           relaxed: Relaxation) -> LpGuide:
    """The Pyomo model's LP relaxation per pair in the arrays' order."""
    at = problem_pairs(g, problem)  # model.x is indexed by the problem's pairs, in order
    variables = list(built.model.x.values())
    x, reduced = np.zeros(len(g.cost)), np.zeros(len(g.cost))
    x[at] = [relaxed.values.get(id(v), 0.0) for v in variables]
    reduced[at] = [relaxed.reduced.get(id(v), 0.0) for v in variables]
    return LpGuide(x, reduced, relaxed.objective)


def _with_plan(problem: AssignmentProblem, result: AssignmentResult,
               plan: pd.DataFrame, seconds: float, rel_gap: float) -> AssignmentResult:
    """HiGHS's result with the searched ``plan`` (job, agent) when that is better; either
    optimal within ``rel_gap`` (HiGHS may have been stopped by the exchange's gap test)."""
    searched = searched_result(problem, plan, result.bound, result.status == "optimal",
                               result.build_seconds, seconds, rel_gap)
    if searched.objective < result.objective - 1e-7 * max(1.0, abs(result.objective)):
        return searched
    met = result.objective - result.bound <= max(1e-9, rel_gap) * max(1.0, abs(
        result.objective))  # (the exchange stops HiGHS once its bound meets the plan: at a
    # zero gap its last bound may end a rounding error below)
    return dataclasses.replace(result, solve_seconds=seconds,
                               status="optimal" if met else result.status)


def _searcher(g: GapArrays, guide: LpGuide | None, deadline: float, exchange: Exchange,
              stop: Callable[[], bool]) -> Callable[[np.ndarray, int], np.ndarray]:
    """A neighbourhood search from a plan, with a seed: it tells ``exchange`` each better
    plan and carries on from the best any search found; it ends at ``deadline`` or when
    ``stop()``."""
    def search(plan: np.ndarray, seed: int) -> np.ndarray:
        return large_neighbourhoods(
            g, plan, guide, deadline, SearchLog(), HIGHS_THREADS, seed, until=stop,
            found=lambda better: exchange.offer(better, objective(g, better)),
            better=exchange.better_than)
    return search


def _rounding_start(g: GapArrays, choice: np.ndarray, guide: LpGuide,
                    time_limit: float, deadline: float, exchange: Exchange,
                    stop: Callable[[], bool]) -> np.ndarray:
    """``choice``, or the LP-rounding start (:mod:`optimizer.lp_rounding`) when that is
    better, told to ``exchange``; at most ROUNDING_SHARE of the part's time."""
    until = min(time.perf_counter() + ROUNDING_SHARE * time_limit, deadline)
    plan = lp_rounding_start(g, guide, until, HIGHS_THREADS, stop)
    if objective(g, plan) >= objective(g, choice):
        return choice
    exchange.offer(plan, objective(g, plan))
    return plan


def _swept(g: GapArrays, choice: np.ndarray, guide: LpGuide | None, time_limit: float,
           deadline: float, exchange: Exchange, stop: Callable[[], bool]) -> np.ndarray:
    """``choice`` after a caseload sweep (:mod:`optimizer.caseload_sweep`), each better plan
    told to ``exchange``; at most SWEEP_SHARE of the part's time."""
    until = min(time.perf_counter() + SWEEP_SHARE * time_limit, deadline)
    return caseload_sweep(g, choice, guide, until, HIGHS_THREADS, stop,
                          lambda plan: exchange.offer(plan, objective(g, plan)))


def _first_plan(g: GapArrays, choice: np.ndarray, guide: LpGuide | None, from_lp: bool,
                time_limit: float, deadline: float, exchange: Exchange,
                stop: Callable[[], bool]) -> np.ndarray:
    """The first search's way from ``choice`` to the plan its neighbourhoods start from: the
    LP-rounding start when the part's own LP was solved (``from_lp``), else the shedding
    start, then a caseload sweep, then one RINS sub-MIP. After the sweep the two starts end
    alike (339,100 and 338,900 on the 2,475-site part of 2,000 × 20,000, 619,727 both on the
    largest, where the shedding start found nothing better than the rounding and took
    1.9 s); the RINS then gains 1,500–3,700 there, where the neighbourhoods gain about 100
    a second."""
    if from_lp and guide is not None:
        choice = _rounding_start(g, choice, guide, time_limit, deadline, exchange, stop)
    else:
        choice = _shedding_start(g, choice, time_limit, deadline, exchange, stop)
    choice = _swept(g, choice, guide, time_limit, deadline, exchange, stop)
    return _relaxation_induced(g, choice, guide, time_limit, deadline, exchange, stop)


def _relaxation_induced(g: GapArrays, choice: np.ndarray, guide: LpGuide | None,
                        time_limit: float, deadline: float, exchange: Exchange,
                        stop: Callable[[], bool]) -> np.ndarray:
    """``choice`` after one RINS sub-MIP (:func:`optimizer.local_search.relaxation_induced`),
    a better plan told to ``exchange``; at most RINS_SHARE of the part's time, interrupted
    once ``stop()`` (HiGHS proved the part meanwhile, or a plan is within the gap)."""
    seconds = min(RINS_SHARE * time_limit, deadline - time.perf_counter())
    if guide is None or stop() or seconds < MIN_RINS_SECONDS:
        return choice
    plan = relaxation_induced(g, choice, guide, seconds, SearchLog(), HIGHS_THREADS, stop)
    if plan is not choice:
        exchange.offer(plan, objective(g, plan))
    return plan


def _shedding_start(g: GapArrays, choice: np.ndarray, time_limit: float, deadline: float,
                    exchange: Exchange, stop: Callable[[], bool]) -> np.ndarray:
    """``choice``, or the shedding start (:mod:`optimizer.shed_start`) when that is better,
    told to ``exchange``; at most SHED_SHARE of the part's time, less once ``stop()``."""
    seconds = min(SHED_SHARE * time_limit, deadline - time.perf_counter())
    shed = shed_start(g, choice, seconds, HIGHS_THREADS, stop)
    exchange.offer(shed, objective(g, shed))
    return shed


def _started_highs(problem: AssignmentProblem, built: BuiltModel, g: GapArrays,
                   exchange: Exchange, plan: np.ndarray, highs_until: float, rel_gap: float,
                   pool: ThreadPoolExecutor, highs_thread: list[int]) -> Future:
    """HiGHS on ``built`` beside the searches, from ``plan`` (the best they have so far),
    until ``highs_until``, telling ``exchange`` what it finds (module docstring)."""
    started = time.perf_counter()
    highs = built.compiled.highs
    highs.HandleUserInterrupt = True  # so that the search can stop it at the deadline
    for name, value in BESIDE_SEARCH.items():
        highs.setOptionValue(name, value)
    root_done = min(ROOT_SECONDS_PER_PAIR * len(problem.pairs),
                    STALL_AFTER_SHARE * (highs_until - started))
    columns_of = plan_columns(problem, built, g)
    exchange.connect(columns_of,
                     stall_seconds=max(STALL_SECONDS, STALL_SECONDS_PER_PAIR * len(problem.pairs)),
                     stall_after=started + root_done)
    exchange.attach(highs)
    return pool.submit(in_yielding_thread, highs_thread, functools.partial(
        solve_built, problem, built, max(0.5, highs_until - started), rel_gap, HIGHS_THREADS,
        True, None, exchange.retired, columns_of(plan)))


def solve_with_search(problem: AssignmentProblem,
                      model: BuiltModel | Callable[[], BuiltModel], start: pd.DataFrame | None,
                      time_limit: float, rel_gap: float,
                      relaxed: Relaxation | None = None) -> AssignmentResult:
    """HiGHS on the part's model and the neighbourhood search from ``start`` (job, agent),
    at once, for ``time_limit`` seconds or until the best plan is within ``rel_gap`` of
    HiGHS's bound (see the module docstring). ``model`` is the built model, or how to
    build it: then the first search solves the LP relaxation from its arrays
    (:mod:`optimizer.array_relaxation`) on the other core while this thread builds, and
    makes its first plan once the model is there (their Python would take turns).
    ``relaxed``: the built model's LP relaxation, when it was solved already. ``start``
    None: the current assignment, completed (:func:`optimizer.repair.current_completed`),
    for a part whose first plan is read off its LP."""
    return solve_and_linger(problem, model, start, time_limit, rel_gap, relaxed)[0]


def solve_and_linger(problem: AssignmentProblem,
                     model: BuiltModel | Callable[[], BuiltModel], start: pd.DataFrame | None,
                     time_limit: float, rel_gap: float, relaxed: Relaxation | None = None,
                     *, linger_until: float | None = None,
                     on_built: Callable[[], None] | None = None
                     ) -> tuple[AssignmentResult, Lingering | None]:
    """:func:`solve_with_search`, and then, with ``linger_until``, the part's search
    carried on in the background from its result's plan (:class:`Lingering`: the caller
    stops it) unless the part is proven. ``on_built`` is called once the model is built
    (or its build failed): the previous part's lingering search stops there."""
    result, g, guide = _solve_part(problem, model, start, time_limit, rel_gap, relaxed,
                                   on_built)
    if linger_until is None or g is None or result.status == "optimal" \
            or linger_until - time.perf_counter() < 1.0:
        return result, None
    plan = choice_of(g, result.assignment)
    if plan is None:
        return result, None
    return result, Lingering(problem, g, guide, plan, result, rel_gap, linger_until)


def _solve_part(problem: AssignmentProblem, model: BuiltModel | Callable[[], BuiltModel],
                start: pd.DataFrame | None, time_limit: float, rel_gap: float,
                relaxed: Relaxation | None, on_built: Callable[[], None] | None
                ) -> tuple[AssignmentResult, GapArrays | None, LpGuide | None]:
    """:func:`solve_and_linger`'s solve: the result, the part's arrays and LP guide (None
    where HiGHS solved it alone)."""
    started = time.perf_counter()
    deadline = started + time_limit
    g = from_problem(problem)
    choice = current_completed(g) if start is None else choice_of(g, start)
    prebuilt = isinstance(model, BuiltModel)  # (the caller's: not released here)
    if choice is None:  # no plan for the search to start from: HiGHS alone
        try:
            built = model if prebuilt else model()
        finally:
            if on_built is not None:
                on_built()
        set_threads(built.compiled.highs, HIGHS_THREADS)
        alone = solve_built(problem, built, max(0.5, deadline - time.perf_counter()), rel_gap,
                            HIGHS_THREADS, True, start)
        if not prebuilt:
            release(built)
        return alone, None, None
    given = _guide(g, problem, model, relaxed) if prebuilt and relaxed is not None else None
    from_lp = relaxed is not None or len(problem.pairs) >= LP_START_PAIRS  # the rounding
    # start (and, short of time, no HiGHS) where the LP is the model's own or the part large
    guides: list[LpGuide | None] = []  # the LP relaxation, once the first search has it
    guide_ready = threading.Event()
    model_ready = threading.Event()  # the model is built (or its build failed)
    build_failed = threading.Event()  # ... and then the search stops too
    exchange = Exchange(None, rel_gap)
    highs_run: list[Future] = []  # HiGHS's run, once started

    def proved() -> bool:
        return bool(highs_run) and highs_run[0].done() and highs_run[0].exception() is None \
            and highs_run[0].result().status == "optimal"

    def settled() -> bool:  # HiGHS proved the part, or the best plan is within the gap
        return proved() or exchange.met() or build_failed.is_set()

    def first_search() -> np.ndarray:
        try:  # on the core the build leaves idle (HiGHS releases Python's lock)
            guides.append(given if given is not None else relaxation_with_shedding(
                g, problem, LP_SHARE * time_limit, HIGHS_THREADS))
        finally:
            guide_ready.set()
        model_ready.wait(max(0.0, deadline - time.perf_counter()))  # the plan's Python
        # would take turns with the build's: that doubled the build on a part's first
        # seconds (2,000 × 20,000: 20–22 % of the time building, against 17–18 %)
        plan = choice if from_lp else shift_moves(g, choice)  # (the rounding start shifts
        # its own plan: on the largest 2,000 × 20,000 part these shifts took 3 s of Python
        # beside the build, and their plan was 20,000 worse than the rounding's)
        exchange.offer(plan, objective(g, plan))  # a plan for the second search even
        # when no start or sweep improves on it
        plan = _first_plan(g, plan, guides[0], from_lp, time_limit, deadline, exchange,
                           settled)
        return _searcher(g, guides[0], deadline, exchange, settled)(plan, 0)

    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="part")
    second_searches: list[Future] = []  # started once HiGHS is done ...
    first_done = threading.Event()  # ... unless the first search is over by then
    highs_thread: list[int] = []
    try:
        size_pool(HIGHS_THREADS)  # before any run
        searching = pool.submit(first_search)
        try:
            built = model if prebuilt else model()
        except BaseException:
            build_failed.set()
            raise
        finally:
            model_ready.set()
            if on_built is not None:
                on_built()
        guide_ready.wait(max(0.0, deadline - time.perf_counter()))
        guide = guides[0] if guides else None
        search = _searcher(g, guide, deadline, exchange, settled)

        def second(_: object) -> None:
            if not (first_done.is_set() or proved()) \
                    and deadline - time.perf_counter() > SECOND_SEARCH_SECONDS:
                plan = exchange.better_than(math.inf)
                second_searches.append(pool.submit(search, choice if plan is None else plan, 1))

        # HiGHS has the first part of the time (beside one search) for its bound, then a
        # second search has its core
        share = max(HIGHS_SHARE, ROOT_SECONDS_PER_PAIR * len(problem.pairs) / time_limit)
        highs_until = min(started + share * time_limit, deadline - CANCEL_GRACE)
        too_short = highs_until - time.perf_counter() < MIP_SECONDS_PER_PAIR * len(problem.pairs)
        if guide is not None and from_lp and too_short:  # no HiGHS: the LP's bound, two searches
            exchange.bound_by(guide.bound)
            second(None)
        else:
            plan = exchange.better_than(math.inf)
            highs_run.append(_started_highs(problem, built, g, exchange,
                                            choice if plan is None else plan, highs_until,
                                            rel_gap, pool, highs_thread))
            highs_run[0].add_done_callback(second)
        first = searching.result()
        first_done.set()
        plans = [first, *[other.result() for other in list(second_searches)]]
        choice = min(plans, key=lambda plan: objective(g, plan))
        running = highs_run[0] if highs_run else None
        if running is not None:  # the search ended first (proven, or out of time): HiGHS
            # has until its own end
            wait([running], timeout=max(0.0, highs_until - time.perf_counter()))
            if not running.done():
                built.compiled.highs.cancelSolve()  # the request stays set on ``built``
                wait([running], timeout=min(CANCEL_GRACE, max(
                    STOP_WAIT, deadline - time.perf_counter())))
    finally:
        pool.shutdown(wait=False)
    lp_bound = guide.bound if guide is not None else -math.inf

    def searched() -> AssignmentResult:  # the search's plan, the best bound known
        return searched_result(problem, to_frame(g, choice),
                               max(exchange.dual_bound, lp_bound), False, built.seconds,
                               time.perf_counter() - started, rel_gap)

    # HiGHS still running is in a phase that never checks for an interrupt: it ends there,
    # in the background, not in the next part's way (at the lowest priority, holding
    # Python's lock as little as it can). It reads nothing of the Pyomo model once it
    # returns (solve_built raises, given up on), so the model is released now: kept for
    # it, the largest part's model became garbage only when the run ended, during the
    # report, and its collection took 0.8 s there (1.7 million objects; two runs of five)
    if running is not None and not running.done():
        exchange.retired.set()
        yield_cpu(highs_thread)
        if not prebuilt:
            release(built)
        return searched(), g, guide
    if not prebuilt:  # nothing reads the model any more
        release(built)
    if running is None:
        return searched(), g, guide
    exchange.detach(built.compiled.highs)
    try:
        result = running.result()
    except AssignmentError:  # stopped before it had a plan: the search's stands
        return searched(), g, guide
    if not math.isfinite(result.objective):
        return searched(), g, guide
    if lp_bound > result.bound:  # stopped before its root LP: the LP's bound holds
        result = dataclasses.replace(result, bound=min(lp_bound, result.objective))
    return _with_plan(problem, result, to_frame(g, choice), time.perf_counter() - started,
                      rel_gap), g, guide
