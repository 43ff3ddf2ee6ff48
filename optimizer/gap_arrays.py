"""The assignment problem as flat numpy arrays over its eligible pairs (the heuristics' view).

The heuristics never build agents × jobs × periods arrays: a CRO instance of
2,000 CRAs × 20,000 sites × 12 months would be 480M cells, while its eligible
pairs (10–50 per site) are at most 1M rows × 12 periods. Pairs are sorted by
job, so a job's options are one contiguous slice (``job_ptr``); ``by_agent``
lists the same pairs grouped by agent. Costs are always minimized (a
maximization problem's costs are negated), so every heuristic has one sense.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem
from optimizer.highs_bridge import quiet_highs, set_threads

TOL = 1e-9


@dataclass(frozen=True)
class GapArrays:
    agents: np.ndarray  # labels of the agents, index = agent number
    jobs: np.ndarray  # labels of the jobs
    pair_agent: np.ndarray  # (P,) agent number of each eligible pair, pairs sorted by job
    pair_job: np.ndarray  # (P,) job number
    cost: np.ndarray  # (P,) cost to minimize (sign applied)
    load: np.ndarray  # (P, T) what the pair takes of its agent's capacity per period
    capacity: np.ndarray  # (A, T)
    move: np.ndarray  # (P,) bool: the pair moves the job away from its current agent
    job_ptr: np.ndarray  # (J + 1,) pairs of job j are job_ptr[j]:job_ptr[j + 1]
    by_agent: np.ndarray  # (P,) pair numbers grouped by agent
    agent_ptr: np.ndarray  # (A + 1,) by_agent[agent_ptr[a]:agent_ptr[a + 1]] are a's pairs
    penalty: float | None  # price per unit of overload; None = hard capacities
    max_moves: int | None
    sign: float  # +1 min, −1 max: original objective = sign × internal objective
    job_group: np.ndarray | None = None  # (J,) group number of each job (a site's study)
    pair_paid: np.ndarray | None = None  # (P,) the pair's (agent, group) is paid for already
    group_penalty: float = 0.0  # per (agent, group) worked and not paid: always a cost
    group_count: int = 0  # number of groups (job_group < group_count)

    @property
    def soft(self) -> bool:
        return self.penalty is not None

    @property
    def grouped(self) -> bool:
        return self.job_group is not None and self.group_penalty > 0

    def group_key(self, pairs: np.ndarray) -> np.ndarray:
        """(agent, group) of each pair as one number (grouped problems only)."""
        return self.pair_agent[pairs] * self.group_count + self.job_group[self.pair_job[pairs]]

    def charged(self, pairs: np.ndarray) -> np.ndarray:
        """Sorted (agent, group) keys the given pairs pay for (none when not grouped)."""
        if not self.grouped:
            return np.empty(0, dtype=np.int64)
        marked = np.zeros(len(self.agents) * self.group_count, dtype=bool)  # a mark per
        marked[self.group_key(pairs[~self.pair_paid[pairs]])] = True  # key: np.unique's
        return np.flatnonzero(marked)  # hashing took 1.4 of a 12 s caseload sweep

    def key(self, agent: np.ndarray, job: np.ndarray) -> np.ndarray:
        return agent.astype(np.int64) * len(self.jobs) + job

    def job_pairs(self, jobs: np.ndarray) -> np.ndarray:
        """All pair numbers of the given jobs (their options), job by job."""
        lo, hi = self.job_ptr[jobs], self.job_ptr[jobs + 1]
        lengths = hi - lo
        offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.arange(int(lengths.sum())) + offsets

    def pair_of(self, agent: np.ndarray, job: np.ndarray) -> np.ndarray:
        """Pair numbers of (agent, job) numbers; −1 where not eligible."""
        keys = self.key(self.pair_agent, self.pair_job)
        order = np.argsort(keys, kind="stable")
        wanted = self.key(np.asarray(agent), np.asarray(job))
        at = np.clip(np.searchsorted(keys, wanted, sorter=order), 0, len(keys) - 1)
        found = order[at]
        return np.where(keys[found] == wanted, found, -1)


def from_problem(problem: AssignmentProblem) -> GapArrays:
    """Number agents, jobs and periods; one row per eligible pair, sorted by job."""
    pairs = problem.pairs
    agents, agent_no = np.unique(pairs["agent"].to_numpy(), return_inverse=True)
    jobs, job_no = np.unique(pairs["job"].to_numpy(), return_inverse=True)
    periods = np.unique(problem.capacity["period"].to_numpy())
    order = np.lexsort((agent_no, job_no))
    pair_agent, pair_job = agent_no[order].astype(np.int64), job_no[order].astype(np.int64)
    sign = 1.0 if problem.sense == "min" else -1.0
    cost = sign * pairs["cost"].to_numpy(float)[order]
    move = (pairs["move"].to_numpy(bool)[order] if "move" in pairs
            else np.zeros(len(order), dtype=bool))
    a_of = pd.Index(agents)
    t_of = pd.Index(periods)
    capacity = np.zeros((len(agents), len(periods)))
    cap = problem.capacity[problem.capacity["agent"].isin(a_of)]
    capacity[a_of.get_indexer(cap["agent"]), t_of.get_indexer(cap["period"])] = (
        cap["capacity"].to_numpy(float))
    load = np.zeros((len(order), len(periods)))
    known = problem.load[problem.load["period"].isin(t_of) & problem.load["agent"].isin(a_of)]
    la, lj = a_of.get_indexer(known["agent"]), pd.Index(jobs).get_indexer(known["job"])
    keys = pair_agent * len(jobs) + pair_job
    sorter = np.argsort(keys, kind="stable")
    wanted = la.astype(np.int64) * len(jobs) + lj
    at = np.clip(np.searchsorted(keys, wanted, sorter=sorter), 0, len(keys) - 1)
    row = sorter[at]
    ok = (lj >= 0) & (keys[row] == wanted)  # loads of ineligible pairs never count
    np.add.at(load, (row[ok], t_of.get_indexer(known["period"])[ok]),
              known["amount"].to_numpy(float)[ok])
    job_ptr = np.searchsorted(pair_job, np.arange(len(jobs) + 1))
    by_agent = np.argsort(pair_agent, kind="stable")
    agent_ptr = np.searchsorted(pair_agent[by_agent], np.arange(len(agents) + 1))
    job_group, pair_paid = _groups(problem, agents, jobs, pair_agent, pair_job)
    grouped = job_group is not None
    return GapArrays(agents, jobs, pair_agent, pair_job, cost, load, capacity, move, job_ptr,
                     by_agent, agent_ptr, problem.overload_penalty, problem.max_moves, sign,
                     job_group, pair_paid, problem.group_penalty if grouped else 0.0,
                     int(job_group.max()) + 1 if grouped and len(job_group) else 0)


def _groups(problem: AssignmentProblem, agents: np.ndarray, jobs: np.ndarray,
            pair_agent: np.ndarray, pair_job: np.ndarray
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each job's group number (a job without one is its own group) and whether each
    pair's (agent, group) is paid for by jobs outside the problem."""
    if not problem.spreads_groups:
        return None, None
    label = problem.groups.drop_duplicates("job").set_index("job")["group"].reindex(jobs)
    _, job_group = np.unique(label.astype(str).where(label.notna(), "\x00" + pd.Series(
        jobs, index=label.index).astype(str)).to_numpy(), return_inverse=True)
    pair_paid = np.array([(a, g) in problem.worked for a, g in zip(
        agents[pair_agent], label.to_numpy()[pair_job], strict=True)], dtype=bool) \
        if problem.worked else np.zeros(len(pair_agent), dtype=bool)
    return job_group.astype(np.int64), pair_paid


def current_pairs(g: GapArrays) -> np.ndarray:
    """The pairs of the current assignment: each job's pair that is no move, for the jobs
    that have a current agent (a job with a move has one)."""
    held = np.flatnonzero(~g.move)
    owned = np.zeros(len(g.jobs), dtype=bool)
    owned[g.pair_job[g.move]] = True
    return held[owned[g.pair_job[held]]]


def usage(g: GapArrays, choice: np.ndarray) -> np.ndarray:
    """(A, T) capacity used by the chosen pairs (``choice``: one pair number per job)."""
    agents, periods = g.capacity.shape  # one bincount over (agent, period) cells: np.add.at
    # took 1.2 of a 12 s caseload sweep on the largest 2,000 × 20,000 part
    cells = g.pair_agent[choice][:, None] * periods + np.arange(periods)
    return np.bincount(cells.ravel(), weights=g.load[choice].ravel(),
                       minlength=agents * periods).reshape(agents, periods)


def overload(g: GapArrays, used: np.ndarray) -> np.ndarray:
    return np.maximum(used - g.capacity, 0.0)


def objective(g: GapArrays, choice: np.ndarray) -> float:
    """Internal (minimized) objective: Σ cost of the chosen pairs + penalty × Σ overload;
    +inf when capacities are hard and one is exceeded or the move budget is broken."""
    over = overload(g, usage(g, choice))
    if g.max_moves is not None and int(g.move[choice].sum()) > g.max_moves:
        return np.inf
    groups = g.group_penalty * len(g.charged(choice))
    if g.soft:
        return float(g.cost[choice].sum() + g.penalty * over.sum() + groups)
    if over.max(initial=0.0) > 1e-6:
        return np.inf
    return float(g.cost[choice].sum() + groups)


def in_sorted(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for sorted ``keys`` by binary search (np.isin sorts or
    hashes both each call: a second of a caseload sweep's 305 sub-MIPs)."""
    if len(keys) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return keys[at] == values


def change_of(g: GapArrays, choice: np.ndarray, new: np.ndarray, jobs: np.ndarray,
              residual: np.ndarray, held: np.ndarray) -> float:
    """objective(new) − objective(choice) for two plans that differ only on ``jobs``, from
    those jobs alone: ``residual`` is capacity − what the other jobs use, ``held`` the
    sorted (agent, group) keys the other jobs pay for (:meth:`GapArrays.charged`). Soft
    capacities without a move budget only (else the objectives may be infinite)."""
    old_pairs, new_pairs = choice[jobs], new[jobs]
    agents = np.unique(np.concatenate([g.pair_agent[old_pairs], g.pair_agent[new_pairs]]))
    change = float(g.cost[new_pairs].sum() - g.cost[old_pairs].sum())
    for sign, pairs in ((1.0, new_pairs), (-1.0, old_pairs)):
        used = np.zeros((len(agents), g.capacity.shape[1]))
        np.add.at(used, np.searchsorted(agents, g.pair_agent[pairs]), g.load[pairs])
        change += sign * g.penalty * float(np.maximum(used - residual[agents], 0.0).sum())
        if g.grouped:
            keys = g.charged(pairs)
            change += sign * g.group_penalty * int((~in_sorted(keys, held)).sum())
    return change


def problem_pairs(g: GapArrays, problem: AssignmentProblem) -> np.ndarray:
    """The arrays' pair number of each of the problem's pairs, in the problem's order
    (the order of the Pyomo model's x)."""
    return g.pair_of(pd.Index(g.agents).get_indexer(problem.pairs["agent"]),
                     pd.Index(g.jobs).get_indexer(problem.pairs["job"]))


def to_frame(g: GapArrays, choice: np.ndarray) -> pd.DataFrame:
    """(job, agent) rows in the problem's labels."""
    return pd.DataFrame({"job": g.jobs[g.pair_job[choice]],
                         "agent": g.agents[g.pair_agent[choice]]})


def choice_of(g: GapArrays, assignment: pd.DataFrame) -> np.ndarray | None:
    """Pair number per job from (job, agent) rows; None when a job is missing or ineligible."""
    j = pd.Index(g.jobs).get_indexer(assignment["job"])
    a = pd.Index(g.agents).get_indexer(assignment["agent"])
    if (j < 0).any() or (a < 0).any() or len(np.unique(j)) != len(g.jobs):
        return None
    pairs = g.pair_of(a, j)
    if (pairs < 0).any():
        return None
    choice = np.empty(len(g.jobs), dtype=np.int64)
    choice[j] = pairs
    return choice


def new_groups(g: GapArrays, pairs: np.ndarray, held: np.ndarray | None) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (agent, group) keys that ``pairs`` would newly pay for (not paid, not in the
    sorted ``held`` keys of jobs outside the model) with two or more of the pairs, which
    of ``pairs`` (positions) charge which of them (index into the keys), and the
    positions of pairs alone with their key (charged on x itself: see
    :func:`optimizer.assignment.add_group_spread_constraints`)."""
    empty = np.empty(0, dtype=np.int64)
    if not g.grouped:
        return empty, empty, empty, empty
    key = g.group_key(pairs)
    open_ = ~g.pair_paid[pairs]
    if held is not None and len(held):
        open_ &= ~in_sorted(key, held)
    position = np.flatnonzero(open_)
    keys, which, count = np.unique(key[position], return_inverse=True, return_counts=True)
    shared = count[which] >= 2
    kept, renumbered = np.unique(which[shared], return_inverse=True)
    return keys[kept], position[shared], renumbered, position[~shared]


def highs_model(g: GapArrays, pairs: np.ndarray, jobs: np.ndarray, residual: np.ndarray,
                integer: bool, move_budget: float | None, threads: int = 1,
                held: np.ndarray | None = None) -> highspy.Highs:
    """The GAP restricted to ``pairs`` (of the ``jobs`` left free) as a HiGHS model built
    from arrays (no modelling layer): columns x_p (p ∈ pairs), then over[a, t] for the
    agents involved when soft, then y[a, g] ∈ {0, 1} for each (agent, group) the pairs may
    newly pay for when grouped; rows Σ_{p ∈ P(j)} x_p = 1 (j ∈ jobs), then per agent a and
    period t  Σ_p load[p, t] x_p − over[a, t] ≤ residual[a, t], then Σ_{p: move} x_p ≤
    budget, then x_p − y[a, g] ≤ 0 (``held``: sorted (agent, group) keys paid by the jobs
    outside the model: free to join).

    Capacity rows only for (a, t) with some load; rows of jobs in the order of ``jobs``."""
    n = len(pairs)
    job_row = np.searchsorted(jobs, g.pair_job[pairs])
    agents = np.unique(g.pair_agent[pairs])
    local = np.searchsorted(agents, g.pair_agent[pairs])
    periods = g.capacity.shape[1]
    nz_p, nz_t = np.nonzero(g.load[pairs])
    cap_key = local[nz_p] * periods + nz_t
    keys, cap_row = np.unique(cap_key, return_inverse=True)
    first_cap = len(jobs)
    rows_col = [job_row, first_cap + cap_row]
    cols = [np.arange(n), nz_p]
    vals = [np.ones(n), g.load[pairs][nz_p, nz_t]]
    lower = [np.ones(len(jobs)), np.full(len(keys), -np.inf)]
    upper = [np.ones(len(jobs)),
             residual[agents[keys // periods], keys % periods]]
    group_keys, linked, link_key, alone = new_groups(g, pairs, held)
    pair_cost = g.cost[pairs]  # a copy: the pairs alone with their group pay for it here
    pair_cost[alone] += g.group_penalty
    costs = [pair_cost]
    n_over = 0
    if g.soft:
        n_over = len(keys)
        rows_col.append(first_cap + np.arange(n_over))
        cols.append(n + np.arange(n_over))
        vals.append(-np.ones(n_over))
        costs.append(np.full(n_over, float(g.penalty)))
    if move_budget is not None:
        moving = np.flatnonzero(g.move[pairs])
        rows_col.append(np.full(len(moving), first_cap + len(keys)))
        cols.append(moving)
        vals.append(np.ones(len(moving)))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(move_budget)]))
    n_y = len(group_keys)
    if n_y:
        first = int(sum(len(x) for x in lower))
        links = first + np.arange(len(linked))
        rows_col += [links, links]
        cols += [linked, n + n_over + link_key]
        vals += [np.ones(len(linked)), -np.ones(len(linked))]
        lower.append(np.full(len(linked), -np.inf))
        upper.append(np.zeros(len(linked)))
        costs.append(np.full(n_y, float(g.group_penalty)))
    row, col, val = np.concatenate(rows_col), np.concatenate(cols), np.concatenate(vals)
    order = np.lexsort((row, col))
    num_col = n + n_over + n_y
    lp = highspy.HighsLp()
    lp.num_col_ = num_col
    lp.num_row_ = int(sum(len(x) for x in lower))
    lp.col_cost_ = np.concatenate(costs)
    lp.col_lower_ = np.zeros(num_col)
    lp.col_upper_ = np.concatenate([np.ones(n), np.full(n_over, np.inf), np.ones(n_y)])
    lp.row_lower_ = np.concatenate(lower)
    lp.row_upper_ = np.concatenate(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(col[order], np.arange(num_col + 1)).astype(np.int32)
    lp.a_matrix_.index_ = row[order].astype(np.int32)
    lp.a_matrix_.value_ = val[order]
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n + (
            [highspy.HighsVarType.kContinuous] * n_over) + [highspy.HighsVarType.kInteger] * n_y
    h = quiet_highs()
    set_threads(h, threads)
    h.passModel(lp)
    return h


def highs_start(g: GapArrays, h: highspy.Highs, pairs: np.ndarray, choice: np.ndarray,
                residual: np.ndarray, held: np.ndarray | None = None) -> None:
    """Hand HiGHS the incumbent restricted to ``pairs`` (x, the overload and the groups
    worked it implies; ``held`` as for :func:`highs_model`)."""
    chosen = choice[g.pair_job[pairs]] == pairs  # (np.isin over every job's choice: a
    # second of a caseload sweep)
    values = [chosen.astype(float)]
    if g.soft:
        agents = np.unique(g.pair_agent[pairs])
        periods = g.capacity.shape[1]
        nz_p, nz_t = np.nonzero(g.load[pairs])
        keys = np.unique(np.searchsorted(agents, g.pair_agent[pairs])[nz_p] * periods + nz_t)
        used = np.zeros((len(agents), periods))
        on = pairs[chosen]
        np.add.at(used, np.searchsorted(agents, g.pair_agent[on]), g.load[on])
        over = np.maximum(used - residual[agents], 0.0)
        values.append(over[keys // periods, keys % periods])
    if g.grouped:
        keys, position, which, _ = new_groups(g, pairs, held)
        worked = np.zeros(len(keys))
        worked[which[chosen[position]]] = 1.0
        values.append(worked)
    solution = highspy.HighsSolution()
    solution.col_value = np.concatenate(values)
    solution.value_valid = True
    h.setSolution(solution)
