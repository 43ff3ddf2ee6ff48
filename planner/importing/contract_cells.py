"""Cells that site contracts and invoices share: exact amounts in a currency's own
minor unit, item codes in their canonical form, and sites resolved within a study.

Amounts are parsed from the cell's text with ``Decimal`` (never through a float)
and checked against the row's currency: ``Kind.DECIMAL`` fixes two places, but
JPY has none and EUR two. Every helper returns issues as values, one per row.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from planner.domain import visit_code
from planner.importing.fields import DECIMAL_LIMIT, DECIMAL_PLACES, DECIMAL_TEXT, flag
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.money import minor_units
from planner.payment_tables import ONE_TIME_CODES, SCREEN_FAILURE_CODE, ItemType

STORE_PLACES = DECIMAL_PLACES  # MONEY is NUMERIC(18, 2): three-decimal currencies lose
# their third digit
ITEM_TYPES = tuple(t.value for t in ItemType)
CODE_EXPECTED = {
    ItemType.VISIT.value: "a visit number (VISITNUM) such as 1, 2 or 3.5 for a visit fee",
    ItemType.ONE_TIME.value: "one of " + ", ".join(ONE_TIME_CODES) + " for a one_time fee",
    ItemType.SCREEN_FAILURE.value: f"{SCREEN_FAILURE_CODE} for the screen_failure fee",
}


def cells(raw: RawTable, column: str) -> pd.Series:
    """The file's text of a column ("" everywhere when the file lacks it)."""
    if column in raw.frame:
        return raw.frame[column].astype(object)
    return pd.Series("", index=raw.frame.index, dtype=object)


def exact_decimal(text: str) -> Decimal | None:
    """Plain decimal text (1250, 1250.5, -3) as a Decimal; None for anything else."""
    return Decimal(text) if isinstance(text, str) and DECIMAL_TEXT.fullmatch(text) else None


def places(value: Decimal) -> int:
    """Decimals as written: 1250.50 has two."""
    return max(0, -int(value.as_tuple().exponent))


def amount_places(currency: str | None) -> int:
    """Decimals an amount in ``currency`` may have (its minor unit, as far as MONEY keeps)."""
    if not isinstance(currency, str):
        return STORE_PLACES
    return min(minor_units(currency), STORE_PLACES)


def amount_expectation(currency: str | None, note: str = "") -> str:
    """What an amount cell must hold, in the row's currency's own terms."""
    if not isinstance(currency, str):
        text = f"an amount >= 0 with at most {STORE_PLACES} decimals, like 1250.00"
    elif amount_places(currency) == 0:
        text = f"a whole amount >= 0 like 1250: {currency} has no minor unit, so no decimals"
    else:
        count = amount_places(currency)
        text = (f"an amount >= 0 in {currency} with at most {count} decimals, "
                f"like 1250.{'0' * count}")
        if minor_units(currency) > STORE_PLACES:
            text += f" (the store keeps {STORE_PLACES} decimals of {currency})"
    return text + note + " (required)"


def amounts(raw: RawTable, currencies: pd.Series, column: str = "amount",
            note: str = "") -> tuple[pd.Series, list[ImportIssue]]:
    """Each row's amount as an exact Decimal at its currency's minor unit, and the issues:
    blank, not a plain decimal, negative, too many decimals for the currency, too large.
    ``note`` is added to what was expected (e.g. why a negative amount is refused)."""
    text = cells(raw, column)
    values = text.map(exact_decimal)
    allowed = currencies.map(amount_places, na_action=None).astype("int64")
    written = values.map(lambda v: -1 if v is None else places(v))
    good = values.map(lambda v: v is not None and Decimal(0) <= v < DECIMAL_LIMIT).astype(bool)
    good &= written <= allowed
    if column in raw.frame:
        expected = currencies.map(lambda c: amount_expectation(c, note), na_action=None)
        issues = flag(raw, ~good, column, text, expected)
    else:
        issues = []  # the missing column is reported once, by parse_fields
    quanta = allowed.map(lambda n: Decimal(1).scaleb(-n))
    exact = pd.Series([v.quantize(q) if ok else None
                       for v, q, ok in zip(values, quanta, good, strict=True)],
                      index=values.index, dtype=object)
    return exact, issues


def exact_values(raw: RawTable, column: str, *, most: Decimal, decimals: int, blank_ok: bool,
                 expected: str) -> tuple[pd.Series, list[ImportIssue]]:
    """Exact decimals from 0 to ``most`` with at most ``decimals`` places (percentages,
    ratios): parsed from the text, never through a float."""
    text = cells(raw, column)
    values = text.map(exact_decimal)
    blank = text.eq("")
    good = values.map(lambda v: v is not None and Decimal(0) <= v <= most
                      and places(v) <= decimals).astype(bool)
    bad = ~good & ~(blank & blank_ok)
    issues = flag(raw, bad, column, text, expected) if column in raw.frame else []
    return values.where(good, None).astype(object), issues


def canonical_codes(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """Put ``item_code`` in the form fee grids key items by: a visit's VISITNUM as
    :func:`planner.domain.visit_code` text (1.0 -> "1"), other codes upper case; one_time
    codes from :data:`ONE_TIME_CODES`, the screen_failure code SF. Bad codes become NA."""
    kinds, codes = typed["item_type"], typed["item_code"]
    upper = codes.astype(object).map(lambda c: c.upper() if isinstance(c, str) else None)
    visit = (kinds == ItemType.VISIT.value).fillna(False).to_numpy(bool)
    numbers = pd.to_numeric(upper.where(visit, None), errors="coerce").astype("Float64")
    finite = (numbers.abs() < np.inf).fillna(False).to_numpy(bool)
    canonical = upper.copy()
    canonical[visit] = [visit_code(float(n)) if ok else None
                        for n, ok in zip(numbers[visit], finite[visit], strict=True)]
    one_time = (kinds == ItemType.ONE_TIME.value).fillna(False).to_numpy(bool)
    canonical[one_time & ~upper.isin(ONE_TIME_CODES).to_numpy(bool)] = None
    sf = (kinds == ItemType.SCREEN_FAILURE.value).fillna(False).to_numpy(bool)
    canonical[sf & (upper != SCREEN_FAILURE_CODE).to_numpy(bool)] = None
    bad = codes.notna().to_numpy(bool) & kinds.notna().to_numpy(bool) & canonical.isna().to_numpy()
    typed["item_code"] = canonical
    return flag(raw, bad, "item_code", cells(raw, "item_code"), kinds.map(CODE_EXPECTED))


def resolve_sites(raw: RawTable, typed: pd.DataFrame, sites: pd.DataFrame,
                  blank: str | None, *, country_blank: bool = False) -> list[ImportIssue]:
    """Set ``site_pk`` (NA for a blank site_id) from the store's ``sites`` (id, study_pk,
    site_id, country_code) and report a site_id that is not one of the row's study's sites;
    ``blank`` says what a blank site_id means (None: the column is required; "": blank is
    allowed, nothing more to say). When the rows have a country, a site's must be the same
    (``country_blank``: the country may be left blank instead)."""
    given = typed["site_id"].notna() & typed["study_pk"].notna()
    own = typed[["study_pk", "site_id"]].merge(
        sites[["id", "study_pk", "site_id", "country_code"]], on=["study_pk", "site_id"],
        how="left")
    found = own["id"].notna().to_numpy()
    or_blank = "" if blank is None else ", or blank" + (f" for {blank}" if blank else "")
    expected = "a site_id of " + typed["study_id"].astype(str) + " in the store (import sites " \
        "first)" + or_blank
    issues = flag(raw, given.to_numpy(bool) & ~found, "site_id", cells(raw, "site_id"),
                  expected)
    if "country" in typed:
        wrong = (given.to_numpy(bool) & found & typed["country"].notna().to_numpy(bool)
                 & (typed["country"].to_numpy(object) != own["country_code"].to_numpy(object)))
        issues += flag(raw, wrong, "country", cells(raw, "country"),
                       ("blank or " if country_blank else "") + own["country_code"].astype(str)
                       + ", the country of site " + typed["site_id"].astype(str))
    typed["site_pk"] = own["id"].astype("Int64").set_axis(typed.index)
    return issues
