"""The neighbourhood searched at CRO scale: which sites may move, and to whom.

With thousands of CRAs, a model where every site may go to every eligible CRA
costs more to build than to solve. Only sites with a reason to move keep
choices — those of CRAs over capacity in some month, those monitored from
abroad, those without a CRA — and each of them only towards the ``candidates``
eligible CRAs with the most room left in the months the site needs hours
(room = capacity − what the CRA holds now − the site's hours, the worst month
counting), besides its current CRA. The rest stay where they are.
"""

from __future__ import annotations

import pandas as pd

CANDIDATES_PER_SITE = 16


def _room_now(pairs: pd.DataFrame, hours: pd.DataFrame,
              capacity: pd.DataFrame) -> pd.DataFrame:
    """agent, period, room: capacity minus the hours of the sites each CRA holds now."""
    held = pairs.loc[pairs["basis"] == "current", ["agent", "job"]].merge(hours, on="job")
    used = held.groupby(["agent", "period"])["amount"].sum().rename("used")
    table = capacity.set_index(["agent", "period"]).join(used, how="outer").fillna(0.0)
    return (table["capacity"] - table["used"]).rename("room").reset_index()


def narrow(pairs: pd.DataFrame, jobs: pd.DataFrame, cras: pd.DataFrame,
           hours: pd.DataFrame, capacity: pd.DataFrame,
           candidates: int = CANDIDATES_PER_SITE) -> pd.DataFrame:
    """The pairs kept (see the module docstring); ``hours``: job, period, amount."""
    room = _room_now(pairs, hours, capacity)
    overloaded = set(room.loc[room["room"] < -1e-9, "agent"])
    home = cras.set_index("staff_id")["home_country"]
    site = jobs.set_index("job")
    held = site["cra"].dropna()
    abroad = held.map(home) != site.loc[held.index, "country"]
    stay = set(held.index[~held.isin(overloaded) & ~abroad])
    current = pairs["basis"] == "current"
    options = pairs[~pairs["job"].isin(stay) & ~current & ~pairs["agent"].isin(overloaded)]
    fit = options[["job", "agent"]].merge(hours, on="job").merge(room, on=["agent", "period"],
                                                                 how="left")
    fit["left"] = fit["room"].fillna(0.0) - fit["amount"]
    worst = fit.groupby(["job", "agent"])["left"].min().rename("left").reset_index()
    best = worst.sort_values(["job", "left"], ascending=[True, False], kind="stable")
    best = best.groupby("job").head(candidates)[["job", "agent"]]
    chosen = options.merge(best, on=["job", "agent"])
    idle = options[~options["job"].isin(set(fit["job"]))]  # no hours in the horizon
    return pd.concat([pairs[current], chosen, idle], ignore_index=True)
