"""Earned site payments: what each site has earned to a date (docs/SITE_PAYMENTS.md,
"Earned items").

Pure and vectorized: frames in, an ``EARNED`` frame out. Visit fees and
unscheduled visits come from SV (``contracts.visit_fees``), screen-failure fees
with their cap from subject status (``contracts.screen_failures``), one-time
fees from the site's activation and close-out. Every row carries the fee in
force on its service date, gross (with overhead) and holdback, each rounded
once in integer minor units; only sites with a contract earn.

An item's identity (what a payment run pays once) is (study, site, subject,
item_type, item_code, item_ref): item_ref is NA for scheduled visits, screen
failures and one-time fees, and names the SV row of an unscheduled visit; the
service date and occurrence are shown, never part of it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from contracts.pricing import date_text, gross_and_holdback, site_positions, with_fee
from contracts.schemas import EARNED
from contracts.screen_failures import screen_failure_items
from contracts.visit_fees import visit_items
from planner.payment_tables import ON_ACTIVATION_CODES, ON_CLOSEOUT_CODES, ItemType

ORDER = ["study_id", "site_id", "subject_id", "service_date", "item_type", "item_code",
         "occurrence"]  # occurrence tells a subject's unscheduled visits apart


def _one_time_items(contracts: pd.DataFrame, fees: pd.DataFrame,
                    as_of: dt.date) -> pd.DataFrame:
    """One-time fees on the site's actual activation and close-out dates (≤ as-of)."""
    sites = contracts[contracts["has_contract"].astype(bool)]
    parts = []
    for trigger, column, codes in (("activation", "actual_activation", ON_ACTIVATION_CODES),
                                   ("close-out", "closeout", ON_CLOSEOUT_CODES)):
        dated = sites[sites[column].notna() & (sites[column] <= pd.Timestamp(as_of))]
        for code in codes:
            parts.append(pd.DataFrame({
                "study_id": dated["study_id"].astype(str), "site_id": dated["site_id"].astype(str),
                "country": dated["country"], "subject_id": pd.NA,
                "item_type": ItemType.ONE_TIME.value, "item_code": code,
                "item_ref": pd.Series(pd.NA, index=dated.index, dtype="string"),
                "occurrence": 1, "service_date": dated[column],  # once per site and code
                "earned_date": dated[column], "status": "earned",
                "source": "site " + dated["site_id"].astype(str) + f" {trigger} on "
                          + pd.Series(date_text(dated[column]), index=dated.index),
            }))
    return with_fee(pd.concat(parts, ignore_index=True), fees)


def earned_items(contracts: pd.DataFrame, subjects: pd.DataFrame, visits: pd.DataFrame,
                 planned_visits: pd.DataFrame, fees: pd.DataFrame,
                 as_of: dt.date) -> pd.DataFrame:
    """Every item the sites have earned (or hold) by ``as_of``, as an ``EARNED`` frame.

    ``contracts`` is :func:`contracts.site_contracts.site_contracts` of the sites, built
    once by the caller (it needs it too). Rows are ordered by study, site, subject
    (site-level items last), service date and item, so two runs on the same data
    compare equal.
    """
    contracts = contracts.reset_index(drop=True)
    parts = [visit_items(visits, subjects, planned_visits, contracts, fees, as_of),
             screen_failure_items(subjects, contracts, fees, as_of),
             _one_time_items(contracts, fees, as_of)]
    items = pd.concat([p for p in parts if not p.empty] or [parts[-1]], ignore_index=True)
    positions = site_positions(contracts, items["study_id"], items["site_id"])
    gross, holdback = gross_and_holdback(items["fee_minor"].to_numpy(), contracts["overhead_pct"],
                                         contracts["holdback_pct"], positions)
    items = items.assign(gross_minor=gross, holdback_minor=holdback,
                         currency=contracts["currency"].to_numpy()[positions]
                         if len(items) else pd.Series(dtype="string"))
    texts = [c.name for c in EARNED.columns if c.dtype == "string"]
    coded = {c: pd.factorize(items[c], sort=True) for c in texts}
    # categoricals: conform then converts each distinct text once, not every row
    items = items.assign(**{c: pd.Categorical.from_codes(codes, uniques.astype(object))
                            for c, (codes, uniques) in coded.items()})
    keys = [coded[c][0] if c in coded else pd.factorize(items[c], sort=True)[0]
            for c in reversed(ORDER)]
    order = np.lexsort([np.where(k < 0, np.iinfo(np.int64).max, k) for k in keys])
    return EARNED.conform(items.iloc[order])
