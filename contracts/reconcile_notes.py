"""The words that explain a reconciliation status, built column-wise.

Why: finance reads the note, not the status code, to decide what to tell the
site ("billed 120.00 EUR, contract allows 110.00 EUR"). Notes are built for the
lines that need one with vectorized string operations, so a 50,000-line invoice
batch costs no per-line Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.money import minor_units
from planner.payment_tables import UNSCHEDULED_CODE, ItemType


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string")


def money_text(minor: pd.Series, currency: pd.Series) -> pd.Series:
    """'120.00 EUR' for 12000 EUR minor units (the currency's decimals), exactly."""
    amount = pd.Series(np.asarray(minor, dtype=np.int64), index=minor.index)
    currency = _text(currency)
    digits = currency.map({c: minor_units(c) for c in currency.dropna().unique()})
    out = pd.Series(pd.NA, index=minor.index, dtype="string")
    for places in digits.dropna().unique():
        mask = (digits == places).fillna(False).to_numpy(bool)
        size = np.abs(amount[mask])
        sign = pd.Series(np.where(amount[mask] < 0, "-", ""), index=size.index)
        whole = (size // 10 ** int(places)).astype(str)
        text = sign + whole
        if places:
            fraction = (size % 10 ** int(places)).astype(str).str.zfill(int(places))
            text = text + "." + fraction
        out[mask] = text.astype("string")
    return out + " " + currency


def date_text(dates: pd.Series) -> pd.Series:
    """ISO dates; 'an unknown date' where missing."""
    return _text(pd.to_datetime(dates).dt.strftime("%Y-%m-%d")).fillna("an unknown date")


def item_phrase(item_type: pd.Series, item_code: pd.Series) -> pd.Series:
    """'visit 3', 'screen failure', 'unscheduled visit', 'STARTUP fee', 'IRB_RENEWAL'."""
    kind, code = _text(item_type), _text(item_code).fillna("?")
    out = code.copy()
    out = out.mask((kind == ItemType.VISIT.value).fillna(False), "visit " + code)
    out = out.mask((kind == ItemType.ONE_TIME.value).fillna(False), code + " fee")
    out = out.mask((kind == ItemType.SCREEN_FAILURE.value).fillna(False), "screen failure")
    unscheduled = ((kind == ItemType.INVOICEABLE.value)
                   & (code == UNSCHEDULED_CODE)).fillna(False)
    return out.mask(unscheduled, "unscheduled visit")


def who_phrase(subject_id: pd.Series, site_id: pd.Series) -> pd.Series:
    """'subject X' when the line names one, else 'site S'."""
    subject = _text(subject_id)
    return ("subject " + subject).fillna("site " + _text(site_id))


def wrong_currency(currency: pd.Series, contract_currency: pd.Series) -> pd.Series:
    return ("invoice in " + _text(currency) + ", the contract is in "
            + _text(contract_currency))


def no_contract(site_id: pd.Series) -> pd.Series:
    return "site " + _text(site_id) + " has no contract"


def not_in_contract(lines: pd.DataFrame) -> pd.Series:
    return ("no fee for " + item_phrase(lines["item_type"], lines["item_code"]) + " on "
            + date_text(lines["service_date"]) + " in the contract of site "
            + _text(lines["site_id"]))


def same_line(first: pd.DataFrame) -> pd.Series:
    """``first``: the earlier line's invoice_id and line_no (on the duplicate's index)."""
    return ("same as invoice " + _text(first["invoice_id"]) + " line "
            + first["line_no"].astype(str))


def already_billed(lines: pd.DataFrame, item_date: pd.Series, other: pd.DataFrame) -> pd.Series:
    """``other``: the invoice_id and line_no of the line that took the item."""
    return (item_phrase(lines["item_type"], lines["item_code"]) + " for "
            + who_phrase(lines["subject_id"], lines["site_id"]) + " on "
            + date_text(item_date) + " already billed on invoice "
            + _text(other["invoice_id"]) + " line " + other["line_no"].astype(str))


def sf_over_cap(site_id: pd.Series, rank: pd.Series, paid: pd.Series,
                sf_ratio: pd.Series) -> pd.Series:
    """'screen failure 5 of site 701 over the cap of 3 paid (sf_ratio 0.25)'."""
    text = ("screen failure " + rank.astype(str) + " of site " + _text(site_id)
            + " over the cap of " + paid.astype(str) + " paid")
    ratio = sf_ratio.map(lambda r: None if r is None or pd.isna(r) else f" (sf_ratio {r})",
                         na_action="ignore")
    return text + _text(ratio).fillna("")


def over_item_cap(lines: pd.DataFrame, rank: pd.Series, cap: pd.Series) -> pd.Series:
    """'IRB_RENEWAL 3 for subject X over the cap of 2'."""
    return (item_phrase(lines["item_type"], lines["item_code"]) + " " + rank.astype(str)
            + " for " + who_phrase(lines["subject_id"], lines["site_id"])
            + " over the cap of " + cap.astype(str))


def amount_differs(lines: pd.DataFrame, expected: pd.Series) -> pd.Series:
    return ("billed " + money_text(lines["amount_minor"], lines["currency"])
            + ", contract allows " + money_text(expected, lines["currency"]))


def not_earned(lines: pd.DataFrame, tolerance_days: int) -> pd.Series:
    """'no visit 3 for subject X within 7 days of 2014-01-16'."""
    return ("no " + item_phrase(lines["item_type"], lines["item_code"]) + " for "
            + who_phrase(lines["subject_id"], lines["site_id"])
            + f" within {tolerance_days} days of " + date_text(lines["service_date"]))
