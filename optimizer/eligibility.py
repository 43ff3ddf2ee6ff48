"""Which CRA may take which site, and what each pairing costs (DESIGN §4).

A CRA is eligible for a site in the CRA's home country, across a border where
the shipped country table allows it (same region, capitals close, a language
the site works in: :mod:`optimizer.geography`), and always for the site's
current CRA. A pinned site keeps its current CRA: that pair alone. Each pair
carries its basis ("current", "country", "language") so a move can say why it
fits, and the planning cost of the site's on-site trips from that CRA's home.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from optimizer.geography import country_places, may_cross_border, trip_cost
from optimizer.lookup import lookup

BASIS_ORDER = {"current": 0, "country": 1, "language": 2}


def _cross_border(cras: pd.DataFrame) -> pd.DataFrame:
    """(agent, country): the foreign countries each CRA may cover. Worked out once per home
    country and set of languages: 2,000 CRAs share a few hundred, and testing each CRA
    against each country (172,816 distances) took 0.4 s."""
    countries = list(country_places())
    reach: dict[tuple[str, frozenset[str]], list[str]] = {}
    rows = []
    for agent, home, languages in zip(cras["staff_id"], cras["home_country"],
                                      cras["languages"], strict=True):
        key = (home, frozenset(languages))
        if key not in reach:
            reach[key] = [country for country in countries
                          if may_cross_border(home, key[1], country)]
        rows.extend((agent, country) for country in reach[key])
    return pd.DataFrame(rows, columns=["agent", "country"], dtype=object)


def _territory(frame: pd.DataFrame) -> list[str]:
    return ["territory"] if "territory" in frame else []


def _same_territory(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a sites × CRAs table whose territories allow the pair: the site's or the
    CRA's is missing, or they are the same."""
    site_t, cra_t = table["territory_site"], table["territory_cra"]
    return table[site_t.isna() | cra_t.isna() | (site_t == cra_t)]


def eligible_pairs(sites: pd.DataFrame, cras: pd.DataFrame, pinned: Iterable[str] = (),
                   choosing: set | None = None) -> pd.DataFrame:
    """``sites``: job, country, cra (current, may be missing); ``cras``: staff_id,
    home_country, languages (a list) → job, agent, basis (one row per pair, the
    strongest basis). Large countries are split into territories: when both frames
    have a ``territory`` column, a CRA takes sites of its own territory (or of none),
    and a CRA with a territory does not cross borders. With ``choosing``, only those
    jobs get their pairs beyond the current one (the sites that may move at CRO scale:
    2,000 × 20,000 has 3.96 million pairs, of which the model keeps 181,027)."""
    current_sites = sites
    if choosing is not None:
        sites = sites[sites["job"].isin(choosing)]
    domestic = sites[["job", "country", *_territory(sites)]].merge(
        cras[["staff_id", "home_country", *_territory(cras)]], left_on="country",
        right_on="home_country", suffixes=("_site", "_cra"))
    if "territory_site" in domestic and "territory_cra" in domestic:
        domestic = _same_territory(domestic)
    domestic = domestic.rename(columns={"staff_id": "agent"}).assign(basis="country")
    travelling = cras[cras["territory"].isna()] if "territory" in cras else cras
    foreign = sites[["job", "country"]].merge(_cross_border(travelling), on="country")
    foreign = foreign.assign(basis="language")
    held = current_sites.dropna(subset=["cra"])
    current = pd.DataFrame({"job": held["job"], "agent": held["cra"], "basis": "current"})
    pairs = pd.concat([current, domestic[["job", "agent", "basis"]],
                       foreign[["job", "agent", "basis"]]], ignore_index=True)
    # sorted by job, agent and basis, the strongest kept: on codes in name order, since
    # sorting 4 million pairs by their names took seconds
    job, _ = pd.factorize(pairs["job"], sort=True)
    agent, _ = pd.factorize(pairs["agent"], sort=True)
    rank = lookup(pd.Series(BASIS_ORDER), pairs["basis"]).astype(int)
    order = np.lexsort((rank, agent, job))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (job[order][1:] != job[order][:-1]) | (agent[order][1:] != agent[order][:-1])
    pairs = pairs.iloc[order[first]]
    pinned_jobs = set(pinned) & set(held["job"])
    keep = ~pairs["job"].isin(pinned_jobs) | (pairs["basis"] == "current")
    return pairs[keep].reset_index(drop=True)


def eligible_pair_count(sites: pd.DataFrame, cras: pd.DataFrame,
                        pinned: Iterable[str] = ()) -> tuple[int, int]:
    """The least and the most rows :func:`eligible_pairs` can return, from counts alone
    (a current pair may or may not be one of its site's other pairs): enough to choose
    the model's scope without making millions of pairs."""
    if sites["country"].isna().any() or cras["home_country"].isna().any():
        return 0, len(sites) * (len(cras) + 1)  # a missing country: settled by making them
    pinned_jobs = set(pinned) & set(sites.dropna(subset=["cra"])["job"])
    free = sites[~sites["job"].isin(pinned_jobs)]
    split = bool(_territory(sites)) and bool(_territory(cras))
    keys = ["country", "territory"] if split else ["country"]
    site_groups = free.groupby(keys, dropna=False).size().rename("sites").reset_index()
    cra_groups = cras.rename(columns={"home_country": "country"}).groupby(
        keys, dropna=False).size().rename("cras").reset_index()
    if split:
        table = _same_territory(site_groups.merge(cra_groups, on="country",
                                                  suffixes=("_site", "_cra")))
    else:
        table = site_groups.merge(cra_groups, on="country")
    domestic = int((table["sites"] * table["cras"]).sum())
    travelling = cras[cras["territory"].isna()] if "territory" in cras else cras
    abroad = _cross_border(travelling).groupby("country").size().rename("cras")
    foreign = int((free.groupby("country").size() * abroad).fillna(0).sum())
    held = int(free["cra"].notna().sum())
    least = domestic + foreign + len(pinned_jobs)
    return least, least + held


def travel_costs(pairs: pd.DataFrame, sites: pd.DataFrame, cras: pd.DataFrame,
                 trips: pd.Series) -> np.ndarray:
    """Planning cost of each pair's on-site trips over the horizon: trips[job] × the
    cost of one trip from the CRA's home to the site's country."""
    route = pd.DataFrame({"home": lookup(cras.set_index("staff_id")["home_country"],
                                         pairs["agent"]),
                          "country": lookup(sites.set_index("job")["country"], pairs["job"])})
    routes = route.drop_duplicates().reset_index(drop=True)
    routes["per_trip"] = [trip_cost(h, c) for h, c in zip(routes["home"], routes["country"],
                                                          strict=True)]
    cost = route.merge(routes, on=["home", "country"], how="left")["per_trip"].to_numpy(float)
    return cost * lookup(trips.fillna(0.0), pairs["job"], 0.0).astype(float)
