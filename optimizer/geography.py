"""Where CRAs can travel and what a trip costs: the country table shipped with the optimizer.

``optimizer/data/countries.csv`` holds, per ISO 3166 country: a region, the
languages sites there work in (ISO 639-1) and the capital's coordinates. A CRA
may monitor sites in another country of the same region when the capitals are
at most ``MAX_CROSS_BORDER_KM`` apart and the CRA speaks one of that country's
languages. A trip costs a flat domestic amount, plus a per-kilometre amount for
the great-circle distance between the capitals when it crosses a border
(planning figures in USD, not payments). Countries not in the table are
domestic-only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

MAX_CROSS_BORDER_KM = 1_500.0
TRIP_COST_DOMESTIC = 300.0  # USD per on-site visit: train/car, a night
TRIP_COST_PER_KM = 0.6  # USD per km between capitals (return flight, longer stay)
EARTH_RADIUS_KM = 6_371.0


@dataclass(frozen=True)
class CountryPlace:
    region: str
    languages: frozenset[str]
    latitude: float
    longitude: float


@cache
def country_places() -> dict[str, CountryPlace]:
    """The shipped table, by alpha-2 code."""
    with resources.files("optimizer").joinpath("data/countries.csv").open() as handle:
        table = pd.read_csv(handle, dtype={"country": str, "region": str, "languages": str},
                            keep_default_na=False)
    return {r.country: CountryPlace(r.region, frozenset(r.languages.split(";")),
                                    float(r.latitude), float(r.longitude))
            for r in table.itertuples()}


def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between the capitals of two countries (0 for the same one;
    None when either is not in the table)."""
    if a == b:
        return 0.0
    places = country_places()
    if a not in places or b not in places:
        return None
    p, q = places[a], places[b]
    phi1, phi2 = math.radians(p.latitude), math.radians(q.latitude)
    dphi, dlmb = phi2 - phi1, math.radians(q.longitude - p.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def trip_cost(home: str, site_country: str) -> float:
    """Planning cost of one on-site visit by a CRA based in ``home``."""
    km = distance_km(home, site_country)
    return TRIP_COST_DOMESTIC + TRIP_COST_PER_KM * (km or 0.0)


def may_cross_border(home: str, languages: frozenset[str] | set[str],
                     site_country: str) -> bool:
    """Same region, capitals close enough, and a language the site works in."""
    places = country_places()
    if home == site_country or home not in places or site_country not in places:
        return False
    site = places[site_country]
    km = distance_km(home, site_country)
    return (places[home].region == site.region and km is not None
            and km <= MAX_CROSS_BORDER_KM and bool(site.languages & set(languages)))
