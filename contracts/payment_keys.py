"""What a payment run pays once: the item key, and what approved runs settled per item.

Why the key has no date: an item must keep its identity when the data move under
it (a visit re-dated by data management, an unscheduled visit entered late, an
invoice back-dated), or a run would find it unpaid and pay it again. So an item
is (study, site, subject, item_type, item_code, item_ref): item_ref is NA for
what is paid once per code (a scheduled VISITNUM, a subject's screen failure, a
site's one-time fee) and an opaque identity otherwise (the SV row of an
unscheduled visit, the invoice line that earned an invoiceable). The service
date and occurrence travel with the lines for display only
(docs/SITE_PAYMENTS.md, "Payment runs in detail").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from contracts.schemas import PAYMENT_LINES

ITEM = "item"
RELEASE = "holdback_release"
KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code", "item_ref"]
SHOWN = ["occurrence", "service_date"]  # carried on the lines, not part of the key
SITE = ["study_id", "site_id", "currency"]
FX_COLUMNS = ["fx_rate", "reporting_minor", "reporting_currency"]
DEFERRED_COLUMNS = [c for c in PAYMENT_LINES.names if c not in FX_COLUMNS]


class PaymentsError(ValueError):
    """The inputs cannot make a payment run (a site without contract, a repeated item)."""


def mask(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=bool, na_value=False)


def ints(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="int64", na_value=0)


def item_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The item key of each row, NA made comparable (blank text)."""
    return pd.DataFrame({c: frame[c].astype("string").fillna("").to_numpy(dtype=object)
                         for c in KEY})


def due_items(earned: pd.DataFrame, through: dt.date) -> pd.DataFrame:
    """Items earned by ``through`` (status earned), refusing an item key seen twice."""
    stamp = pd.Timestamp(through)
    due = mask(earned["status"] == "earned") & mask(earned["earned_date"] <= stamp)
    items = earned.loc[due].reset_index(drop=True)
    repeated = item_keys(items).duplicated(keep=False).to_numpy()
    if repeated.any():
        first = items.loc[repeated, KEY].head(3).to_dict("records")
        raise PaymentsError(f"{int(repeated.sum())} earned rows share an item key "
                            f"(study, site, subject, item type, code, ref), e.g. {first}")
    return items


def settled(items: pd.DataFrame, paid: pd.DataFrame) -> pd.DataFrame:
    """Per item of ``items``: what approved runs withheld (W) and settled (P + W)."""
    prior = paid.loc[mask(paid["kind"] == ITEM)].reset_index(drop=True)
    keys = item_keys(prior)
    keys["withheld"] = ints(prior["holdback_minor"])
    keys["settled"] = ints(prior["amount_minor"]) + keys["withheld"]
    keys["paid_currency"] = prior["currency"].astype(str).to_numpy(dtype=object)
    sums = keys.groupby(KEY, sort=False).agg(
        withheld=("withheld", "sum"), settled=("settled", "sum"),
        paid_currency=("paid_currency", "first"), currencies=("paid_currency", "nunique"))
    found = item_keys(items).merge(sums.reset_index(), on=KEY, how="left")
    mixed = (found["currencies"].fillna(1) > 1) | (
        found["paid_currency"].notna()
        & (found["paid_currency"] != items["currency"].astype(str).to_numpy(dtype=object)))
    if mixed.any():
        first = items.loc[mixed.to_numpy(), KEY].head(3).to_dict("records")
        raise PaymentsError(f"{int(mixed.sum())} items were paid in another currency than "
                            f"they are earned in (the contract currency changed?), e.g. "
                            f"{first}: settle them by hand")
    return pd.DataFrame({"withheld": ints(found["withheld"]),
                         "settled": ints(found["settled"])})


def withheld_by_site(*frames: pd.DataFrame) -> pd.DataFrame:
    """Σ holdback_minor over ``frames`` (payment lines) per site and currency (SITE), as
    ``value``: what was withheld less what was released (release lines hold −released)."""
    withheld = pd.concat([frame[SITE].astype(str).assign(value=ints(frame["holdback_minor"]))
                          for frame in frames], ignore_index=True)
    return withheld.groupby(SITE, as_index=False)["value"].sum()


def site_terms(frame: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    """payment_frequency, terms_days and closeout of each row's site; refuses unknown ones."""
    terms = contracts[["study_id", "site_id", "payment_frequency", "terms_days", "closeout"]]
    terms = terms.astype({"study_id": str, "site_id": str}).drop_duplicates(
        ["study_id", "site_id"])
    ids = frame[["study_id", "site_id"]].astype(str)
    found = ids.merge(terms, on=["study_id", "site_id"], how="left")
    missing = found["payment_frequency"].isna().to_numpy()
    if missing.any():
        sites = sorted({f"{s}/{t}" for s, t in ids.loc[missing].itertuples(index=False)})
        raise PaymentsError(f"no contract terms for site(s) {', '.join(sites[:10])}: "
                            "their items cannot be paid")
    return found


def stale_lines(lines: pd.DataFrame, paid: pd.DataFrame) -> pd.DataFrame:
    """The ``lines`` no longer right against ``paid`` (the approved runs now): an item
    whose already-settled amount differs, a release that is not Σ withheld − Σ released.

    Empty when the lines were computed from the same approved runs; approving stale
    lines could pay an item twice.
    """
    is_item = mask(lines["kind"] == ITEM)
    items = lines.loc[is_item].reset_index(drop=True)
    before = settled(items, paid)["settled"].to_numpy()
    stale = np.zeros(len(lines), dtype=bool)
    stale[np.flatnonzero(is_item)] = before != ints(items["already_paid_minor"])
    expected = withheld_by_site(paid, items).set_index(SITE)["value"].to_dict()
    releases = lines.loc[~is_item, SITE].astype(str).itertuples(index=False, name=None)
    due = np.array([int(expected.get(site, 0)) for site in releases], dtype=np.int64)
    stale[np.flatnonzero(~is_item)] = due != ints(lines.loc[~is_item, "amount_minor"])
    return lines.loc[stale]
