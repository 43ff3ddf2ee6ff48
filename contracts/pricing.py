"""Shared steps of the earned-items computation: which site row a row belongs to,
the fee in force for a candidate item, overhead and holdback (docs/SITE_PAYMENTS.md).

:func:`gross_and_holdback` (with :func:`scale_by_percent` and :func:`percent`) is the
one place gross and holdback are computed: the earned items, the invoiceables an
invoice earns, the demo's invoices and the activation costs all call it.

Candidates are frames with study_id, site_id, country, item_type, item_code and
service_date; pricing keeps those with a fee in force on their service date.
Money stays in int64 minor units; percentages are exact ``Decimal`` factors.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def exact_or_none(value: object) -> Decimal | None:
    """A terms number (a percent, a ratio) as an exact ``Decimal``; None when blank (None,
    NaN, NA). A float goes through its shortest text, never its binary expansion."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def percent(value: object) -> Decimal:
    """A terms percentage (26 = 26 %) as an exact ``Decimal``; blank (None, NaN, NA) is
    0 %. A float goes through its shortest text, never its binary expansion."""
    exact = exact_or_none(value)
    return Decimal(0) if exact is None else exact


def scale_by_percent(minor: np.ndarray, percents: Sequence[object] | pd.Series,
                     rows: np.ndarray | None = None, *, plus_one: bool = False) -> np.ndarray:
    """round_half_up(minor × (1 + p/100)) (``plus_one``) or round_half_up(minor × p/100)
    for each line, p = ``percents[rows[i]]`` (``percents[i]`` without ``rows``; blank
    is 0 %), each line rounded once in integers.

    The percents are parsed once each and grouped by distinct value: one vectorized
    pass per distinct percent (a handful of terms), whatever the number of lines.
    """
    values = np.asarray(minor, dtype=np.int64)
    parsed = pd.Series([percent(v) for v in np.asarray(percents, dtype=object)], dtype=object)
    codes, distinct = pd.factorize(parsed)
    code = codes if rows is None else codes[np.asarray(rows, dtype=np.int64)]
    out = np.zeros(len(values), dtype=np.int64)
    for k, value in enumerate(distinct):
        mask = code == k
        if mask.any():
            factor = percent_factor(value)
            out[mask] = scale_half_up(values[mask], Decimal(1) + factor if plus_one else factor)
    return out


def gross_and_holdback(fee_minor: np.ndarray, overhead_pct: Sequence[object] | pd.Series,
                       holdback_pct: Sequence[object] | pd.Series,
                       rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """gross = round_half_up(fee × (1 + overhead/100)) and holdback =
    round_half_up(gross × holdback/100), each rounded once per line in integers.

    ``overhead_pct`` and ``holdback_pct`` are the terms' percents (blank: 0 %), per line
    or, with ``rows``, per terms row and ``rows`` picks each line's (the earned items
    pass the site contracts once and each item's row).
    """
    gross = scale_by_percent(fee_minor, overhead_pct, rows, plus_one=True)
    return gross, scale_by_percent(gross, holdback_pct, rows)


def date_text(dates: pd.Series) -> np.ndarray:
    """ISO dates as text, vectorized (strftime is slow on a million rows)."""
    return np.datetime_as_string(dates.to_numpy(dtype="datetime64[D]"), unit="D")
