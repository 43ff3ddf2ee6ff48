"""Which fee is in force for a site, an item and a date (docs/SITE_PAYMENTS.md).

A site's own fee rows replace its country's template for that item; among the
rows dated on or before the service date, the latest wins (dated amendments).
Vectorized with ``merge_asof``: a million lookups cost one sort.
"""

from __future__ import annotations

import pandas as pd

ITEM_KEY = ["study_id", "item_type", "item_code"]
FEE_COLUMNS = ["fee_minor", "currency", "cap", "description", "effective_from"]


def _latest(requests: pd.DataFrame, rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """For each request, the latest row of the same ``by`` keys dated on or before it."""
    if rows.empty or requests.empty:
        empty = pd.DataFrame(index=requests.index, columns=FEE_COLUMNS)
        return empty.astype({"fee_minor": "Int64"})
    left = requests[[*by, "date"]].reset_index(names="_request").sort_values("date")
    right = rows[[*by, "effective_from", "amount_minor", "currency", "cap", "description"]]
    # nullable integers: a request without a fee gets NA, never a float NaN (money stays int)
    right = right.rename(columns={"amount_minor": "fee_minor"}).astype(
        {c: "string" for c in by} | {"effective_from": "datetime64[s]", "fee_minor": "Int64"})
    left = left.astype({c: "string" for c in by} | {"date": "datetime64[s]"})
    right = right.sort_values("effective_from")
    found = pd.merge_asof(left, right, left_on="date", right_on="effective_from", by=by,
                          direction="backward")
    return found.set_index("_request")[FEE_COLUMNS].reindex(requests.index)


def fee_in_force(fees: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """The fee for each request (study_id, site_id, country, item_type, item_code, date).

    Returns, on the requests' index: fee_minor (Int64, NA: not in the contract on
    that date), currency, cap (Int64), description, effective_from, and ``level``
    (site or template) telling which grid priced it.
    """
    dated = requests[requests["date"].notna()]
    keys = ["study_id", "site_id", "country", "item_type", "item_code", "date"]
    dated = dated[keys].astype({c: "string" for c in keys[:-1]})
    own = _latest(dated, fees[fees["site_id"].notna()], [*ITEM_KEY, "site_id"])
    template = _latest(dated, fees[fees["site_id"].isna()], [*ITEM_KEY, "country"])
    # a site with any own row for the item on that date uses its own grid
    use_own = own["fee_minor"].notna()
    # column by column: DataFrame.where goes through float for Int64 and loses large amounts
    chosen = pd.DataFrame({c: own[c].where(use_own, template[c]) for c in FEE_COLUMNS})
    chosen["level"] = pd.Series("template", index=chosen.index).where(~use_own, "site")
    chosen.loc[chosen["fee_minor"].isna(), "level"] = pd.NA
    out = chosen.reindex(requests.index)
    return pd.DataFrame({
        "fee_minor": out["fee_minor"].astype("Int64"),
        "currency": out["currency"].astype("string"),
        "cap": pd.to_numeric(out["cap"]).astype("Int64"),
        "description": out["description"].astype("string"),
        "effective_from": pd.to_datetime(out["effective_from"]).astype("datetime64[s]"),
        "level": out["level"].astype("string"),
    }, index=requests.index)
