"""Shared steps of the earned-items computation: which site row a row belongs to,
the fee in force for a candidate item, overhead and holdback (docs/SITE_PAYMENTS.md).

Candidates are frames with study_id, site_id, country, item_type, item_code and
service_date; pricing keeps those with a fee in force on their service date.
Money stays in int64 minor units; percentages are exact ``Decimal`` factors.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from contracts.fee_grid import fee_in_force
from contracts.minor import percent_factor, scale_half_up

REQUEST_KEYS = ["study_id", "site_id", "country", "item_type", "item_code"]


def site_positions(contracts: pd.DataFrame, study_id: pd.Series,
                   site_id: pd.Series) -> np.ndarray:
    """Row of ``contracts`` for each (study_id, site_id) pair; -1 when the site has
    no contract (or is unknown), so callers drop it with one comparison."""
    known = contracts[contracts["has_contract"].astype(bool)]
    index = pd.MultiIndex.from_arrays([known["study_id"].astype(str),
                                       known["site_id"].astype(str)])
    wanted = pd.MultiIndex.from_arrays([_text(study_id), _text(site_id)])
    found = index.get_indexer(wanted)
    labels = np.append(known.index.to_numpy(dtype=np.int64), -1)  # found -1 → label -1
    return labels[found]


def _text(values: pd.Series) -> pd.Series | pd.Categorical:
    """Ids as plain text; categoricals keep their codes (cheap on a million rows)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.rename_categories(values.cat.categories.astype(str))
    return values.astype(str)


def with_fee(candidates: pd.DataFrame, fees: pd.DataFrame) -> pd.DataFrame:
    """The candidates that have a fee in force on their service date, with ``fee_minor``
    (int64). An item the contract does not price on that date is not earned."""
    if candidates.empty:
        return candidates.assign(fee_minor=pd.Series(dtype="int64"))
    # one lookup per distinct (site, item, date): visits repeat them a lot
    keys = [*REQUEST_KEYS, "service_date"]
    codes = candidates.groupby(keys, observed=True, sort=False, dropna=False).ngroup()
    distinct = candidates.loc[~codes.duplicated(), keys]
    requests = distinct.rename(columns={"service_date": "date"}).set_index(
        codes[~codes.duplicated()].to_numpy())
    fee = fee_in_force(fees, requests)["fee_minor"].reindex(codes.to_numpy())  # Int64
    priced = fee.notna().to_numpy()
    out = candidates.loc[priced].copy()
    out["fee_minor"] = fee[priced].to_numpy(dtype="int64")
    return out


def _pct(value: object) -> Decimal:
    """A terms percentage; blank means none (0 %)."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return Decimal(0)
    return Decimal(value) if not isinstance(value, Decimal) else value


def gross_and_holdback(fee_minor: np.ndarray, positions: np.ndarray,
                       contracts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """gross = round_half_up(fee × (1 + overhead)), holdback = round_half_up(gross ×
    holdback), each per line in integers; one vectorized pass per distinct pair of terms."""
    fee = np.asarray(fee_minor, dtype=np.int64)
    gross = np.zeros(len(fee), dtype=np.int64)
    holdback = np.zeros(len(fee), dtype=np.int64)
    terms = pd.DataFrame({
        "overhead": [_pct(v) for v in contracts["overhead_pct"]],
        "holdback": [_pct(v) for v in contracts["holdback_pct"]],
    }, index=contracts.index)
    for (overhead, held), rows in terms.groupby(["overhead", "holdback"]).groups.items():
        mask = np.isin(positions, rows.to_numpy())
        if not mask.any():
            continue
        gross[mask] = scale_half_up(fee[mask], Decimal(1) + percent_factor(overhead))
        holdback[mask] = scale_half_up(gross[mask], percent_factor(held))
    return gross, holdback


def date_text(dates: pd.Series) -> np.ndarray:
    """ISO dates as text, vectorized (strftime is slow on a million rows)."""
    return np.datetime_as_string(dates.to_numpy(dtype="datetime64[D]"), unit="D")
