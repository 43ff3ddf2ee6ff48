"""Visit fees and unscheduled visits earned from SV rows (docs/SITE_PAYMENTS.md).

A scheduled visit (TV lists it as scheduled; a study without TV: an integer
VISITNUM) of a subject who is not a screen failure earns the visit fee in force
on its date, once per VISITNUM (item_ref NA: the VISITNUM is the identity, whatever
its date). Any other visit is unscheduled: it gives an ``invoice_only`` row when the
contract prices ``invoiceable / UNSCHEDULED``, identified by its SV row (item_ref
"SV 3.1 #1": VISITNUM and visit_seq), so a visit entered late or re-dated never
shifts the identity of another. A screen failure's visits are paid through the
screen-failure fee only.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from contracts.pricing import date_text, site_positions, with_fee
from planner.domain import visit_code
from planner.payment_tables import UNSCHEDULED_CODE, ItemType


def screen_failure_mask(subjects: pd.DataFrame) -> pd.Series:
    """Screen failures: screen-failure date set and never randomized."""
    return subjects["screen_failed"].notna() & subjects["randomized"].isna()


def _scheduled(visits: pd.DataFrame, codes: pd.Series,
               planned_visits: pd.DataFrame) -> np.ndarray:
    """Whether each visit is scheduled, decided once per distinct (study, VISITNUM)."""
    pairs = pd.DataFrame({"study_id": visits["study_id"].astype(str),
                          "code": codes}).drop_duplicates()
    planned = planned_visits[planned_visits["scheduled"].astype(bool)]
    listed = set(zip(planned["study_id"].astype(str),
                     planned["visit_num"].map(visit_code), strict=True))
    with_tv = set(planned_visits["study_id"].astype(str))
    pairs["scheduled"] = [
        (study, code) in listed if study in with_tv else "." not in code
        for study, code in zip(pairs["study_id"], pairs["code"], strict=True)]
    key = pd.MultiIndex.from_frame(pairs[["study_id", "code"]])
    wanted = pd.MultiIndex.from_arrays([visits["study_id"].astype(str), codes])
    return pairs["scheduled"].to_numpy()[key.get_indexer(wanted)]


def _categories_as_text(values: pd.Series) -> pd.Categorical:
    """Ids as a categorical of text (the visits frame's ids are categoricals already)."""
    values = values.astype("category")
    return values.cat.rename_categories(values.cat.categories.astype(str)).array


def _codes(visit_num: pd.Series) -> pd.Series:
    """visit_code of each VISITNUM, computed once per distinct value."""
    distinct = pd.unique(visit_num.to_numpy())
    text = pd.Series([visit_code(v) for v in distinct], index=distinct, dtype=object)
    return pd.Series(pd.Categorical(text.reindex(visit_num.to_numpy()).to_numpy()),
                     index=visit_num.index)


def visit_items(visits: pd.DataFrame, subjects: pd.DataFrame, planned_visits: pd.DataFrame,
                contracts: pd.DataFrame, fees: pd.DataFrame,
                as_of: dt.date) -> pd.DataFrame:
    """Priced visit-fee rows (status earned) and unscheduled rows (status invoice_only)."""
    dated = visits["visit_date"].notna() & (visits["visit_date"] <= pd.Timestamp(as_of))
    rows = visits.loc[dated.to_numpy()]
    positions = site_positions(contracts, rows["study_id"], rows["site_id"])
    failed = subjects.loc[screen_failure_mask(subjects), ["study_id", "subject_id"]]
    failed_keys = pd.MultiIndex.from_arrays([failed["study_id"].astype(str),
                                             failed["subject_id"].astype(str)])
    subject_keys = pd.MultiIndex.from_arrays([rows["study_id"].astype(str),
                                              rows["subject_id"].astype(str)])
    keep = (positions >= 0) & ~subject_keys.isin(failed_keys)
    rows, positions = rows.loc[keep], positions[keep]
    codes = _codes(rows["visit_num"])
    scheduled = _scheduled(rows, codes, planned_visits) if len(rows) else np.zeros(0, bool)
    frame = pd.DataFrame({  # ids stay categorical: grouping and sorting use their codes
        "study_id": _categories_as_text(rows["study_id"]),
        "site_id": _categories_as_text(rows["site_id"]),
        "country": contracts["country"].to_numpy()[positions],
        "subject_id": _categories_as_text(rows["subject_id"]),
        "item_code": codes.to_numpy(),
        "service_date": rows["visit_date"].to_numpy(),
        "visit_num": rows["visit_num"].to_numpy(),
        "visit_seq": rows["visit_seq"].to_numpy(),
        "scheduled": scheduled,
    })
    paid = frame[frame["scheduled"]].sort_values(["visit_seq", "service_date"], kind="stable")
    paid = paid[~paid.duplicated(["study_id", "subject_id", "visit_num"])]  # paid once
    paid = paid.assign(item_type=ItemType.VISIT.value, occurrence=1, status="earned",
                       earned_date=paid["service_date"],
                       item_ref=pd.Series(pd.NA, index=paid.index, dtype="string"))
    extra = frame[~frame["scheduled"]].sort_values(
        ["study_id", "subject_id", "service_date", "visit_num", "visit_seq"], kind="stable")
    extra = extra.assign(
        item_type=ItemType.INVOICEABLE.value, status="invoice_only", earned_date=pd.NaT,
        occurrence=extra.groupby(["study_id", "subject_id"], sort=False).cumcount() + 1)
    visit_text = extra["item_code"].astype(object)
    extra["item_code"] = UNSCHEDULED_CODE
    extra["visit_text"] = visit_text
    extra["item_ref"] = pd.array(  # the SV row: its VISITNUM and repeat number
        ("SV " + visit_text + " #" + extra["visit_seq"].astype(str)).to_numpy(object),
        dtype="string")
    paid["visit_text"] = paid["item_code"].astype(object)
    out = pd.concat([with_fee(paid, fees), with_fee(extra, fees)], ignore_index=True)
    out["source"] = _sources(out)
    return out.drop(columns=["visit_num", "visit_seq", "scheduled", "visit_text"])


def _sources(items: pd.DataFrame) -> pd.Series:
    """"SV: USUBJID 01-701-1015 VISITNUM 3 on 2014-01-16" (+ " (unscheduled)")."""
    text = ("SV: USUBJID " + items["subject_id"].astype(object) + " VISITNUM "
            + items["visit_text"].astype(object) + " on "
            + pd.Series(date_text(items["service_date"]), index=items.index, dtype=object))
    unscheduled = items["status"] == "invoice_only"
    return text.where(~unscheduled, text + " (unscheduled)")
