"""A good first incumbent for rebalancing: the current assignment, repaired greedily.

HiGHS is only as good as its first incumbent on large models. Start from who
holds each site now (a site without a CRA goes to its eligible CRA with most
room), then, while moves are allowed, make the moves that save the most: for every
site of an over-capacity CRA and every other eligible CRA,

    gain = penalty · (overload removed at the giver − overload added at the taker)
           − (cost[taker, site] − cost[giver, site]),

vectorized over all candidates and periods; apply the positive gains best first,
at most one per CRA a round (a gain depends only on its two CRAs' hours, so each
applied gain is exact: one move a round took 10 s on a 4,524-site part), never
move a site twice, respect the per-CRA site cap, stop when no move gains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.assignment import AssignmentProblem
from optimizer.gap_arrays import GapArrays, current_pairs, usage


def repair_start(problem: AssignmentProblem, current: pd.DataFrame) -> pd.DataFrame:
    """(job, agent) rows: ``current`` (job, agent) completed and repaired within the
    problem's move budget; capacities soft at ``problem.overload_penalty``."""
    pairs = problem.pairs.reset_index(drop=True)
    agents = np.unique(pairs["agent"].astype(str))
    jobs = np.unique(pairs["job"].astype(str))
    periods = np.unique(problem.capacity["period"].astype(str))
    a_of = pd.Series(np.arange(len(agents)), index=agents)
    j_of = pd.Series(np.arange(len(jobs)), index=jobs)
    t_of = pd.Series(np.arange(len(periods)), index=periods)
    pair_agent = a_of[pairs["agent"].astype(str)].to_numpy()
    pair_job = j_of[pairs["job"].astype(str)].to_numpy()
    pair_cost = pairs["cost"].to_numpy(float)
    pair_of = pd.Series(np.arange(len(pairs)), index=pd.MultiIndex.from_arrays(
        [pairs["agent"].astype(str), pairs["job"].astype(str)]))
    load = problem.load[problem.load["period"].astype(str).isin(t_of.index)]
    pair_load = np.zeros((len(pairs), len(periods)))
    rows = pair_of[pd.MultiIndex.from_arrays([load["agent"].astype(str),
                                              load["job"].astype(str)])].to_numpy()
    np.add.at(pair_load, (rows, t_of[load["period"].astype(str)].to_numpy()),
              load["amount"].to_numpy(float))
    capacity = np.zeros((len(agents), len(periods)))
    known = problem.capacity[problem.capacity["agent"].astype(str).isin(a_of.index)]
    capacity[a_of[known["agent"].astype(str)].to_numpy(),
             t_of[known["period"].astype(str)].to_numpy()] = known["capacity"].to_numpy(float)

    chosen = np.full(len(jobs), -1)  # the pair each job uses
    held = current.dropna(subset=["agent"])
    keys = pd.MultiIndex.from_arrays([held["agent"].astype(str), held["job"].astype(str)])
    present = keys.isin(pair_of.index)
    chosen[pair_job[pair_of[keys[present]].to_numpy()]] = pair_of[keys[present]].to_numpy()
    used = np.zeros_like(capacity)
    np.add.at(used, pair_agent[chosen[chosen >= 0]], pair_load[chosen[chosen >= 0]])
    count = np.bincount(pair_agent[chosen[chosen >= 0]], minlength=len(agents))
    limit = problem.max_jobs_per_agent if problem.max_jobs_per_agent is not None else np.inf
    for job in np.flatnonzero(chosen < 0):  # unassigned sites: most room first
        options = np.flatnonzero(pair_job == job)
        room = (capacity[pair_agent[options]] - used[pair_agent[options]]
                - pair_load[options]).min(axis=1)
        room = np.where(count[pair_agent[options]] < limit, room, -np.inf)
        pick = options[int(np.argmax(room))]
        chosen[job] = pick
        used[pair_agent[pick]] += pair_load[pick]
        count[pair_agent[pick]] += 1

    penalty = problem.overload_penalty or 0.0
    budget = problem.max_moves if problem.max_moves is not None else len(jobs)
    moved = np.zeros(len(jobs), dtype=bool)
    while budget > 0 and penalty > 0:
        over = np.maximum(used - capacity, 0.0)
        givers = np.flatnonzero(over.sum(axis=1) > 1e-9)
        if len(givers) == 0:
            break
        from_pair = chosen[pair_job]
        candidate = (np.isin(pair_agent[from_pair], givers) & (from_pair != np.arange(len(pairs)))
                     & ~moved[pair_job] & (count[pair_agent] < limit))
        cand = np.flatnonzero(candidate)
        if len(cand) == 0:
            break
        giver, taker = pair_agent[from_pair[cand]], pair_agent[cand]
        relief = (over[giver] - np.maximum(used[giver] - pair_load[from_pair[cand]]
                                           - capacity[giver], 0.0)).sum(axis=1)
        burden = (np.maximum(used[taker] + pair_load[cand] - capacity[taker], 0.0)
                  - over[taker]).sum(axis=1)
        gain = penalty * (relief - burden) - (pair_cost[cand] - pair_cost[from_pair[cand]])
        order = np.argsort(-gain, kind="stable")
        order = order[gain[order] > 1e-9]
        if len(order) == 0:
            break
        # a gain depends only on its giver's and taker's hours: one move per CRA a round
        # keeps each gain exact
        touched = np.zeros(len(agents), dtype=bool)
        for best in order.tolist():
            if budget <= 0:
                break
            pick, old = int(cand[best]), int(from_pair[cand[best]])
            giver, taker = pair_agent[old], pair_agent[pick]
            if touched[giver] or touched[taker] or moved[pair_job[pick]]:
                continue
            touched[giver] = touched[taker] = True
            used[giver] -= pair_load[old]
            used[taker] += pair_load[pick]
            count[giver] -= 1
            count[taker] += 1
            chosen[pair_job[pick]] = pick
            moved[pair_job[pick]] = True
            budget -= 1
    return pd.DataFrame({"job": jobs, "agent": agents[pair_agent[chosen]]})


def current_completed(g: GapArrays) -> np.ndarray:
    """Pair per job: the current assignment, a site without a CRA on its eligible CRA with
    most room in its tightest month (as :func:`repair_start` does, in the order of the
    jobs), not repaired: the start of a part whose first plan is read off its LP
    (:mod:`optimizer.lp_rounding`), where the repair's 0.65–0.87 s of data frames on the
    largest 2,000 × 20,000 part held up the model's build and the LP beside it, to make
    a plan the rounding then beats (673,172 against 637,933)."""
    choice = np.full(len(g.jobs), -1, dtype=np.int64)
    held = current_pairs(g)
    choice[g.pair_job[held]] = held
    used = usage(g, held)
    for job in np.flatnonzero(choice < 0).tolist():
        options = np.arange(g.job_ptr[job], g.job_ptr[job + 1])
        agents = g.pair_agent[options]
        room = (g.capacity[agents] - used[agents] - g.load[options]).min(axis=1)
        pick = int(options[int(np.argmax(room))])
        choice[job] = pick
        used[g.pair_agent[pick]] += g.load[pick]
    return choice
