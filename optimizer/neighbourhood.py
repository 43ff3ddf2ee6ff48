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
    ``capacity``: agent, period, capacity."""
    periods = np.unique(np.concatenate([capacity["period"].astype(str).to_numpy(),
                                        hours["period"].astype(str).to_numpy()]))
    agents = np.unique(np.concatenate([capacity["agent"].astype(str).unique(),
                                       pairs["agent"].astype(str).unique()]))  # hashed first:
    # sorting 4 million names took 2.7 s
    a_of = pd.Series(np.arange(len(agents)), index=agents)
    t_of = pd.Series(np.arange(len(periods)), index=periods)
    room = np.zeros((len(agents), len(periods)))
    room[a_of[capacity["agent"].astype(str)].to_numpy(),
         t_of[capacity["period"].astype(str)].to_numpy()] = capacity["capacity"].to_numpy(float)
    site_hours = hours.pivot_table(index="job", columns="period", values="amount",
                                   aggfunc="sum").reindex(columns=periods).fillna(0.0)
    current = pairs["basis"] == "current"
    held = pairs.loc[current, ["agent", "job"]]
    held = held[held["job"].isin(site_hours.index)]
    np.subtract.at(room, a_of[held["agent"].astype(str)].to_numpy(),
                   site_hours.loc[held["job"]].to_numpy())
    overloaded = set(agents[(room < -1e-9).any(axis=1)])
    movable = _reasons_to_move(jobs, cras, overloaded)
    options = pairs[pairs["job"].isin(movable) & ~current
                    & ~pairs["agent"].astype(str).isin(overloaded)]
    needy = options[options["job"].isin(site_hours.index)]
    idle = options[~options["job"].isin(site_hours.index)]  # no hours in the horizon
    code = a_of[needy["agent"].astype(str)].to_numpy()
    job_codes, job_of = pd.factorize(needy["job"], sort=True)
    order = np.argsort(job_codes, kind="stable")  # each site's eligible CRAs, one slice a
    # site (a groupby with a function per group, then .iloc per site, took 0.75 s over
    # 9,925 sites)
    eligible_of = np.split(code[order], np.flatnonzero(np.diff(job_codes[order])) + 1)
    need_of = site_hours.loc[list(job_of)].to_numpy()
    kept = []  # per site: its code × the agents' count + its candidates' codes
    for i in np.argsort(-need_of.sum(axis=1), kind="stable"):  # largest sites first
        eligible, need = eligible_of[i], need_of[i]
        left = np.where(need > 0, room[eligible] - need, np.inf).min(axis=1)
        best = eligible[np.argsort(-left, kind="stable")[:candidates]]
        room[best[0]] -= need  # placed on paper with the roomiest
        kept.append(i * len(agents) + best)
    if not kept:
        return pd.concat([pairs[current], idle], ignore_index=True)
    chosen = needy[np.isin(job_codes * len(agents) + code, np.concatenate(kept))]  # (a
    # merge on the names took 0.2 s at 2,000 × 20,000)
    return pd.concat([pairs[current], chosen, idle], ignore_index=True)
