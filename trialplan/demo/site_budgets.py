"""The demo's site budgets: a fee grid and terms per study and country, in local currency.

Fees follow a typical clinical trial agreement: a visit fee per scheduled
visit (screening and baseline dearer), start-up, ethics, pharmacy, close-out
and archiving fees, a screen-failure fee, invoiceable unscheduled visits and
ethics renewals with caps. Amounts are US-dollar benchmarks scaled by a
country cost level and turned into the local currency at a round planning
rate, then rounded to a price a site would write (5 units; 100 yen). Each
study's US template is amended half-way (+5 %), and one site per study has
negotiated its own baseline fee.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from planner.domain import visit_code

COST_LEVEL = {"US": "1.00", "CA": "0.85", "GB": "0.80", "DE": "0.75", "FR": "0.70",
              "ES": "0.60", "IT": "0.60", "NL": "0.75", "BE": "0.70", "PL": "0.40",
              "CZ": "0.40", "HU": "0.35", "JP": "1.10", "KR": "0.70", "AU": "0.85",
              "BR": "0.45"}
CURRENCY = {"US": "USD", "CA": "CAD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR",
            "IT": "EUR", "NL": "EUR", "BE": "EUR", "PL": "PLN", "CZ": "CZK", "HU": "HUF",
            "JP": "JPY", "KR": "KRW", "AU": "AUD", "BR": "BRL"}
PER_USD = {"USD": "1", "CAD": "1.36", "GBP": "0.79", "EUR": "0.92", "PLN": "4.0",
           "CZK": "23", "HUF": "360", "JPY": "150", "KRW": "1350", "AUD": "1.5", "BRL": "5.0"}
PRICE_STEP = {"JPY": "100", "KRW": "1000", "HUF": "100", "CZK": "10"}
OVERHEAD_PCT = {"US": "28", "CA": "20", "GB": "20", "JP": "30", "KR": "20", "BR": "10"}
QUARTERLY = frozenset({"DE", "FR", "IT"})
# USD benchmarks: (item_type, item_code, description, amount, cap)
ONE_TIME = (("one_time", "STARTUP", "site start-up", "5000", None),
            ("one_time", "IRB", "ethics committee submission", "2500", None),
            ("one_time", "PHARMACY", "pharmacy set-up", "1500", None),
            ("one_time", "CLOSEOUT", "close-out", "2000", None),
            ("one_time", "ARCHIVING", "archiving", "750", None),
            ("screen_failure", "SF", "screen failure", "300", None),
            ("invoiceable", "UNSCHEDULED", "unscheduled visit", "350", 3),
            ("invoiceable", "IRB_RENEWAL", "annual ethics renewal", "1200", 3))
VISIT_USD = ("500", "950", "650")  # screening, baseline, every later scheduled visit
AMENDMENT = Decimal("1.05")


def local_price(usd: str | Decimal, country: str, factor: Decimal = Decimal(1)) -> str:
    """A USD benchmark in the country's currency, rounded to a price a site would write."""
    currency = CURRENCY[country]
    step = Decimal(PRICE_STEP.get(currency, "5"))
    value = Decimal(usd) * Decimal(COST_LEVEL[country]) * Decimal(PER_USD[currency]) * factor
    return str((value / step).quantize(Decimal(1), ROUND_HALF_UP) * step)


def _visit_usd(position: int) -> str:
    return VISIT_USD[min(position, len(VISIT_USD) - 1)]


def _start(sites: pd.DataFrame) -> pd.Series:
    """Each study's contract date: 90 days before its first site's activation."""
    first = sites["actual_activation"].fillna(sites["planned_activation"])
    return (first.groupby(sites["study_id"]).min() - pd.Timedelta(days=90)).dt.date


def fee_rows(sites: pd.DataFrame, planned_visits: pd.DataFrame,
             as_of: dt.date) -> pd.DataFrame:
    """Fees in the exchange format (DESIGN §7) for every study and country with sites."""
    starts = _start(sites)
    rows: list[dict[str, object]] = []
    for (study_id, country), group in sites.groupby(["study_id", "country"], sort=True):
        start = starts[study_id]
        schedule = planned_visits[(planned_visits["study_id"] == study_id)
                                  & planned_visits["scheduled"]].sort_values("visit_num")
        base = {"study_id": study_id, "site_id": "", "country": country,
                "currency": CURRENCY[country]}
        for position, visit in enumerate(schedule.itertuples()):
            rows.append({**base, "item_type": "visit", "item_code": visit_code(visit.visit_num),
                         "description": str(visit.visit_name),
                         "amount": local_price(_visit_usd(position), country),
                         "effective_from": start.isoformat(), "cap": ""})
            if country == "US":  # the protocol amendment raises the US visit fees
                amended = start + (as_of - start) / 2
                rows.append({**rows[-1], "amount": local_price(_visit_usd(position), country,
                                                               AMENDMENT),
                             "effective_from": amended.isoformat()})
        for item_type, code, description, usd, cap in ONE_TIME:
            rows.append({**base, "item_type": item_type, "item_code": code,
                         "description": description, "amount": local_price(usd, country),
                         "effective_from": start.isoformat(),
                         "cap": "" if cap is None else str(cap)})
        if len(schedule) > 1 and len(group) > 1:  # one site negotiated its baseline fee
            site = sorted(group["site_id"])[0]
            rows.append({**base, "site_id": site, "item_type": "visit",
                         "item_code": visit_code(schedule["visit_num"].iloc[1]),
                         "description": f"{schedule['visit_name'].iloc[1]} (site rate)",
                         "amount": local_price(VISIT_USD[1], country, Decimal("1.2")),
                         "effective_from": start.isoformat(), "cap": ""})
    return pd.DataFrame(rows)


def terms_rows(sites: pd.DataFrame) -> pd.DataFrame:
    """Terms per study and country: overhead by country, 10 % holdback, one screen failure
    paid per four randomized (at most 10 a site)."""
    pairs = sites[["study_id", "country"]].drop_duplicates().sort_values(["study_id", "country"])
    return pd.DataFrame({
        "study_id": pairs["study_id"], "site_id": "", "country": pairs["country"],
        "overhead_pct": [OVERHEAD_PCT.get(c, "15") for c in pairs["country"]],
        "holdback_pct": "10", "sf_ratio": "0.25", "sf_min": "1", "sf_max": "10",
        "payment_frequency": ["quarterly" if c in QUARTERLY else "monthly"
                              for c in pairs["country"]],
        "terms_days": [45 if c == "US" else 30 for c in pairs["country"]],
    }).reset_index(drop=True)
