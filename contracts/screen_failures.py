"""Screen-failure fees with the cap applied in date order (docs/SITE_PAYMENTS.md).

Per site, the screen failures priced by the contract are ranked k = 1, 2, … by
screen-failure date (then subject id). The k-th is paid when k ≤ sf_min, or
once the site has randomized ⌈k / sf_ratio⌉ subjects; never when k > sf_max.
It is earned on its own date, or on the date of the randomization that lifted
the cap; otherwise it is held (``sf_over_cap``). ⌈k / sf_ratio⌉ is computed in
integers from the ratio's exact fraction, never in float.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from contracts.minor import ratio
from contracts.pricing import date_text, exact_or_none, site_positions, with_fee
from contracts.visit_fees import screen_failure_mask
from planner.payment_tables import SCREEN_FAILURE_CODE, ItemType

NEVER = np.iinfo(np.int64).max  # randomizations needed when the ratio is 0


def randomizations_needed(rank: np.ndarray, sf_ratio: Decimal | None) -> np.ndarray:
    """⌈k / sf_ratio⌉ exactly (0 without a ratio: nothing needed; NEVER for ratio 0)."""
    k = np.asarray(rank, dtype=np.int64)
    if sf_ratio is None:
        return np.zeros(len(k), dtype=np.int64)
    numerator, denominator = ratio(sf_ratio)
    if numerator <= 0:
        return np.full(len(k), NEVER, dtype=np.int64)
    return (k * denominator + numerator - 1) // numerator


def _nth_randomization(subjects: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Date of the n-th randomization of each site to date, keyed (study, site, n)."""
    randomized = subjects[subjects["randomized"].notna()
                          & (subjects["randomized"] <= pd.Timestamp(as_of))]
    ordered = randomized.sort_values(["study_id", "site_id", "randomized", "subject_id"])
    n = ordered.groupby(["study_id", "site_id"], sort=False).cumcount() + 1
    index = pd.MultiIndex.from_arrays([ordered["study_id"].astype(str),
                                       ordered["site_id"].astype(str), n.to_numpy()])
    return pd.Series(ordered["randomized"].to_numpy(), index=index)


def _counts(values: pd.Series, blank: float) -> np.ndarray:
    """Optional counts as numbers (``blank`` where the terms leave them empty)."""
    return np.array([blank if v is None or pd.isna(v) else float(v) for v in values])


def screen_failure_items(subjects: pd.DataFrame, contracts: pd.DataFrame, fees: pd.DataFrame,
                         as_of: dt.date) -> pd.DataFrame:
    """One priced row per screen failure dated ≤ as-of: earned (with the date the cap
    allowed it) or sf_over_cap (earned_date NaT)."""
    failed = subjects[screen_failure_mask(subjects)]
    service = failed["screen_failed"].fillna(failed["screened"])
    failed = failed.assign(service_date=service)[service <= pd.Timestamp(as_of)]
    positions = site_positions(contracts, failed["study_id"], failed["site_id"])
    failed, positions = failed[positions >= 0], positions[positions >= 0]
    candidates = pd.DataFrame({
        "study_id": failed["study_id"].astype(str).to_numpy(),
        "site_id": failed["site_id"].astype(str).to_numpy(),
        "country": contracts["country"].to_numpy()[positions],
        "subject_id": failed["subject_id"].astype(str).to_numpy(),
        "item_type": ItemType.SCREEN_FAILURE.value, "item_code": SCREEN_FAILURE_CODE,
        "item_ref": pd.Series(pd.NA, index=range(len(failed)), dtype="string"),
        "occurrence": 1,  # paid once per subject: no item_ref
        "service_date": failed["service_date"].to_numpy(),
        "position": positions,
    })
    items = with_fee(candidates, fees).sort_values(
        ["study_id", "site_id", "service_date", "subject_id"], ignore_index=True)
    rank = (items.groupby(["study_id", "site_id"], sort=False).cumcount() + 1).to_numpy()
    terms = contracts.loc[items["position"]]
    sf_ratio = [exact_or_none(v) for v in terms["sf_ratio"]]
    need = np.zeros(len(items), dtype=np.int64)
    for value in set(sf_ratio):
        rows = np.array([r == value if value is not None else r is None for r in sf_ratio],
                        dtype=bool)
        need[rows] = randomizations_needed(rank[rows], value)
    lifted_on = _nth_randomization(subjects, as_of).reindex(pd.MultiIndex.from_arrays(
        [items["study_id"], items["site_id"], need])).to_numpy(dtype="datetime64[s]")
    by_min = rank <= _counts(terms["sf_min"], 0)
    over_max = rank > _counts(terms["sf_max"], np.inf)
    no_need = need == 0
    paid = ~over_max & (by_min | no_need | ~np.isnat(lifted_on))
    service_dates = items["service_date"].to_numpy(dtype="datetime64[s]")
    later = np.where(np.isnat(lifted_on), service_dates, np.maximum(service_dates, lifted_on))
    earned_on = np.where(by_min | no_need, service_dates, later)
    items["earned_date"] = np.where(paid, earned_on, np.datetime64("NaT"))
    items["status"] = np.where(paid, "earned", "sf_over_cap")
    lifted_later = paid & ~(by_min | no_need) & (lifted_on > service_dates)
    items["source"] = _sources(items, rank, need, lifted_later, lifted_on, over_max)
    return items.drop(columns=["position"])


def _sources(items: pd.DataFrame, rank: np.ndarray, need: np.ndarray, lifted: np.ndarray,
             lifted_on: np.ndarray, over_max: np.ndarray) -> list[str]:
    """Why each screen failure is paid or held, in words."""
    out = []
    dates = date_text(items["service_date"])
    for i, (subject, site) in enumerate(zip(items["subject_id"], items["site_id"], strict=True)):
        text = f"DS: USUBJID {subject} screen failure on {dates[i]} (no. {rank[i]} at site {site}"
        if over_max[i]:
            text += ", beyond sf_max)"
        elif lifted[i]:
            text += f", paid from randomization no. {need[i]} on " \
                    f"{np.datetime_as_string(lifted_on[i], unit='D')})"
        elif items["status"].iat[i] == "sf_over_cap":
            text += f", held until {need[i]} randomized)"
        else:
            text += ")"
        out.append(text)
    return out
