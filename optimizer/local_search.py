"""Improve an assignment within a time limit: shifts and swaps, then LP-guided large
neighbourhood search with HiGHS on small sub-MIPs (DESIGN §4).

HiGHS on a whole tight instance (OR-Library d/e, 80 × 1600) spends its minute
at the root and finds poor incumbents; on a few agents and their jobs it proves
optimality in a fraction of a second. So the search repeatedly frees all jobs of
k agents chosen where the LP relaxation disagrees with the incumbent, solves
that sub-GAP exactly (HiGHS from arrays, warm-started with the incumbent) and
keeps any improvement; k grows while sub-MIPs solve fast and shrinks when they
time out.

LP facts used (minimization, z_LP the LP optimum, UB the incumbent):
* z_LP is a valid lower bound;
* reduced-cost fixing: a pair p at its lower bound with reduced cost
  d_p > UB − z_LP is 0 in every solution better than UB, since any solution x
  costs ≥ z_LP + Σ_p |d_p| · |x_p − x*_p|; such pairs are left out of the
  sub-MIPs (and of the final full MIP, whose bound stays valid because the
  incumbent is in the restricted model);
* a basic LP solution splits at most (agents × periods) jobs, so the LP
  mostly says where jobs go: the LP-rounding greedy (regret on the reduced
  costs) gives a second start that is often far better than MTHG on tight
  instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentError, AssignmentProblem, AssignmentResult
from optimizer.gap_arrays import (
    TOL,
    GapArrays,
    change_of,
    choice_of,
    from_problem,
    highs_model,
    highs_start,
    objective,
    overload,
    to_frame,
    usage,
)
from optimizer.greedy import greedy_choice, place, shift_moves

SUB_OPTIONS: dict = {}
CUTOFF = True
JOB_NEIGHBOURHOODS = 0.5  # share of neighbourhoods that free LP-chosen jobs, not agents
# Share of the time left for HiGHS on the whole (reduced-cost fixed) model at the end:
# on up to ~5,000 pairs its own heuristics beat the neighbourhoods (OR-Library d10100).
SMALL_PAIRS = 5_000
FINAL_MIP_SMALL = 0.7
FINAL_MIP_LARGE = 0.25
RINS_AGREEMENT = 0.99  # a job's pair in the plan with at least this LP value: the LP agrees


@dataclass
class LpGuide:
    """The LP relaxation: value and reduced cost per pair, and its optimum (a lower bound)."""

    x: np.ndarray
    reduced: np.ndarray
    bound: float


@dataclass
class SearchLog:
    build_seconds: float = 0.0  # arrays and HiGHS models built from them
    lp_seconds: float = 0.0
    sub_mips: int = 0
    improvements: int = 0
    mip_bound: float = -np.inf
    proven: bool = False


def lp_relaxation(g: GapArrays, log: SearchLog, threads: int = 1) -> LpGuide | None:
    """Solve the LP relaxation of the whole problem by dual simplex."""
    started = time.perf_counter()
    jobs = np.arange(len(g.jobs))
    h = highs_model(g, np.arange(len(g.cost)), jobs, g.capacity, False, g.max_moves, threads)
    log.build_seconds += time.perf_counter() - started
    h.setOptionValue("solver", "simplex")
    h.run()
    log.lp_seconds += time.perf_counter() - started
    return guide_of(h, len(g.cost))


def guide_of(h: highspy.Highs, pairs: int) -> LpGuide | None:
    """The guide read off an LP over the pairs' columns (first) that HiGHS has just run;
    None unless it was solved to optimality."""
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    return LpGuide(np.asarray(solution.col_value)[:pairs],
                   np.asarray(solution.col_dual)[:pairs],
                   float(h.getInfo().objective_function_value))


def swap_moves(g: GapArrays, choice: np.ndarray, rounds: int = 5) -> np.ndarray:
    """Exchange two jobs between their agents when that lowers the cost and both fit
    (hard capacities; soft ones are left to the shifts and the sub-MIPs).

    Candidates come from one join of the pair table with itself: a pair (j1 → b) with
    cost change d1 < 0 against (j2 → a1) for j2 at b, a1 the agent of j1; the swap's
    change d1 + d2 < 0 and each agent's room after it must be ≥ 0 in every period."""
    if g.soft:
        return choice
    choice = choice.copy()
    for _ in range(rounds):
        free = g.capacity - usage(g, choice)
        current = choice[g.pair_job]
        delta = g.cost - g.cost[current]
        frm = g.pair_agent[current]
        other = np.flatnonzero(frm != g.pair_agent)
        if g.max_moves is not None:
            other = other[~g.move[other] & ~g.move[current[other]]]
        wants = other[delta[other] < -1e-9]
        left = pd.DataFrame({"p1": wants, "a": frm[wants], "b": g.pair_agent[wants]})
        right = pd.DataFrame({"p2": other, "b": frm[other], "a": g.pair_agent[other]})
        both = left.merge(right, on=["a", "b"])
        p1, p2 = both["p1"].to_numpy(), both["p2"].to_numpy()
        gain = -(delta[p1] + delta[p2])
        keep = gain > 1e-9
        p1, p2, gain = p1[keep], p2[keep], gain[keep]
        a, b = g.pair_agent[p2], g.pair_agent[p1]
        room_a = free[a] + g.load[current[p1]] - g.load[p2]
        room_b = free[b] + g.load[current[p2]] - g.load[p1]
        keep = np.all(room_a >= -TOL, axis=1) & np.all(room_b >= -TOL, axis=1)
        p1, p2, gain = p1[keep], p2[keep], gain[keep]
        done = 0
        for k in np.argsort(-gain, kind="stable"):
            j1, j2 = g.pair_job[p1[k]], g.pair_job[p2[k]]
            o1, o2 = choice[j1], choice[j2]
            a, b = g.pair_agent[p2[k]], g.pair_agent[p1[k]]
            if g.pair_agent[o1] != a or g.pair_agent[o2] != b:
                continue  # one of the two jobs moved already this round
            room_a = free[a] + g.load[o1] - g.load[p2[k]]
            room_b = free[b] + g.load[o2] - g.load[p1[k]]
            if np.any(room_a < -TOL) or np.any(room_b < -TOL):
                continue
            free[a], free[b] = room_a, room_b
            choice[j1], choice[j2] = p1[k], p2[k]
            done += 1
        choice = shift_moves(g, choice)
        if done == 0:
            break
    return choice


def _solve_sub(g: GapArrays, choice: np.ndarray, jobs: np.ndarray, pairs: np.ndarray,
               seconds: float, log: SearchLog, threads: int,
               stop: Callable[[], bool] | None = None) -> tuple[np.ndarray | None, bool]:
    """Re-solve the jobs ``jobs`` over ``pairs`` with every other job fixed; (the new
    choice if strictly better, whether HiGHS proved the sub-MIP optimal). With ``stop``,
    HiGHS is interrupted at its next MIP check once ``stop()`` is true (its best plan so
    far still counts)."""
    started = time.perf_counter()
    fixed = np.ones(len(g.jobs), dtype=bool)
    fixed[jobs] = False
    residual = g.capacity - usage(g, choice[fixed])
    budget = None if g.max_moves is None else g.max_moves - int(g.move[choice[fixed]].sum())
    held = g.charged(choice[fixed])
    h = highs_model(g, pairs, jobs, residual, True, budget, threads, held)
    highs_start(g, h, pairs, choice, residual, held)
    h.setOptionValue("time_limit", max(seconds, 0.05))
    h.setOptionValue("mip_rel_gap", 0.0)
    for name, value in SUB_OPTIONS.items():
        h.setOptionValue(name, value)
    if CUTOFF and not g.soft:  # only strictly better sub-solutions are of interest
        margin = 0.5 if np.all(g.cost[pairs] == np.round(g.cost[pairs])) else 1e-6
        h.setOptionValue("objective_bound", float(g.cost[choice[jobs]].sum()) - margin)
    if stop is not None:
        h.cbMipInterrupt.subscribe(_interrupt_when(stop))
    log.build_seconds += time.perf_counter() - started
    h.run()
    log.sub_mips += 1
    proven = h.getModelStatus() in (highspy.HighsModelStatus.kOptimal,  # or, with the
                                    highspy.HighsModelStatus.kInfeasible)  # cutoff: none better
    values = np.asarray(h.getSolution().col_value)[:len(pairs)]
    if len(values) != len(pairs) or not h.getInfo().primal_solution_status:
        return None, proven
    on = pairs[values > 0.5]
    if len(on) != len(jobs):
        return None, proven
    new = choice.copy()
    new[g.pair_job[on]] = on
    if g.soft and g.max_moves is None:  # from the freed jobs alone
        better = change_of(g, choice, new, jobs, residual, held) < -1e-7
    else:
        better = objective(g, new) < objective(g, choice) - 1e-7
    return (new if better else None), proven


def _interrupt_when(stop: Callable[[], bool]) -> Callable[[highspy.HighsCallbackEvent], None]:
    """A MIP interrupt callback that stops HiGHS once ``stop()`` is true."""
    def check(event: highspy.HighsCallbackEvent) -> None:
        if stop():
            event.interrupt()
    return check


def solve_jobs(g: GapArrays, choice: np.ndarray, jobs: np.ndarray, seconds: float,
               log: SearchLog, threads: int = 1, guide: LpGuide | None = None,
               stop: Callable[[], bool] | None = None) -> np.ndarray:
    """``choice`` with ``jobs`` re-placed together exactly over all their pairs (every other
    job kept), when HiGHS finds that better within ``seconds`` (and before ``stop()``);
    with ``guide``, over the pairs reduced-cost fixing leaves (:func:`_allowed`)."""
    pairs = g.job_pairs(jobs)
    if guide is not None:
        pairs = pairs[_allowed(g, choice, guide)[pairs]]
    new, _ = _solve_sub(g, choice, jobs, pairs, seconds, log, threads, stop)
    return choice if new is None else new


def _allowed(g: GapArrays, choice: np.ndarray, guide: LpGuide | None) -> np.ndarray:
    """Pairs that may be in a better solution (reduced-cost fixing), incumbent included."""
    keep = np.ones(len(g.cost), dtype=bool)
    if guide is not None:
        slack = objective(g, choice) - guide.bound
        keep = guide.reduced <= slack + 1e-6 * max(1.0, abs(slack))
    keep[choice] = True
    return keep


def _pick_agents(g: GapArrays, choice: np.ndarray, affinity: np.ndarray, k: int,
                 rng: np.random.Generator) -> np.ndarray:
    """k agents linked by the LP's disagreement with the incumbent and by shared
    eligibility, from a random seed agent; a little noise varies the picks."""
    n_agents = len(g.agents)
    weight = affinity.sum(axis=1) + 1e-3
    chosen = [int(rng.choice(n_agents, p=weight / weight.sum()))]
    link = affinity[chosen[0]] + affinity[:, chosen[0]]
    for _ in range(min(k, n_agents) - 1):
        score = link * rng.uniform(0.5, 1.5, n_agents) + rng.uniform(0, 1e-3, n_agents)
        score[chosen] = -np.inf
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        link = link + affinity[nxt] + affinity[:, nxt]
    return np.array(sorted(chosen))


def _pick_jobs(g: GapArrays, choice: np.ndarray, guide: LpGuide, size: int,
               rng: np.random.Generator) -> np.ndarray:
    """``size`` jobs, drawn with weight 1 + 10 × (1 − LP value of their current pair):
    the jobs the LP would rather place elsewhere, and some others to make room."""
    weight = 1.0 + 10.0 * (1.0 - np.clip(guide.x[choice], 0.0, 1.0))
    size = max(2, min(size, len(g.jobs)))
    return np.sort(rng.choice(len(g.jobs), size=size, replace=False, p=weight / weight.sum()))


def _affinity(g: GapArrays, choice: np.ndarray, guide: LpGuide | None) -> np.ndarray:
    """(A, A): how much moving jobs between two agents could matter: jobs of a eligible
    at b (scaled small), plus the LP mass of a's jobs placed on b."""
    n_agents = len(g.agents)
    affinity = np.zeros((n_agents, n_agents))
    holder = g.pair_agent[choice][g.pair_job]
    np.add.at(affinity, (holder, g.pair_agent), 0.01)
    if guide is not None:
        np.add.at(affinity, (holder, g.pair_agent), guide.x)
    np.fill_diagonal(affinity, 0.0)
    return affinity


def large_neighbourhoods(g: GapArrays, choice: np.ndarray, guide: LpGuide | None,
                         deadline: float, log: SearchLog, threads: int = 1, seed: int = 0,
                         sub_seconds: float = 0.5,
                         until: Callable[[], bool] | None = None,
                         found: Callable[[np.ndarray], None] | None = None,
                         better: Callable[[float], np.ndarray | None] | None = None
                         ) -> np.ndarray:
    """Free the jobs of k agents, solve that sub-GAP exactly, keep improvements; adapt k.
    Stops at ``deadline`` or as soon as ``until()`` is true; ``found`` hears of each
    better plan. With other searches at work, ``better(value)`` is the best plan any
    found when its objective is below ``value`` (else None): this one carries on from it,
    with its own changes since it last did so applied on top when that is better still."""
    rng = np.random.default_rng(seed)
    n_agents = len(g.agents)
    k = min(n_agents, 4)
    affinity = _affinity(g, choice, guide)
    allowed = _allowed(g, choice, guide)
    value = objective(g, choice)
    changed = np.zeros(len(g.jobs), dtype=bool)  # by this search since it last caught up
    while time.perf_counter() < deadline - 0.05 and not (until is not None and until()):
        other = better(value) if better is not None else None
        if other is not None:
            merged = other.copy()
            merged[changed] = choice[changed]
            value, choice = min(((objective(g, plan), plan) for plan in (merged, other)),
                                key=lambda scored: scored[0])
            changed[:] = False
            affinity = _affinity(g, choice, guide)
            allowed = _allowed(g, choice, guide)
        if guide is not None and rng.random() < JOB_NEIGHBOURHOODS:
            jobs = _pick_jobs(g, choice, guide, k * len(g.jobs) // n_agents, rng)
            pairs = g.job_pairs(jobs)
            pairs = pairs[allowed[pairs]]
        else:
            agents = _pick_agents(g, choice, affinity, k, rng)
            member = np.zeros(n_agents, dtype=bool)
            member[agents] = True
            jobs = np.flatnonzero(member[g.pair_agent[choice]])
            pairs = g.job_pairs(jobs)
            pairs = pairs[member[g.pair_agent[pairs]] & allowed[pairs]]
        seconds = min(sub_seconds, deadline - time.perf_counter())
        started = time.perf_counter()
        new, proven = _solve_sub(g, choice, jobs, pairs, seconds, log, threads)
        took = time.perf_counter() - started
        if new is not None:
            before = choice
            choice = shift_moves(g, new)
            value = objective(g, choice)
            changed |= choice != before
            log.improvements += 1
            if found is not None:
                found(choice)
            affinity = _affinity(g, choice, guide)
            allowed = _allowed(g, choice, guide)
        if proven and took < sub_seconds / 4:
            k = min(n_agents, k + 1)
        elif not proven:
            k = max(2, k - 1)
        if proven and k >= n_agents:
            log.proven = log.proven or len(jobs) == len(g.jobs)
            break
    return choice


def disagreeing_jobs(choice: np.ndarray, guide: LpGuide) -> np.ndarray:
    """The jobs whose pair in ``choice`` the LP does not take whole (x < RINS_AGREEMENT)."""
    return np.flatnonzero(guide.x[choice] < RINS_AGREEMENT)


def relaxation_induced(g: GapArrays, choice: np.ndarray, guide: LpGuide, seconds: float,
                       log: SearchLog, threads: int = 1,
                       stop: Callable[[], bool] | None = None) -> np.ndarray:
    """RINS (Danna, Rothberg and Le Pape 2005): every job where the plan and the LP
    relaxation agree stays; those where they disagree (:func:`disagreeing_jobs`) are
    re-placed together, exactly, over the pairs reduced-cost fixing leaves, within
    ``seconds`` and until ``stop()``. ``choice`` unless that finds a better plan (then
    shifted).

    One such sub-MIP frees a fifth of a large part's sites at once, where the
    neighbourhoods free a few CRAs' worth: on the 2,475-site part of 2,000 × 20,000 it
    took the swept plan from 339,650 to 337,350 in 4.7 s (proven for its restriction),
    on the largest (4,524 sites) from 620,700 to 617,000 in 12 s; the neighbourhoods gain
    about 100 a second there (benchmarks/README.md, session 23)."""
    jobs = disagreeing_jobs(choice, guide)
    if len(jobs) == 0 or seconds <= 0.0:
        return choice
    new = solve_jobs(g, choice, jobs, seconds, log, threads, guide, stop)
    if new is choice:
        return choice
    log.improvements += 1
    return shift_moves(g, new)


def _full_mip(g: GapArrays, choice: np.ndarray, guide: LpGuide | None, seconds: float,
              log: SearchLog, threads: int) -> np.ndarray:
    """HiGHS on the whole problem (reduced-cost fixed), from the incumbent: proves small
    instances and gives the lower bound."""
    jobs = np.arange(len(g.jobs))
    pairs = np.flatnonzero(_allowed(g, choice, guide))
    started = time.perf_counter()
    h = highs_model(g, pairs, jobs, g.capacity, True, g.max_moves, threads)
    highs_start(g, h, pairs, choice, g.capacity)
    h.setOptionValue("time_limit", max(seconds, 0.05))
    h.setOptionValue("mip_rel_gap", 1e-9)
    log.build_seconds += time.perf_counter() - started
    h.run()
    info = h.getInfo()
    if np.isfinite(info.mip_dual_bound):
        log.mip_bound = max(log.mip_bound, float(info.mip_dual_bound))
    log.proven = log.proven or h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if info.primal_solution_status:
        values = np.asarray(h.getSolution().col_value)[:len(pairs)]
        on = pairs[values > 0.5]
        if len(on) == len(jobs):
            new = choice.copy()
            new[g.pair_job[on]] = on
            if objective(g, new) < objective(g, choice) - 1e-7:
                return new
    return choice


def search(g: GapArrays, choice: np.ndarray | None, time_limit: float, log: SearchLog,
           threads: int = 1, seed: int = 0) -> tuple[np.ndarray | None, LpGuide | None]:
    """The whole improvement: LP, LP-rounding start, shifts and swaps, a short full MIP
    (enough for small instances), neighbourhoods, and a final full MIP for the bound."""
    started = time.perf_counter()
    deadline = started + time_limit
    guide = lp_relaxation(g, log, threads)
    if guide is not None:
        rounded = place(g, guide.reduced - 1e-3 * guide.x)
        if rounded is not None and (choice is None
                                    or objective(g, rounded) < objective(g, choice)):
            choice = rounded
    if choice is None:
        return None, guide
    choice = swap_moves(g, shift_moves(g, choice))
    rest = deadline - time.perf_counter()
    choice = _full_mip(g, choice, guide, min(0.1 * rest, 5.0), log, threads)
    if log.proven:
        return choice, guide
    rest = deadline - time.perf_counter()
    final_share = FINAL_MIP_SMALL if len(g.cost) <= SMALL_PAIRS else FINAL_MIP_LARGE
    choice = large_neighbourhoods(g, choice, guide, deadline - final_share * rest, log,
                                  threads, seed)
    if not log.proven:
        choice = _full_mip(g, choice, guide, deadline - time.perf_counter(), log, threads)
    return choice, guide


def improve(problem: AssignmentProblem, start: pd.DataFrame | None, time_limit: float = 60.0,
            threads: int = 1, seed: int = 0) -> pd.DataFrame | None:
    """A better (job, agent) assignment than ``start`` within ``time_limit`` seconds (or
    the first feasible one found when ``start`` is None); None when none is found."""
    g = from_problem(problem)
    choice = None if start is None else choice_of(g, start)
    choice, _ = search(g, choice, time_limit, SearchLog(), threads, seed)
    return None if choice is None else to_frame(g, choice)


def solve_gap_heuristic(problem: AssignmentProblem, time_limit: float = 60.0,
                        threads: int = 1, seed: int = 0,
                        start: pd.DataFrame | None = None) -> AssignmentResult:
    """Greedy + LP-guided search, the same contract as ``solve_assignment(..., accept_incumbent
    =True)``: status "optimal" only when HiGHS proved it (or the incumbent meets the
    lower bound), else "time_limit"; bound = max(LP bound, full-MIP bound)."""
    started = time.perf_counter()
    g = from_problem(problem)
    log = SearchLog(build_seconds=time.perf_counter() - started)
    choice = choice_of(g, start) if start is not None else None
    greedy = greedy_choice(g)
    if greedy is not None and (choice is None or objective(g, greedy) < objective(g, choice)):
        choice = greedy
    choice, guide = search(g, choice, time_limit - (time.perf_counter() - started), log,
                           threads, seed)
    if choice is None or not np.isfinite(objective(g, choice)):
        raise AssignmentError("the assignment is infeasible: no assignment within the "
                              "agents' capacities was found")
    value = objective(g, choice)
    bound = max(log.mip_bound, guide.bound if guide is not None else -np.inf)
    integral = not g.soft and np.all(g.cost == np.round(g.cost))
    proven = log.proven or value - bound <= 1e-9 * max(1.0, abs(value)) or (
        integral and value <= np.ceil(bound - 1e-6))
    over = overload(g, usage(g, choice))
    a, t = np.nonzero(over > 1e-6)
    periods = np.unique(problem.capacity["period"].to_numpy())
    overload_frame = pd.DataFrame({"agent": g.agents[a], "period": periods[t],
                                   "hours": over[a, t]})
    assignment = to_frame(g, choice).sort_values("job", kind="stable").reset_index(drop=True)
    return AssignmentResult(
        assignment=assignment, overload=overload_frame, objective=g.sign * value,
        bound=g.sign * (value if proven else bound), status="optimal" if proven else "time_limit",
        build_seconds=log.build_seconds,
        solve_seconds=time.perf_counter() - started - log.build_seconds)
