"""Importer for site invoices (``invoices``, DESIGN §7): one row per invoice line, the
invoice's header fields repeated on each.

An invoice as received is a record: importing it again changes nothing, and an
invoice_id already stored with other content is refused (a correction is a new
invoice, never an edit). Whether a line is right is reconciliation's question
(``contracts.reconcile``), not the importer's: a wrong currency or an item
outside the contract is stored and classified there.
"""

from __future__ import annotations

import pandas as pd

from planner.importing.contract_cells import (
    ITEM_TYPES,
    amounts,
    canonical_codes,
    cells,
    flag,
    resolve_sites,
)
from planner.importing.fields import Field, Kind, duplicate_key_issues, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.importing.site_budgets import FEE, TERMS
from planner.importing.sync import SOURCE, EntitySpec, Writer, existing_rows
from planner.importing.tabular import ID, SITE, sources, study_pks, unknown_reference
from planner.payment_tables import CODE, Invoice, InvoiceLine

INVOICE_FIELDS = [
    Field("invoice_id", max_length=CODE), Field("study_id", max_length=ID),
    Field("site_id", max_length=ID), Field("invoice_date", Kind.DATE),
    Field("currency", Kind.CURRENCY), Field("line_no", Kind.INT, minimum=1),
    Field("item_type", Kind.CHOICE, choices=ITEM_TYPES), Field("item_code", max_length=CODE),
    Field("subject_id", blank_ok=True, max_length=CODE), Field("service_date", Kind.DATE),
    Field("amount", blank_ok=True),  # typed by the invoice's currency
]
HEADER = ("study_id", "site_id", "invoice_date", "currency")
LINE = ("line_no", "item_type", "item_code", "subject_id", "service_date", "amount")
NO_CREDIT_NOTES = " (credit notes are out of scope: a negative amount is refused)"

INVOICE = EntitySpec(Invoice.__table__, ("study_pk", "site_pk", "invoice_id"),
                     ("invoice_date", "currency"), ("study_id", "site_id", "invoice_id"))
INVOICE_LINE = EntitySpec(InvoiceLine.__table__, ("invoice_pk", "line_no"),
                          ("item_type", "item_code", "subject_id", "service_date", "amount"),
                          ("study_id", "site_id", "invoice_id", "line_no"))


def _first_rows(typed: pd.DataFrame) -> pd.Series:
    """Position of each row's invoice's first line in the file."""
    positions = pd.Series(range(len(typed)), index=typed.index)
    return positions.groupby(typed["invoice_id"], dropna=False).transform("first")


def _header_issues(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """Every line of an invoice repeats its header (study, site, date, currency)."""
    first = _first_rows(typed).to_numpy()
    issues: list[ImportIssue] = []
    for column in HEADER:
        values = typed[column]
        head = values.iloc[first].reset_index(drop=True)
        differs = (values.notna().to_numpy(bool) & head.notna().to_numpy(bool)
                   & (values.to_numpy(object) != head.to_numpy(object)))
        text = cells(raw, column)
        expected = (text.iloc[first].reset_index(drop=True) + ", as on row "
                    + raw.rows.iloc[first].astype(str).reset_index(drop=True)
                    + ", the first line of invoice " + typed["invoice_id"].astype(str)
                    + " (every line repeats its invoice's header)")
        issues += flag(raw, differs & typed["invoice_id"].notna().to_numpy(bool), column,
                       text, expected)
    return issues


def _covered(rows: pd.DataFrame, sites: pd.DataFrame) -> pd.Series:
    """Per site (indexed like ``sites``): whether ``rows`` (study_pk, country_code,
    site_pk) hold one for the site itself or for its country's template."""
    own = sites["id"].isin(rows["site_pk"].dropna())
    templates = rows.loc[rows["site_pk"].isna(), ["study_pk", "country_code"]].drop_duplicates()
    country = sites.merge(templates.assign(hit=True), on=["study_pk", "country_code"],
                          how="left")["hit"].notna().to_numpy()
    return own | country


def _contract_issues(writer: Writer, raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """An invoice's site must have a contract in the store: terms and at least one fee, its
    own or its country's."""
    sites = existing_rows(writer.session, SITE).reset_index(drop=True)
    terms = _covered(existing_rows(writer.session, TERMS), sites)
    fees = _covered(existing_rows(writer.session, FEE), sites)
    missing = pd.Series(["terms and fees", "terms", "fees", ""], dtype=object).iloc[
        terms.astype(int).to_numpy() * 2 + fees.astype(int).to_numpy()].to_numpy()
    lacks = pd.Series(missing, index=sites["id"].to_numpy()).reindex(typed["site_pk"].to_numpy())
    first = _first_rows(typed).to_numpy() == range(len(typed))
    bad = first & (lacks.fillna("") != "").to_numpy()
    expected = ("a site with a contract in the store: site " + typed["site_id"].astype(str)
                + " has no " + pd.Series(lacks.to_numpy(), index=typed.index).astype(str)
                + " of its own or of its country's template (import fees and terms first)")
    return flag(raw, bad, "site_id", cells(raw, "site_id"), expected)


def _content(frame: pd.DataFrame) -> dict[tuple, tuple]:
    """(study_pk, site_pk, invoice_id) -> the invoice's date, currency and sorted lines."""
    out: dict[tuple, tuple] = {}
    for key, group in frame.sort_values("line_no").groupby(list(INVOICE.key), sort=False):
        first = group.iloc[0]
        lines = tuple(tuple(None if pd.isna(v) else v for v in row)
                      for row in group[list(LINE)].itertuples(index=False, name=None))
        out[tuple(int(k) if not isinstance(k, str) else k for k in key)] = (
            first["invoice_date"], first["currency"], lines)
    return out


def _stored_issues(writer: Writer, raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """An invoice already stored must come again exactly as it was, or not at all."""
    stored = existing_rows(writer.session, INVOICE)
    mentioned = stored.merge(typed[list(INVOICE.key)].drop_duplicates(), on=list(INVOICE.key))
    if mentioned.empty:
        return []
    lines = existing_rows(writer.session, INVOICE_LINE,
                          INVOICE_LINE.table.c.invoice_pk.in_(mentioned["id"].tolist()))
    before = _content(mentioned.rename(columns={"id": "invoice_pk"}).merge(lines,
                                                                            on="invoice_pk"))
    incoming = typed.merge(mentioned[list(INVOICE.key)], on=list(INVOICE.key))
    incoming["service_date"] = incoming["service_date"].astype("datetime64[s]")
    incoming["invoice_date"] = incoming["invoice_date"].astype("datetime64[s]")
    now = _content(incoming)
    first = _first_rows(typed)
    expected = pd.Series("", index=typed.index, dtype=object)
    bad = pd.Series(False, index=typed.index)
    for key, (date, currency, old_lines) in before.items():
        new_date, new_currency, new_lines = now[key]
        if (new_date, new_currency, new_lines) == (date, currency, old_lines):
            continue
        changed = [what for what, same in (
            (f"invoice_date (stored: {date:%Y-%m-%d})", new_date == date),
            (f"currency (stored: {currency})", new_currency == currency),
            (f"lines (stored: {len(old_lines)})", new_lines == old_lines)) if not same]
        pos = int(first[(typed["study_pk"] == key[0]) & (typed["site_pk"] == key[1])
                        & (typed["invoice_id"] == key[2])].iloc[0])
        bad.iloc[pos] = True
        expected.iloc[pos] = (f"an invoice_id not yet stored: {key[2]} is already stored for "
                              f"site {typed['site_id'].iloc[pos]} with other "
                              f"{', '.join(changed)}; a stored invoice is never changed, "
                              "so a correction needs a new invoice id")
    return flag(raw, bad, "invoice_id", cells(raw, "invoice_id"), expected)


def import_invoices(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Site invoices, line by line; stored as received, for reconciliation."""
    typed, issues = parse_fields(raw, INVOICE_FIELDS)
    issues += canonical_codes(raw, typed)
    issues += duplicate_key_issues(raw, typed, ["invoice_id", "line_no"])
    issues += _header_issues(raw, typed)
    typed["amount"], more = amounts(raw, typed["currency"], note=NO_CREDIT_NOTES)
    studies = study_pks(writer)
    issues += more + unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                       "a study_id already in the store (import studies first)")
    typed["study_pk"] = typed["study_id"].map(studies).astype("Int64")
    issues += resolve_sites(raw, typed, existing_rows(writer.session, SITE), None)
    if issues:
        return issues
    issues = _contract_issues(writer, raw, typed) + _stored_issues(writer, raw, typed)
    if issues:
        return issues
    typed[SOURCE] = sources(raw)
    writer.sync(INVOICE, typed.drop_duplicates("invoice_id"))
    ids = writer.ids(INVOICE).rename(columns={"id": "invoice_pk"})
    typed = typed.merge(ids.astype({"study_pk": "Int64", "site_pk": "Int64"}),
                        on=list(INVOICE.key), how="left")
    writer.sync(INVOICE_LINE, typed)
    return []
