"""Fee checks that depend on money already paid or on what the store can hold.

A site's contract currency may not change once a payment run has paid the site
in it (the paid amounts would no longer compare with the contract), and a fee
must be in a currency whose minor unit the store keeps exactly (two decimals:
KWD or BHD, with three, are refused rather than silently rounded).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from planner.importing.contract_cells import STORE_PLACES, cells, flag
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.importing.sync import Writer
from planner.money import minor_units
from planner.payment_tables import PaymentLine


def unsupported_currency_issues(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """Contract currencies with more decimals than the store keeps."""
    finer = typed["currency"].map(
        lambda c: isinstance(c, str) and minor_units(c) > STORE_PLACES, na_action=None)
    return flag(raw, finer.astype(bool), "currency", cells(raw, "currency"),
                f"a currency with at most {STORE_PLACES} decimals: the store keeps "
                f"{STORE_PLACES}, so three-decimal currencies (KWD, BHD, ...) cannot be "
                "contract currencies yet")


def paid_currency_issues(writer: Writer, raw: RawTable, typed: pd.DataFrame,
                         sites: pd.DataFrame) -> list[ImportIssue]:
    """Fees whose currency differs from the one their sites were already paid in.

    ``typed`` has study_pk, site_pk (NA: the country's template), country and
    currency; ``sites`` the stored sites (id, study_pk, country_code, site_id).
    """
    paid = pd.DataFrame(writer.session.execute(
        select(PaymentLine.site_pk, PaymentLine.currency).distinct()).all(),
        columns=["site_pk", "paid_currency"])
    if paid.empty:
        return []
    rows = typed[["study_pk", "site_pk", "country", "currency"]].reset_index(drop=True)
    rows["_pos"] = range(len(rows))
    own = rows[rows["site_pk"].notna()].astype({"site_pk": "int64"})
    template = rows[rows["site_pk"].isna()].drop(columns=["site_pk"]).merge(
        sites.rename(columns={"id": "site_pk", "country_code": "country"})[
            ["site_pk", "study_pk", "country"]].astype({"study_pk": "Int64"}),
        on=["study_pk", "country"])
    affected = pd.concat([own, template], ignore_index=True).merge(paid, on="site_pk")
    clash = affected[affected["currency"] != affected["paid_currency"]]
    clash = clash.drop_duplicates("_pos").set_index("_pos").reindex(rows.index)
    site_ids = sites.set_index("id")["site_id"]
    expected = pd.Series([
        "" if pd.isna(c) else f"{c}, the currency site {site_ids.get(int(s), s)} was paid in "
        "by approved payment runs (a paid contract's currency cannot change)"
        for c, s in zip(clash["paid_currency"], clash["site_pk"], strict=True)],
        index=rows.index)
    return flag(raw, clash["paid_currency"].notna().to_numpy(), "currency",
                cells(raw, "currency"), expected)
