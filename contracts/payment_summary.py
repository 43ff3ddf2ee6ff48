"""A payment run's summary: per site and currency, then per currency (docs/SITE_PAYMENTS.md,
"Payment runs in detail", Summary).

Why a step of its own: finance approves the run from this table (what each site
is paid now, what waits for a quarter end, when it is due), and the lines it sums
may come from a preview or from a stored run. Sums are exact integers per
currency, turned into ``Decimal`` only at the end; never added across currencies.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from contracts.minor import from_minor
from contracts.payment_keys import (
    DEFERRED_COLUMNS,
    ITEM,
    SITE,
    PaymentsError,
    ints,
    mask,
    site_terms,
)

SUMMARY_COLUMNS = ["row", "study_id", "site_id", "currency", "lines", "gross", "holdback",
                   "released", "already_paid", "paid_now", "reporting_currency",
                   "reporting_amount", "due_date", "deferred_lines", "deferred_amount"]


def _sums(lines: pd.DataFrame, deferred: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Integer sums by ``by`` of the lines paid now and of those waiting."""
    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.int64)

    is_item = mask(lines["kind"] == ITEM)
    amount = ints(lines["amount_minor"])
    now = lines[by].astype(str).assign(
        lines=np.ones(len(lines), dtype=np.int64),
        gross=np.where(is_item, ints(lines["gross_minor"]), 0),
        holdback=np.where(is_item, ints(lines["holdback_minor"]), 0),
        released=np.where(is_item, 0, amount), already_paid=ints(lines["already_paid_minor"]),
        paid_now=amount, reporting_amount=ints(lines["reporting_minor"]),
        deferred_lines=zeros(len(lines)), deferred_amount=zeros(len(lines)))
    n = len(deferred)
    waiting = deferred[by].astype(str).assign(
        lines=zeros(n), gross=zeros(n), holdback=zeros(n), released=zeros(n),
        already_paid=zeros(n), paid_now=zeros(n), reporting_amount=zeros(n),
        deferred_lines=np.ones(n, dtype=np.int64), deferred_amount=ints(deferred["amount_minor"]))
    both = pd.concat([now, waiting], ignore_index=True)
    return both.groupby(by, as_index=False).sum()


def payment_summary(lines: pd.DataFrame, contracts: pd.DataFrame, through: dt.date,
                    deferred: pd.DataFrame | None = None,
                    reporting_currency: str | None = None) -> pd.DataFrame:
    """Per site and currency, then a total per currency (``row`` site or total): lines,
    gross, holdback withheld, released, already settled, paid now, the reporting
    amount, the due date (through + terms days), and what waits (quarterly sites).

    Amounts are ``Decimal`` in the row's currency (the reporting amount in the
    reporting currency: the lines', else ``reporting_currency``, else None when
    nothing is paid now); paid now = gross − holdback − already paid + released.
    """
    deferred = lines.iloc[:0][DEFERRED_COLUMNS] if deferred is None else deferred
    reporting = (str(lines["reporting_currency"].iloc[0]) if len(lines)
                 else reporting_currency)  # the lines' own, else the one given (or none)
    sites = _sums(lines, deferred, SITE)
    totals = _sums(lines, deferred, ["currency"]).assign(row="total", study_id=pd.NA,
                                                         site_id=pd.NA)
    days = site_terms(sites, contracts)["terms_days"].to_numpy(dtype="int64")
    paying = sites["lines"].to_numpy() > 0
    due = pd.to_datetime([pd.Timestamp(through) + pd.Timedelta(days=int(d)) if p else pd.NaT
                          for d, p in zip(days, paying, strict=True)]).astype("datetime64[s]")
    sites = sites.assign(row="site", due_date=due)
    out = pd.concat([sites, totals.assign(due_date=pd.NaT)], ignore_index=True)
    for column in ("gross", "holdback", "released", "already_paid", "paid_now",
                   "deferred_amount"):
        out[column] = pd.Series([from_minor(int(v), c) for v, c in
                                 zip(out[column], out["currency"], strict=True)], dtype=object)
    out["reporting_currency"] = reporting
    out["reporting_amount"] = pd.Series(
        [from_minor(int(v), reporting) if reporting else None for v in out["reporting_amount"]],
        dtype=object)
    out = out.astype({"lines": "int64", "deferred_lines": "int64",
                      "due_date": "datetime64[s]"})
    return out[SUMMARY_COLUMNS].astype({c: "string" for c in
                                        ("row", "study_id", "site_id", "currency",
                                         "reporting_currency")})


def reporting_total(lines: pd.DataFrame) -> Decimal:
    """Σ of the lines' reporting amounts (all in the one reporting currency)."""
    currencies = set(lines["reporting_currency"].astype(str))
    if len(currencies) > 1:
        raise PaymentsError(f"lines in several reporting currencies: {sorted(currencies)}")
    if not currencies:
        return Decimal(0)
    return from_minor(int(ints(lines["reporting_minor"]).sum()), currencies.pop())
