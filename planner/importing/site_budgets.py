"""Importers for site contracts: fee grids (``fees``) and terms (``terms``), DESIGN §7.

A blank site_id is the country's template; a site's own rows override it, and a
dated amendment is a new row with a later effective_from (docs/SITE_PAYMENTS.md).
Keys hold blanks (the template's site), so rows are matched in pandas, where
blank equals blank, as :mod:`planner.importing.planning` does for driver overrides.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from planner.importing.contract_cells import (
    ITEM_TYPES,
    amounts,
    canonical_codes,
    cells,
    exact_values,
    flag,
    resolve_sites,
)
from planner.importing.fields import Field, Kind, duplicate_key_issues, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.paid_contracts import paid_currency_issues, unsupported_currency_issues
from planner.importing.readers import RawTable
from planner.importing.sync import SOURCE, EntitySpec, Writer, existing_rows
from planner.importing.tabular import ID, SITE, only_given, sources, study_pks, unknown_reference
from planner.payment_tables import CODE, ItemType, PaymentFrequency, SiteFee, SiteTerms

FEE_FIELDS = [
    Field("study_id", max_length=ID), Field("site_id", blank_ok=True, max_length=ID),
    Field("country", Kind.COUNTRY),
    Field("item_type", Kind.CHOICE, choices=ITEM_TYPES), Field("item_code", max_length=CODE),
    Field("description", blank_ok=True, max_length=200),
    Field("amount", blank_ok=True),  # typed by the row's currency: see contract_cells.amounts
    Field("currency", Kind.CURRENCY), Field("effective_from", Kind.DATE),
    Field("cap", Kind.INT, required=False, blank_ok=True, minimum=0),
]
FEE_KEY = ["study_id", "country", "site_id", "item_type", "item_code", "effective_from"]
TERMS_FIELDS = [
    Field("study_id", max_length=ID), Field("site_id", blank_ok=True, max_length=ID),
    Field("country", Kind.COUNTRY),
    Field("overhead_pct", blank_ok=True), Field("holdback_pct", blank_ok=True),  # exact below
    Field("sf_ratio", blank_ok=True),
    Field("sf_max", Kind.INT, blank_ok=True, minimum=0),
    Field("payment_frequency", Kind.CHOICE, choices=tuple(f.value for f in PaymentFrequency)),
    Field("terms_days", Kind.INT, minimum=0),
    Field("sf_min", Kind.INT, required=False, blank_ok=True, minimum=0),
]
TERMS_KEY = ["study_id", "country", "site_id"]
PERCENT_EXPECTED = "a percent from 0 to 100 with at most 4 decimals, like 26 or 12.5 (required)"
RATIO_EXPECTED = ("a ratio from 0 to 1000 with at most 6 decimals, like 0.25 (paid screen "
                  "failures per randomized subject; blank: no ratio)")
TEMPLATE = "the country's template"

FEE = EntitySpec(SiteFee.__table__,
                 ("study_pk", "country_code", "site_pk", "item_type", "item_code",
                  "effective_from"),
                 ("description", "amount", "currency", "cap"),
                 ("study_id", "country", "site_id", "item_type", "item_code", "effective"))
TERMS = EntitySpec(SiteTerms.__table__, ("study_pk", "country_code", "site_pk"),
                   ("overhead_pct", "holdback_pct", "sf_ratio", "sf_min", "sf_max",
                    "payment_frequency", "terms_days"), ("study_id", "country", "site_id"))


def _study_and_sites(writer: Writer, raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """Resolve study_pk and site_pk; unknown studies and sites, and a site in another
    country than the row's, are issues."""
    studies = study_pks(writer)
    issues = unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                               "a study_id already in the store (import studies first)")
    typed["study_pk"] = typed["study_id"].map(studies).astype("Int64")
    return issues + resolve_sites(raw, typed, existing_rows(writer.session, SITE), TEMPLATE)


def _cap_issues(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    capped = typed["cap"].notna() & (typed["item_type"] != ItemType.INVOICEABLE.value)
    return flag(raw, capped.fillna(False), "cap", cells(raw, "cap"),
                "blank: a cap applies to invoiceable items only")


def _one_contract_currency(raw: RawTable, typed: pd.DataFrame, stored: pd.DataFrame,
                           site_ids: pd.Series) -> list[ImportIssue]:
    """Every fee that may apply to one site (its own and its country's template, stored
    and incoming together; an incoming row replaces the stored one of its key) must be
    in one currency; so must a country's template on its own."""
    key = ["study_pk", "country_code", "site_pk", "item_type", "item_code", "effective_from"]
    incoming = typed.rename(columns={"country": "country_code"})[[*key, "currency"]].copy()
    incoming["effective_from"] = incoming["effective_from"].astype("datetime64[s]")
    incoming["_pos"] = np.arange(len(incoming))
    kept = stored[key + ["currency"]].merge(incoming[key], on=key, how="left", indicator=True)
    kept = kept[kept["_merge"] == "left_only"].drop(columns="_merge").assign(_pos=-1)
    fees = pd.concat([kept, incoming], ignore_index=True)
    fees["site_pk"] = fees["site_pk"].astype("Int64")
    templates = fees[fees["site_pk"].isna()]
    own = fees[fees["site_pk"].notna()]
    scopes = own[["study_pk", "country_code", "site_pk"]].drop_duplicates()
    site_scope = pd.concat([own.assign(scope=own["site_pk"]), scopes.merge(
        templates.drop(columns="site_pk"), on=["study_pk", "country_code"]
    ).assign(scope=lambda f: f["site_pk"])], ignore_index=True)
    every = pd.concat([site_scope, templates.assign(scope=pd.NA)], ignore_index=True)
    every["scope"] = every["scope"].astype("Int64")
    groups = ["study_pk", "country_code", "scope"]
    mixed = every.groupby(groups, dropna=False)["currency"].transform("nunique") > 1
    found = every[mixed].groupby(groups, dropna=False)["currency"].transform(
        lambda c: ", ".join(sorted(set(c))))
    bad = every[mixed].assign(found=found)
    bad = bad[bad["_pos"] >= 0].drop_duplicates("_pos")
    expected = pd.Series("", index=typed.index, dtype=object)
    for scope, country, pos, currencies in zip(bad["scope"], bad["country_code"], bad["_pos"],
                                               bad["found"], strict=True):
        whom = (f"{country}'s template" if pd.isna(scope) else
                f"site {site_ids.get(int(scope), scope)} (its own and {country}'s template)")
        expected.iloc[pos] = (f"one currency for every fee that may apply to {whom}: "
                              f"{currencies} are mixed")
    mark = np.zeros(len(typed), dtype=bool)
    mark[bad["_pos"].to_numpy(int)] = True
    return flag(raw, mark, "currency", cells(raw, "currency"), expected)


def import_fees(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """A fee grid: country templates, site overrides and dated amendments."""
    typed, issues = parse_fields(raw, FEE_FIELDS)
    issues += canonical_codes(raw, typed)
    issues += duplicate_key_issues(raw, typed, FEE_KEY, blank_is_value=True)
    typed["amount"], more = amounts(raw, typed["currency"])
    issues += more + _cap_issues(raw, typed) + _study_and_sites(writer, raw, typed)
    issues += unsupported_currency_issues(raw, typed)
    if issues:
        return issues
    sites = existing_rows(writer.session, SITE)
    issues = _one_contract_currency(raw, typed, existing_rows(writer.session, FEE),
                                    sites.set_index("id")["site_id"])
    issues += paid_currency_issues(writer, raw, typed, sites)
    if issues:
        return issues
    typed[SOURCE] = sources(raw)
    typed["country_code"] = typed["country"]
    typed["effective"] = typed["effective_from"].dt.strftime("%Y-%m-%d")
    writer.sync(only_given(FEE, raw, FEE_FIELDS), typed)
    return []


def import_terms(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Overhead, holdback, screen-failure and payment terms of a country or a site."""
    typed, issues = parse_fields(raw, TERMS_FIELDS)
    issues += duplicate_key_issues(raw, typed, TERMS_KEY, blank_is_value=True)
    for column in ("overhead_pct", "holdback_pct"):
        typed[column], more = exact_values(raw, column, most=Decimal(100), decimals=4,
                                           blank_ok=False, expected=PERCENT_EXPECTED)
        issues += more
    typed["sf_ratio"], more = exact_values(raw, "sf_ratio", most=Decimal(1000), decimals=6,
                                           blank_ok=True, expected=RATIO_EXPECTED)
    issues += more
    above = (typed["sf_min"] > typed["sf_max"]).fillna(False)
    issues += flag(raw, above, "sf_min", cells(raw, "sf_min"),
                   "at most sf_max (" + typed["sf_max"].astype(str) + ")")
    issues += _study_and_sites(writer, raw, typed)
    if issues:
        return issues
    typed[SOURCE] = sources(raw)
    typed["country_code"] = typed["country"]
    writer.sync(only_given(TERMS, raw, TERMS_FIELDS), typed)
    return []
