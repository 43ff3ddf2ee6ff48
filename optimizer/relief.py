"""Which sites an over-capacity CRA should hand over: its own small problem, solved exactly.

A CRA whose current sites alone exceed its capacity keeps overload until some of
them leave, and each one that leaves costs at least its cheapest other CRA
(the move, the travel, a study that CRA does not work on yet). Which ones to shed
is a small covering problem over the months (a few dozen sites, twelve months)
that HiGHS solves in milliseconds; the repair start's one-move-at-a-time gains
(:mod:`optimizer.repair`) often shed more sites than needed, or the wrong ones.

For CRA a with current sites j (hours h[j, t], cost s[j] if it stays, c[j] if it
leaves, c[j] = ∞ for a site that cannot) and capacity k[t]:

    least(a) = min_{z ∈ {0,1}^J}  Σ_j c[j] z[j] + s[j] (1 − z[j])
               + P · Σ_t max(0, Σ_j h[j, t] (1 − z[j]) − k[t])
               + G · |studies a keeps a site of|        (only when ``studies`` given)

A time-limited solve returns the best shed set HiGHS found (keeping every site, the
worst case, when it found none).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from optimizer.highs_bridge import quiet_highs, set_threads

RELIEF_SECONDS = 0.5  # a single CRA's problem: milliseconds as a rule
FEASIBLE = 2  # HiGHS's solution status of a feasible point (1: an infeasible one)


@dataclass(frozen=True)
class Relief:
    """One CRA's best shed set found and what it costs (least(a) when HiGHS proved it)."""

    value: float  # the cost of ``shed``
    shed: np.ndarray  # (J,) bool: the sites to hand over in the best plan found


def least_relief(hours: np.ndarray, capacity: np.ndarray, stay: np.ndarray,
                 leave: np.ndarray, penalty: float, studies: np.ndarray | None = None,
                 study_penalty: float = 0.0, seconds: float = RELIEF_SECONDS,
                 threads: int = 1) -> Relief:
    """least(a) of the module docstring: ``hours`` (J, T), ``capacity`` (T,), ``stay``
    and ``leave`` (J,) costs (``leave`` ∞: the site cannot go), ``penalty`` per hour
    over; ``studies`` (J,) study numbers, −1 for a study paid for anyway; HiGHS has
    ``seconds`` and ``threads`` (the count every HiGHS run of the process uses)."""
    n, periods = hours.shape
    movable = np.isfinite(leave)
    excess = hours.sum(axis=0) - capacity
    rows_t = np.flatnonzero(excess > 1e-9)
    kept = np.unique(studies[studies >= 0]) if studies is not None and study_penalty > 0 \
        else np.empty(0, dtype=np.int64)
    # columns: z (n), over (per period with excess), keep (per study)
    n_over, n_keep = len(rows_t), len(kept)
    cost = np.concatenate([np.where(movable, leave - stay, 0.0),
                           np.full(n_over, float(penalty)), np.full(n_keep, study_penalty)])
    upper = np.concatenate([movable.astype(float), np.full(n_over, highspy.kHighsInf),
                            np.ones(n_keep)])
    row, col, val = [], [], []
    for r, t in enumerate(rows_t):  # over[t] + Σ_j h[j, t] z[j] ≥ excess[t]
        on = np.flatnonzero(hours[:, t] > 0)
        row += [np.full(len(on) + 1, r)]
        col += [on, [n + r]]
        val += [hours[on, t], [1.0]]
    if n_keep:  # keep[S] + z[j] ≥ 1 for j ∈ S
        member = np.flatnonzero(studies >= 0)
        links = n_over + np.arange(len(member))
        row += [links, links]
        col += [member, n + n_over + np.searchsorted(kept, studies[member])]
        val += [np.ones(len(member)), np.ones(len(member))]
    lower = np.concatenate([excess[rows_t], np.ones(len(member)) if n_keep else np.zeros(0)])
    constant = float(stay.sum())
    if len(lower) == 0:  # nothing over, no study counted: each site where it costs least
        shed = movable & (leave < stay)
        value = float(np.where(shed, leave, stay).sum())
        return Relief(value, shed)
    row_a = np.concatenate([np.asarray(x, dtype=np.int64) for x in row])
    col_a = np.concatenate([np.asarray(x, dtype=np.int64) for x in col])
    val_a = np.concatenate([np.asarray(x, dtype=float) for x in val])
    order = np.lexsort((row_a, col_a))
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(lower)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = upper
    lp.row_lower_ = lower
    lp.row_upper_ = np.full(len(lower), highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(col_a[order], np.arange(len(cost) + 1)).astype(
        np.int32)
    lp.a_matrix_.index_ = row_a[order].astype(np.int32)
    lp.a_matrix_.value_ = val_a[order]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + (
        [highspy.HighsVarType.kContinuous] * n_over) + [highspy.HighsVarType.kContinuous] * n_keep
    h = quiet_highs()
    set_threads(h, threads)
    h.setOptionValue("time_limit", max(float(seconds), 0.01))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.passModel(lp)
    h.run()
    info = h.getInfo()
    if info.primal_solution_status != FEASIBLE:  # not at these sizes; keeping all is a plan
        keep_all = constant + penalty * float(excess[rows_t].sum()) + study_penalty * n_keep
        return Relief(keep_all, np.zeros(n, dtype=bool))
    shed = np.asarray(h.getSolution().col_value)[:n] > 0.5
    return Relief(constant + float(info.objective_function_value), shed)
