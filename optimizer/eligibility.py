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


def _codes(values: pd.Series, names: pd.Index) -> np.ndarray:
    """Position of each value in ``names`` (−1: missing or not there)."""
    return names.get_indexer(values)


def _matches(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, k) for every i and every k with ``keys[k] == wanted[i]`` (−1 matches nothing):
    a merge on integer codes, the rows of each key one slice of a stable sort."""
    order = np.argsort(keys, kind="stable")
    first = np.searchsorted(keys[order], wanted)
    count = np.where(wanted >= 0, np.searchsorted(keys[order], wanted, side="right") - first,
                     0)
    left = np.repeat(np.arange(len(wanted)), count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return left, order[np.repeat(first, count) + offset]


def _domestic(sites: pd.DataFrame, cras: pd.DataFrame, site_country: np.ndarray,
              countries: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(site row, CRA row) of the pairs in the CRA's home country, territories allowing
    (:func:`_same_territory`): each site against its country's CRAs, on integer codes
    (a merge and a filter of 1.7 million rows of names took 0.9 s at 2,000 × 20,000);
    ``site_country``: each site's code in ``countries``."""
    site_row, cra_row = _matches(_codes(cras["home_country"], countries), site_country)
    if "territory" in sites and "territory" in cras:
        territories = pd.Index(pd.concat([sites["territory"], cras["territory"]]).dropna()
                               .unique())
        site_t = _codes(sites["territory"], territories)[site_row]
        cra_t = _codes(cras["territory"], territories)[cra_row]
        same = (site_t < 0) | (cra_t < 0) | (site_t == cra_t)
        site_row, cra_row = site_row[same], cra_row[same]
    return site_row, cra_row


def eligible_pairs(sites: pd.DataFrame, cras: pd.DataFrame, pinned: Iterable[str] = (),
                   choosing: set | None = None) -> pd.DataFrame:
    """``sites``: job, country, cra (current, may be missing); ``cras``: staff_id,
    home_country, languages (a list) → job, agent, basis (one row per pair, the
    strongest basis). Large countries are split into territories: when both frames
    have a ``territory`` column, a CRA takes sites of its own territory (or of none),
    and a CRA with a territory does not cross borders. With ``choosing``, only those
    jobs get their pairs beyond the current one (the sites that may move at CRO scale:
    2,000 × 20,000 has 3.96 million pairs, of which the model keeps 181,027).

    Pairs are made and ranked on integer codes (jobs and CRAs numbered in name order),
    sorted by job, CRA and basis, the strongest kept; names only for the pairs kept."""
    current_sites = sites
    if choosing is not None:
        sites = sites[sites["job"].isin(choosing)]
    job_names = pd.Index(np.unique(current_sites["job"].to_numpy()))
    held = current_sites.dropna(subset=["cra"])
    agent_names = pd.Index(np.unique(np.concatenate([
        cras["staff_id"].to_numpy(), held["cra"].to_numpy()])))
    countries = pd.Index(pd.concat([sites["country"], cras["home_country"]]).dropna()
                         .unique())
    site_job = _codes(sites["job"], job_names)
    cra_agent = _codes(cras["staff_id"], agent_names)
    site_country = _codes(sites["country"], countries)
    site_row, cra_row = _domestic(sites, cras, site_country, countries)
    travelling = cras[cras["territory"].isna()] if "territory" in cras else cras
    reach = _cross_border(travelling)
    foreign_site, reach_row = _matches(_codes(reach["country"], countries), site_country)
    foreign_agent = _codes(reach["agent"], agent_names)[reach_row]
    job = np.concatenate([_codes(held["job"], job_names), site_job[site_row],
                          site_job[foreign_site]]).astype(np.int64)
    agent = np.concatenate([_codes(held["cra"], agent_names), cra_agent[cra_row],
                            foreign_agent]).astype(np.int64)
    rank = np.concatenate([np.full(len(held), BASIS_ORDER["current"]),
                           np.full(len(site_row), BASIS_ORDER["country"]),
                           np.full(len(foreign_site), BASIS_ORDER["language"])])
    key = np.sort((job * len(agent_names) + agent) * len(BASIS_ORDER) + rank)  # by job,
    # agent and basis: the first of each (job, agent) is kept
    pair, rank = np.divmod(key, len(BASIS_ORDER))
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = pair[1:] != pair[:-1]
    job, agent = np.divmod(pair[keep], len(agent_names))
    rank = rank[keep]
    pinned_jobs = set(pinned) & set(held["job"])
    if pinned_jobs:
        pinned_code = _codes(pd.Series(sorted(pinned_jobs)), job_names)
        free = ~np.isin(job, pinned_code) | (rank == BASIS_ORDER["current"])
        job, agent, rank = job[free], agent[free], rank[free]
    basis = np.array(sorted(BASIS_ORDER, key=BASIS_ORDER.get), dtype=object)
    return pd.DataFrame({"job": job_names.to_numpy()[job], "agent": agent_names.to_numpy()[agent],
                         "basis": basis[rank]})


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
