"""The frames the site-payment computations exchange (docs/SITE_PAYMENTS.md).

Money columns are int64 minor units (``*_minor``) next to a ``currency``
column; exact percentages and ratios are ``Decimal`` objects. Dates are
``datetime64[s]`` (NaT when absent); optional texts are pandas ``string``.
"""

from __future__ import annotations

from planner.frames import DATE, Col, FrameSchema

FEES = FrameSchema("fees", (
    Col("study_id", "string", "", "protocol id"),
    Col("country", "string", "ISO 3166-1 alpha-2", "the template's or the site's country"),
    Col("site_id", "string", "", "the site overriding its country's template (NA: template)"),
    Col("item_type", "string", "", "visit, invoiceable, one_time, screen_failure"),
    Col("item_code", "string", "", "VISITNUM text for visits; STARTUP, SF, UNSCHEDULED ..."),
    Col("description", "string", "", "what the fee pays for"),
    Col("amount_minor", "int64", "minor units", "the fee before overhead"),
    Col("currency", "string", "ISO 4217", "the fee's currency"),
    Col("effective_from", DATE, "date", "first date the fee is in force (amendments: later)"),
    Col("cap", "Int64", "count", "invoiceable: at most this many paid (per subject or site)"),
    Col("source", "string", "", "file and row the fee came from"),
))
TERMS = FrameSchema("terms", (
    Col("study_id", "string", "", "protocol id"),
    Col("country", "string", "ISO 3166-1 alpha-2", "the country's or the site's country"),
    Col("site_id", "string", "", "the site overriding its country's terms (NA: country)"),
    Col("overhead_pct", "object", "Decimal percent", "indirect costs on every fee (26 = 26 %)"),
    Col("holdback_pct", "object", "Decimal percent", "withheld from each payment until close-out"),
    Col("sf_ratio", "object", "Decimal", "paid screen failures per randomized (None: no ratio)"),
    Col("sf_min", "Int64", "count", "screen failures paid whatever the ratio"),
    Col("sf_max", "Int64", "count", "screen failures paid at most"),
    Col("payment_frequency", "string", "", "monthly or quarterly"),
    Col("terms_days", "int64", "days", "days from the run to payment"),
    Col("source", "string", "", "file and row the terms came from"),
))
INVOICE_LINES = FrameSchema("invoice_lines", (
    Col("invoice_id", "string", "", "the site's invoice number"),
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number"),
    Col("invoice_date", DATE, "date", "date of the invoice"),
    Col("currency", "string", "ISO 4217", "the invoice's currency"),
    Col("line_no", "int64", "", "line number on the invoice"),
    Col("item_type", "string", "", "visit, invoiceable, one_time, screen_failure"),
    Col("item_code", "string", "", "as in the fee grid"),
    Col("subject_id", "string", "", "USUBJID (NA: a site-level item)"),
    Col("service_date", DATE, "date", "date of the visit or event billed"),
    Col("amount_minor", "int64", "minor units", "amount billed, in the invoice's currency"),
    Col("source", "string", "", "file and row the line came from"),
))
EARNED = FrameSchema("earned", (
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number"),
    Col("country", "string", "ISO 3166-1 alpha-2", "site country"),
    Col("subject_id", "string", "", "USUBJID (NA: a site-level item)"),
    Col("item_type", "string", "", "visit, invoiceable, one_time, screen_failure"),
    Col("item_code", "string", "", "as in the fee grid"),
    Col("item_ref", "string", "", "which one (opaque): the unscheduled SV visit or the "
        "invoice line that earned it; NA: once per code"),
    Col("occurrence", "int64", "", "1, or the n-th time the same item is earned (shown)"),
    Col("service_date", DATE, "date", "date of the visit or event"),
    Col("earned_date", DATE, "date", "date it became payable (NaT: not yet)"),
    Col("status", "string", "", "earned, sf_over_cap (held), invoice_only (paid once invoiced)"),
    Col("fee_minor", "int64", "minor units", "contract amount in force on the service date"),
    Col("gross_minor", "int64", "minor units", "fee × (1 + overhead), rounded once"),
    Col("holdback_minor", "int64", "minor units", "gross × holdback, rounded once"),
    Col("currency", "string", "ISO 4217", "the site's contract currency"),
    Col("source", "string", "", "the data that earned it (SV row, DS, activation)"),
))
LINE_STATUSES = ("matched", "over_billed", "under_billed", "duplicate", "not_earned",
                 "not_in_contract", "sf_over_cap", "wrong_currency")
ITEM_CLASSES = ("matched", "over_billed", "under_billed", "accrual")
RECONCILED_LINES = FrameSchema("reconciled_lines", (
    *INVOICE_LINES.columns,
    Col("status", "string", "", "one of LINE_STATUSES"),
    Col("expected_minor", "Int64", "minor units", "what the contract allows (NA: wrong currency)"),
    Col("difference_minor", "Int64", "minor units", "invoiced − expected"),
    Col("note", "string", "", "why, in words"),
))
RECONCILED_ITEMS = FrameSchema("reconciled_items", (
    *EARNED.columns,
    Col("item_class", "string", "", "one of ITEM_CLASSES"),
    Col("invoice_id", "string", "", "the invoice line matched to it (NA: accrual)"),
    Col("line_no", "Int64", "", "the invoice line matched to it"),
    Col("invoiced_minor", "Int64", "minor units", "amount billed for it (NA: accrual)"),
))
PAYMENT_LINES = FrameSchema("payment_lines", (
    Col("study_id", "string", "", "protocol id"),
    Col("site_id", "string", "", "site number"),
    Col("kind", "string", "", "item or holdback_release"),
    Col("subject_id", "string", "", "USUBJID (NA: a site-level item)"),
    Col("item_type", "string", "", "as earned (NA for a holdback release)"),
    Col("item_code", "string", "", "as earned"),
    Col("item_ref", "string", "", "as earned (with the codes: the item's key)"),
    Col("occurrence", "Int64", "", "as earned"),
    Col("service_date", DATE, "date", "as earned"),
    Col("gross_minor", "int64", "minor units", "fee × (1 + overhead)"),
    Col("holdback_minor", "int64", "minor units", "withheld now (negative: released)"),
    Col("already_paid_minor", "int64", "minor units", "paid for this item in approved runs"),
    Col("amount_minor", "int64", "minor units", "paid now: gross − holdback − already paid"),
    Col("currency", "string", "ISO 4217", "the site's contract currency"),
    Col("fx_rate", "object", "Decimal", "reporting units per one unit of currency"),
    Col("reporting_minor", "int64", "minor units", "amount in the reporting currency"),
    Col("reporting_currency", "string", "ISO 4217", "the study's reporting currency"),
))
