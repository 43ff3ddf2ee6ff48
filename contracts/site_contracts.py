"""Each site's contract terms, currency and key dates (docs/SITE_PAYMENTS.md).

A site's own terms row replaces its country's; a site has a contract when it
has terms and at least one fee row (its own or its country's template). The
contract currency is the currency of those fees (the importer refuses a mix).
"""

from __future__ import annotations

import pandas as pd

TERMS_COLUMNS = ["overhead_pct", "holdback_pct", "sf_ratio", "sf_min", "sf_max",
                 "payment_frequency", "terms_days"]
CLOSEOUT_STATUS = "closed"


def _terms_for(sites: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    own = sites.merge(terms[terms["site_id"].notna()].drop(columns=["country", "source"]),
                      on=["study_id", "site_id"], how="left")
    country = sites.merge(terms[terms["site_id"].isna()].drop(columns=["site_id", "source"]),
                          on=["study_id", "country"], how="left")
    has_own = own["payment_frequency"].notna()
    # column by column: a block assignment fails when no site has its own row (pandas 3)
    out = pd.DataFrame({c: own[c].where(has_own, country[c]) for c in TERMS_COLUMNS})
    out["has_terms"] = out["payment_frequency"].notna()
    return out


def _fee_currency(sites: pd.DataFrame, fees: pd.DataFrame) -> pd.Series:
    own = fees[fees["site_id"].notna()].groupby(["study_id", "site_id"])["currency"].first()
    template = fees[fees["site_id"].isna()].groupby(["study_id", "country"])["currency"].first()
    by_own = pd.MultiIndex.from_frame(sites[["study_id", "site_id"]])
    by_country = pd.MultiIndex.from_frame(sites[["study_id", "country"]])
    currency = pd.Series(own.reindex(by_own).to_numpy(), index=sites.index, dtype="string")
    return currency.fillna(pd.Series(template.reindex(by_country).to_numpy(),
                                     index=sites.index, dtype="string"))


def closeout_dates(sites: pd.DataFrame, visits: pd.DataFrame) -> pd.Series:
    """Close-out date of each closed site: its last subject visit, else its activation."""
    last = (visits.dropna(subset=["visit_date"])
            .groupby(["study_id", "site_id"], observed=True)["visit_date"].max())
    keys = pd.MultiIndex.from_frame(sites[["study_id", "site_id"]].astype(str))
    last.index = pd.MultiIndex.from_arrays([last.index.get_level_values(0).astype(str),
                                            last.index.get_level_values(1).astype(str)])
    dates = pd.Series(last.reindex(keys).to_numpy(), index=sites.index).astype("datetime64[s]")
    dates = dates.fillna(sites["actual_activation"])
    return dates.where(sites["status"] == CLOSEOUT_STATUS)


def site_contracts(sites: pd.DataFrame, fees: pd.DataFrame, terms: pd.DataFrame,
                   visits: pd.DataFrame) -> pd.DataFrame:
    """One row per site: study_id, site_id, country, status, actual_activation,
    closeout, currency (NA: no fee), the terms columns, has_contract."""
    base = sites[["study_id", "site_id", "country", "status", "actual_activation"]]
    base = base.reset_index(drop=True).astype(
        {"study_id": "string", "site_id": "string", "country": "string"})
    out = pd.concat([base, _terms_for(base, terms)], axis=1)
    out["currency"] = _fee_currency(base, fees)
    out["closeout"] = closeout_dates(base, visits)
    out["has_contract"] = out["has_terms"] & out["currency"].notna()
    return out.drop(columns=["has_terms"])
