"""The demo's site invoices: what sites billed over the last quarter, with real mistakes.

Invoices are drawn from the earned items (the demo's visit data priced by
their contracts), one per site and month, for about half the sites. Then the
mistakes finance teams meet every month are made on purpose, each on a few
lines: amounts keyed wrongly (over and under), a line billed twice, a visit
billed that the data do not show, an item the contract does not have (patient
parking), screen failures over the contract's cap, and one invoice in US
dollars for a site paid in its own currency. Ethics renewals, invoiceable
under the contract, are billed once a site.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from contracts.fee_grid import fee_in_force
from contracts.minor import from_minor
from contracts.pricing import scale_by_percent

INVOICED_MONTHS = 3
SITE_SHARE = 0.5
WRONG_AMOUNT = 0.03  # share of lines keyed wrongly, each way
DUPLICATED = 0.02
NOT_EARNED_DAYS = 60  # a visit billed two months off: no such visit in the data


def _invoice_frame(items: pd.DataFrame) -> pd.DataFrame:
    month = items["service_date"].dt.to_period("M")
    return pd.DataFrame({
        "invoice_id": (items["study_id"].astype(str) + "-" + items["site_id"].astype(str)
                       + "-" + month.dt.strftime("%Y%m")),
        "study_id": items["study_id"].astype(str), "site_id": items["site_id"].astype(str),
        "invoice_date": (month + 1).dt.start_time.dt.date,
        "currency": items["currency"].astype(str), "item_type": items["item_type"].astype(str),
        "item_code": items["item_code"].astype(str),
        "subject_id": items["subject_id"].astype(object).where(items["subject_id"].notna(), ""),
        "service_date": items["service_date"].dt.date,
        "amount_minor": items["gross_minor"].astype(np.int64),
    })


def _mistakes(lines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    draw = rng.random(len(lines))
    over = draw < WRONG_AMOUNT
    under = (draw >= WRONG_AMOUNT) & (draw < 2 * WRONG_AMOUNT)
    amounts = lines["amount_minor"].to_numpy()
    lines["amount_minor"] = np.where(over, amounts + np.maximum(1, amounts // 10),
                                     np.where(under, amounts - np.maximum(1, amounts // 20),
                                              amounts))
    visits = lines[lines["item_type"] == "visit"]
    twice = visits[rng.random(len(visits)) < DUPLICATED]
    off = visits[rng.random(len(visits)) < DUPLICATED].copy()
    off["service_date"] = off["service_date"] + dt.timedelta(days=NOT_EARNED_DAYS)
    return pd.concat([lines, twice, off], ignore_index=True)


def _site_items(first: pd.DataFrame, fees: pd.DataFrame, contracts: pd.DataFrame,
                rng: np.random.Generator) -> pd.DataFrame:
    """Per invoice, one ethics renewal (earned by the invoice) and, on some, parking."""
    first = first.merge(contracts[["study_id", "site_id", "country", "overhead_pct"]],
                        on=["study_id", "site_id"])
    renewal = first.assign(item_type="invoiceable", item_code="IRB_RENEWAL", subject_id="")
    request = renewal[["study_id", "site_id", "country", "item_type", "item_code"]].assign(
        date=pd.to_datetime(renewal["service_date"]).astype("datetime64[s]"))
    fee = fee_in_force(fees, request)["fee_minor"]
    renewal = renewal[fee.notna().to_numpy()].copy()
    renewal["amount_minor"] = scale_by_percent(fee.dropna().to_numpy(np.int64),
                                               renewal["overhead_pct"], plus_one=True)
    parking = first[rng.random(len(first)) < 0.3].assign(
        item_type="invoiceable", item_code="PARKING", subject_id="",
        amount_minor=lambda f: np.maximum(1, f["amount_minor"] // 20))
    return pd.concat([renewal, parking], ignore_index=True).drop(
        columns=["country", "overhead_pct"])


def invoice_rows(earned: pd.DataFrame, fees: pd.DataFrame, contracts: pd.DataFrame,
                 as_of: dt.date, rng: np.random.Generator) -> pd.DataFrame:
    """Invoices in the exchange format (DESIGN §7), amounts as decimal strings."""
    since = pd.Timestamp(as_of).to_period("M") - INVOICED_MONTHS
    recent = earned[(earned["service_date"].dt.to_period("M") >= since)
                    & (earned["service_date"] <= pd.Timestamp(as_of))]
    sites = recent[["study_id", "site_id"]].drop_duplicates()
    chosen = sites[rng.random(len(sites)) < SITE_SHARE]
    recent = recent.merge(chosen, on=["study_id", "site_id"])
    billed = recent[recent["status"].isin(["earned", "invoice_only", "sf_over_cap"])]
    lines = _mistakes(_invoice_frame(billed), rng)
    first = lines.drop_duplicates("invoice_id")
    lines = pd.concat([lines, _site_items(first, fees, contracts, rng)], ignore_index=True)
    lines = _wrong_currency(lines)
    lines = lines.sort_values(["invoice_id", "service_date", "item_type"], kind="stable")
    lines["line_no"] = lines.groupby("invoice_id").cumcount() + 1
    lines["amount"] = [str(from_minor(a, c)) for a, c in zip(lines["amount_minor"],
                                                             lines["currency"], strict=True)]
    return lines.drop(columns=["amount_minor"]).reset_index(drop=True)


def _wrong_currency(lines: pd.DataFrame) -> pd.DataFrame:
    """One invoice of a euro site billed in US dollars (same figures, wrong currency)."""
    euro = lines[lines["currency"] == "EUR"]["invoice_id"].drop_duplicates()
    if len(euro):
        lines.loc[lines["invoice_id"] == euro.iloc[0], "currency"] = "USD"
    return lines

