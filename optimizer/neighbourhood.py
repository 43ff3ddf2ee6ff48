"""The neighbourhood searched at CRO scale: which sites may move, and to whom.

With thousands of CRAs, a model where every site may go to every eligible CRA
costs more to build than to solve. Only sites with a reason to move keep
choices — those of CRAs over capacity in some month, those monitored from
abroad, those without a CRA — and each of them only towards ``candidates``
eligible CRAs besides its current one: those with the most room left in the
months the site needs hours (room = capacity − what the CRA holds − the site's
hours, the worst month counting).

Room is not static: when a thousand sites of one overloaded territory all
looked at the same sixteen roomiest CRAs, those filled up and most overload
stayed (7,231 hours on the synthetic 2,000 × 20,000 portfolio). So the sites
are taken largest first, and each, after choosing its candidates, is placed
on paper with the best of them: the next site sees that CRA's room reduced and
looks further. The candidates overlap but spread over the territory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.gap_arrays import in_sorted

CANDIDATES_PER_SITE = 16


def _reasons_to_move(jobs: pd.DataFrame, cras: pd.DataFrame, overloaded: set) -> set:
    """Sites of an overloaded CRA, monitored from abroad, or without a CRA."""
    home = cras.set_index("staff_id")["home_country"]
    held = jobs.dropna(subset=["cra"])
    abroad = held["cra"].map(home).to_numpy() != held["country"].to_numpy()
    stay = held["job"][~held["cra"].isin(overloaded).to_numpy() & ~abroad]
    return set(jobs["job"]) - set(stay)


def movable_sites(jobs: pd.DataFrame, cras: pd.DataFrame, hours: pd.DataFrame,
                  capacity: pd.DataFrame) -> set:
    """The sites with a reason to move (module docstring): the jobs :func:`narrow` gives
    choices, from the current assignment alone (``jobs``: job, country, cra)."""
    held = jobs.dropna(subset=["cra"])[["job", "cra"]].rename(columns={"cra": "agent"})
    used = hours.merge(held, on="job").groupby(["agent", "period"])["amount"].sum()
    limit = capacity.drop_duplicates(["agent", "period"], keep="last").set_index(
        ["agent", "period"])["capacity"]  # a repeated row: the last holds, as in narrow
    over = used - limit.reindex(used.index, fill_value=0.0)
    return _reasons_to_move(jobs, cras, set(over[over > 1e-9].index.get_level_values(0)))


def narrow(pairs: pd.DataFrame, jobs: pd.DataFrame, cras: pd.DataFrame,
           hours: pd.DataFrame, capacity: pd.DataFrame,
           candidates: int = CANDIDATES_PER_SITE) -> pd.DataFrame:
    """The pairs kept (see the module docstring); ``hours``: job, period, amount;
    ``capacity``: agent, period, capacity. The pairs are compared as integer codes
    (agent, site, the current pair), each name hashed once: filtering and looking up
    1.9 million pairs by their names took 1.9 of narrow's 2.5 s in one timed run at
    2,000 × 20,000."""
    periods = np.unique(np.concatenate([capacity["period"].astype(str).to_numpy(),
                                        hours["period"].astype(str).to_numpy()]))
    agent_code, agents = pd.factorize(np.concatenate([
        pairs["agent"].astype(str).to_numpy(object),
        capacity["agent"].astype(str).to_numpy(object)]))
    pair_agent, capacity_agent = agent_code[:len(pairs)], agent_code[len(pairs):]
    pair_job, job_names = pd.factorize(pairs["job"].astype(str).to_numpy(object),
                                       sort=True)  # sorted: ties go to the first name
    t_of = pd.Series(np.arange(len(periods)), index=periods)
    room = np.zeros((len(agents), len(periods)))
    room[capacity_agent, t_of[capacity["period"].astype(str)].to_numpy()] = \
        capacity["capacity"].to_numpy(float)
    site_hours = hours.pivot_table(index="job", columns="period", values="amount",
                                   aggfunc="sum").reindex(columns=periods).fillna(0.0)
    job_index = pd.Index(job_names)
    at = job_index.get_indexer(site_hours.index.astype(str))
    found = at >= 0  # (hours of sites without an eligible pair are not needed)
    need = np.zeros((len(job_names), len(periods)))  # per site code; none outside hours
    need[at[found]] = site_hours.to_numpy()[found]
    has_hours = np.zeros(len(job_names), dtype=bool)
    has_hours[at[found]] = True
    current = pairs["basis"].to_numpy(object) == "current"
    held = current & has_hours[pair_job]
    np.subtract.at(room, pair_agent[held], need[pair_job[held]])
    overloaded = (room < -1e-9).any(axis=1)
    movable = job_index.isin(list(_reasons_to_move(
        jobs, cras, set(agents[overloaded]))))
    options = movable[pair_job] & ~current & ~overloaded[pair_agent]
    needy, idle = np.flatnonzero(options & has_hours[pair_job]), np.flatnonzero(
        options & ~has_hours[pair_job])  # (idle: no hours in the horizon)
    code, job_codes = pair_agent[needy], pair_job[needy]
    sites = np.unique(job_codes)  # the needy sites, in name order
    order = np.argsort(job_codes, kind="stable")  # each site's eligible CRAs, one slice a
    # site (a groupby with a function per group, then .iloc per site, took 0.75 s over
    # 9,925 sites)
    eligible_of = np.split(code[order], np.flatnonzero(np.diff(job_codes[order])) + 1)
    need_of = need[sites]
    kept = []  # per site: its code × the agents' count + its candidates' codes
    for i in np.argsort(-need_of.sum(axis=1), kind="stable"):  # largest sites first
        eligible, needed = eligible_of[i], need_of[i]
        left = np.where(needed > 0, room[eligible] - needed, np.inf).min(axis=1)
        best = eligible[np.argsort(-left, kind="stable")[:candidates]]
        room[best[0]] -= needed  # placed on paper with the roomiest
        kept.append(sites[i] * len(agents) + best)
    keys = np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.int64)
    chosen = needy[in_sorted(job_codes * len(agents) + code, keys)]  # (np.isin sorted
    # both sides: 0.5 s at 2,000 × 20,000)
    return pd.concat([pairs[current], pairs.iloc[chosen], pairs.iloc[idle]],
                     ignore_index=True)
