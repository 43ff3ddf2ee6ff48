"""The demo CRO's staff and who monitors which site.

CRAs are hired where the sites are (about one per six sites of a country;
Belgium and Canada are covered from their neighbours). Assignment respects
:func:`~trialplan.demo.catalogue.can_monitor` and is greedy by relative load,
but a few senior CRAs in the big countries carry a weight of 2.5: they kept
the sites of earlier studies, so they hold about twice the sites of their
peers and rebalancing has something to do.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from planner.countries import working_hours_month
from planner.domain import Role, SiteStatus
from planner.money import quantum
from trialplan.demo.catalogue import COUNTRIES, COVERED_FROM_ABROAD, can_monitor
from trialplan.demo.names import person_name

SITES_PER_CRA = 6.0
SENIOR_WEIGHT = 2.0
SENIOR_FROM_CRAS = 3  # a country with this many CRAs has one senior, overloaded CRA
FTE_CHOICES = (1.0, 0.8, 0.6)
FTE_WEIGHTS = (0.7, 0.2, 0.1)
EXTRA_LANGUAGE_SHARE = 0.25
# Hourly cost in USD by role, and each country's wage level and USD exchange rate.
ROLE_RATE_USD = {Role.CRA: 95, Role.PM: 140, Role.CTA: 55, Role.DATA_MANAGER: 85,
                 Role.BIOSTATISTICIAN: 130, Role.MEDICAL_WRITER: 110}
WAGE_LEVEL = {"US": 1.0, "CA": 0.85, "GB": 0.85, "AU": 0.9, "JP": 0.9, "KR": 0.7,
              "PL": 0.45, "CZ": 0.45, "HU": 0.45, "BR": 0.4}
EU_WAGE_LEVEL = 0.8
USD_RATE = {"USD": 1.0, "CAD": 1.35, "GBP": 0.75, "EUR": 0.85, "PLN": 3.2, "CZK": 21.0,
            "HUF": 330.0, "JPY": 140.0, "KRW": 1250.0, "AUD": 1.45, "BRL": 4.0}
# Home countries of the staff who are not CRAs, by role.
OTHER_STAFF: dict[Role, tuple[str, ...]] = {
    Role.PM: ("US", "DE", "GB", "FR", "US", "ES"),
    Role.CTA: ("US", "DE", "PL", "GB", "JP"),
    Role.DATA_MANAGER: ("US", "PL", "GB"),
    Role.BIOSTATISTICIAN: ("US", "GB"),
    Role.MEDICAL_WRITER: ("US", "DE"),
}
ID_PREFIX = {Role.CRA: "CRA", Role.PM: "PM", Role.CTA: "CTA", Role.DATA_MANAGER: "DM",
             Role.BIOSTATISTICIAN: "BST", Role.MEDICAL_WRITER: "MW"}


def _languages(home: str, rng: np.random.Generator) -> list[str]:
    spoken = list(COUNTRIES[home].languages)
    if "en" not in spoken:
        spoken.append("en")
    if rng.random() < EXTRA_LANGUAGE_SHARE:
        extra = sorted({lang for n in COUNTRIES[home].neighbours
                        for lang in COUNTRIES[n].languages} - set(spoken))
        if extra:
            spoken.append(extra[int(rng.integers(len(extra)))])
    return spoken


def _cost_rate(role: Role, home: str, rng: np.random.Generator) -> tuple[str, str]:
    currency = COUNTRIES[home].currency
    level = WAGE_LEVEL.get(home, EU_WAGE_LEVEL)
    value = ROLE_RATE_USD[role] * level * USD_RATE[currency] * rng.uniform(0.9, 1.1)
    return str(Decimal(f"{value:.4f}").quantize(quantum(currency), ROUND_HALF_UP)), currency


def _person(role: Role, number: int, home: str, fte: float, rng: np.random.Generator,
            taken: set[str]) -> dict[str, object]:
    languages = _languages(home, rng)
    rate, currency = _cost_rate(role, home, rng)
    return {"staff_id": f"{ID_PREFIX[role]}-{number:03d}", "name": person_name(rng, home, taken),
            "role": role.value, "home_country": home, "languages": ";".join(languages),
            "fte": fte, "capacity_hours_month": working_hours_month(home),
            "cost_rate": rate, "currency": currency}


def draw_staff(sites: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, list[float]]:
    """Staff rows (STAFF_FIELDS) and each CRA's assignment weight, CRAs first.

    ``sites`` are all demo sites with their status; CRAs are sized to the
    sites that need monitoring (all but identified ones).
    """
    monitored = sites[sites["status"] != SiteStatus.IDENTIFIED.value]
    per_country = monitored.groupby("country").size()
    rows: list[dict[str, object]] = []
    weights: list[float] = []
    taken: set[str] = set()
    for home in COUNTRIES:
        if home in COVERED_FROM_ABROAD or home not in per_country.index:
            continue
        count = max(1, int(per_country[home] / SITES_PER_CRA + 0.5))
        for k in range(count):
            senior = k == 0 and count >= SENIOR_FROM_CRAS
            fte = 1.0 if senior else float(rng.choice(FTE_CHOICES, p=FTE_WEIGHTS))
            rows.append(_person(Role.CRA, len(rows) + 1, home, fte, rng, taken))
            weights.append(fte * (SENIOR_WEIGHT if senior else 1.0))
    for role, homes in OTHER_STAFF.items():
        for k, home in enumerate(homes, start=1):
            rows.append(_person(role, k, home, 1.0, rng, taken))
    return pd.DataFrame(rows), weights


def assign_cras(sites: pd.DataFrame, staff: pd.DataFrame, weights: list[float]) -> pd.Series:
    """cra_id for every site (empty for identified sites), aligned with ``sites``.

    Sites are taken in activation order and each goes to the eligible CRA
    with the lowest load relative to their weight (ties: lowest staff_id).
    """
    cras = staff[staff["role"] == Role.CRA.value].reset_index(drop=True)
    spoken = [langs.split(";") for langs in cras["languages"]]
    load = np.zeros(len(cras))
    weight = np.asarray(weights, dtype=float)
    start = sites["actual_activation"].where(sites["actual_activation"] != "",
                                             sites["planned_activation"])
    order = sites.assign(_start=start).sort_values(["_start", "study_id", "site_id"]).index
    cra_id = pd.Series("", index=sites.index, dtype=object)
    for i in order:
        if sites.at[i, "status"] == SiteStatus.IDENTIFIED.value:
            continue
        country = sites.at[i, "country"]
        eligible = np.array([can_monitor(h, s, country)
                             for h, s in zip(cras["home_country"], spoken, strict=True)])
        if not eligible.any():
            raise ValueError(f"no demo CRA may monitor a site in {country}")
        pressure = np.where(eligible, (load + 1) / weight, np.inf)
        chosen = int(np.argmin(pressure))
        load[chosen] += 1
        cra_id[i] = cras.at[chosen, "staff_id"]
    return cra_id
