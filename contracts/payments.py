"""Payment runs: what to pay each site through a date (docs/SITE_PAYMENTS.md, "Payment runs").

Pure and vectorized: the earned items, the site contracts and the lines of the
approved runs in, a ``PAYMENT_LINES`` frame out. Every amount is int64 minor
units; the only rounding is the FX conversion, once per line, exact in integers.

Per item, keyed by (study, site, subject, item type, code, item_ref) — never by
its date or occurrence, which move when the data are corrected
(``contracts.payment_keys``) — with G its gross, H its holdback and, over its
lines in approved runs, P = Σ paid and W = Σ holdback withheld:

* withheld now h = H − W (H the first time, 0 afterwards unless H changed);
* already settled s = P + W: holdback withheld counts as settled, so an item is
  settled once what was paid reaches G − H;
* paid now a = G − h − s = G − H − P; the line keeps G, h, s and a, so
  ``a = gross − holdback − already_paid`` holds on every line and Σ holdback over
  the runs is what was withheld on the item.

A line with nothing to pay and nothing to withhold is dropped. A negative ``a``
(the contract amount went down after a payment) is kept: it is recovered from
the site's other lines. Items earned once but no longer earned are not clawed
back here (our choice: a correction is a new run made by hand).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol

import numpy as np
import pandas as pd

from contracts.payment_keys import (
    DEFERRED_COLUMNS,
    ITEM,
    KEY,
    RELEASE,
    SHOWN,
    PaymentsError,
    due_items,
    ints,
    mask,
    settled,
    site_terms,
    stale_lines,
    withheld_by_site,
)
from contracts.payment_summary import SUMMARY_COLUMNS, payment_summary, reporting_total
from contracts.schemas import PAYMENT_LINES
from planner.money import minor_units

QUARTER_END_MONTHS = (3, 6, 9, 12)
QUARTERLY = "quarterly"
__all__ = ["ITEM", "KEY", "RELEASE", "SUMMARY_COLUMNS", "PaymentsError", "RateSource",
           "convert_minor", "payment_lines", "payment_run_lines",
           "payment_summary", "quarterly_waits", "reporting_total", "stale_lines"]


class RateSource(Protocol):
    """Anything that gives a dated exchange rate (``planner.fx.FxTable``)."""

    def rate(self, from_currency: str, to_currency: str, on: dt.date) -> Decimal: ...


def quarterly_waits(through: dt.date) -> bool:
    """Quarterly sites are paid only in runs through March, June, September, December."""
    return through.month not in QUARTER_END_MONTHS


def _item_lines(items: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    gross = ints(items["gross_minor"])
    holdback = ints(items["holdback_minor"]) - prior["withheld"].to_numpy()
    already = prior["settled"].to_numpy()
    return pd.DataFrame({
        **{c: items[c] for c in [*KEY, *SHOWN]}, "kind": ITEM, "gross_minor": gross,
        "holdback_minor": holdback, "already_paid_minor": already,
        "amount_minor": gross - holdback - already, "currency": items["currency"],
    })


def _releases(lines: pd.DataFrame, paid: pd.DataFrame, contracts: pd.DataFrame,
              through: dt.date) -> pd.DataFrame:
    """One holdback release per site closed out by ``through``: Σ withheld (approved runs
    and these lines) − Σ already released (release lines hold −released)."""
    release = withheld_by_site(paid, lines)
    terms = site_terms(release, contracts)
    keep = mask(terms["closeout"] <= pd.Timestamp(through)) & (release["value"] != 0).to_numpy()
    release, closeout = release.loc[keep], terms.loc[keep, "closeout"]
    amount = release["value"].to_numpy(dtype="int64")
    blank = pd.Series(pd.NA, index=release.index, dtype="string")
    return pd.DataFrame({
        "study_id": release["study_id"], "site_id": release["site_id"], "subject_id": blank,
        "item_type": blank, "item_code": blank, "item_ref": blank,
        "occurrence": pd.Series(pd.NA, index=release.index, dtype="Int64"),
        "service_date": closeout.astype("datetime64[s]"), "kind": RELEASE,
        "gross_minor": np.zeros(len(release), dtype=np.int64), "holdback_minor": -amount,
        "already_paid_minor": np.zeros(len(release), dtype=np.int64), "amount_minor": amount,
        "currency": release["currency"],
    }, index=release.index)


def _all_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
               through: dt.date) -> pd.DataFrame:
    """Every line due by ``through``, with a ``deferred`` flag for quarterly sites."""
    items = due_items(earned, through)
    lines = _item_lines(items, settled(items, paid))
    lines = lines.loc[(lines["amount_minor"] != 0) | (lines["holdback_minor"] != 0)]
    lines = pd.concat([lines, _releases(lines, paid, contracts, through)], ignore_index=True)
    terms = site_terms(lines, contracts)
    lines["deferred"] = (mask(terms["payment_frequency"] == QUARTERLY)
                         & quarterly_waits(through))
    order = lines.assign(_rank=(lines["kind"] == RELEASE).astype(int)).sort_values(
        ["study_id", "site_id", "_rank", "service_date", "subject_id", "item_type",
         "item_code", "occurrence", "item_ref"], na_position="last", kind="stable")
    return order.drop(columns="_rank").reset_index(drop=True)


def convert_minor(minor: np.ndarray, rate: Decimal, currency: str,
                  reporting_currency: str) -> np.ndarray:
    """round_half_up(amount × rate) in the reporting currency's minor units, exactly.

    ``minor`` is in ``currency``'s minor units; the rate's exact fraction and the two
    currencies' decimals (JPY 0, EUR 2) are applied in Python integers, so neither a
    float nor an int64 overflow can creep in; halves round away from zero.
    """
    numerator, denominator = rate.as_integer_ratio()
    shift = minor_units(reporting_currency) - minor_units(currency)
    numerator *= 10 ** max(shift, 0)
    denominator *= 10 ** max(-shift, 0)
    product = np.asarray(minor, dtype=np.int64).astype(object) * numerator
    magnitude = (2 * np.abs(product) + denominator) // (2 * denominator)
    result = np.where(product < 0, -magnitude, magnitude)
    return np.array([int(v) for v in result], dtype=np.int64)


def _with_fx(lines: pd.DataFrame, reporting_currency: str, fx: RateSource,
             through: dt.date) -> pd.DataFrame:
    minor_units(reporting_currency)  # refuses an unknown code before any lookup
    out = lines.assign(fx_rate=pd.Series([None] * len(lines), dtype=object),
                       reporting_minor=np.zeros(len(lines), dtype=np.int64),
                       reporting_currency=reporting_currency)
    for currency, rows in out.groupby("currency", sort=True).groups.items():
        rate = fx.rate(str(currency), reporting_currency, through)
        out.loc[rows, "fx_rate"] = pd.Series([rate] * len(rows), index=rows, dtype=object)
        out.loc[rows, "reporting_minor"] = convert_minor(
            out.loc[rows, "amount_minor"].to_numpy(), rate, str(currency), reporting_currency)
    return out


def _deferred_frame(lines: pd.DataFrame) -> pd.DataFrame:
    waiting = lines.loc[lines["deferred"].to_numpy(), DEFERRED_COLUMNS]
    dtypes = {c.name: c.dtype for c in PAYMENT_LINES.columns if c.name in DEFERRED_COLUMNS}
    return waiting.astype(dtypes).reset_index(drop=True)


def payment_run_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
                      through: dt.date, reporting_currency: str,
                      fx: RateSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A payment run through ``through``: (the lines paid now, the lines that wait).

    ``earned``: an ``EARNED`` frame; ``contracts``: ``site_contracts`` (terms,
    closeout); ``paid``: the lines of the approved runs (``approved_lines``). The
    lines paid now are ``PAYMENT_LINES``, each converted at the rate ``fx`` gives for
    the through date. Quarterly sites' lines wait outside quarter-end months: they
    come second, without the FX columns. The lines are computed once for both.
    """
    lines = _all_lines(earned, contracts, paid, through)
    now = lines.loc[~lines["deferred"].to_numpy()].reset_index(drop=True)
    paid_now = PAYMENT_LINES.conform(_with_fx(now, reporting_currency, fx, through))
    return paid_now, _deferred_frame(lines)


def payment_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
                  through: dt.date, reporting_currency: str, fx: RateSource) -> pd.DataFrame:
    """The lines paid now of :func:`payment_run_lines` (``PAYMENT_LINES``)."""
    return payment_run_lines(earned, contracts, paid, through, reporting_currency, fx)[0]
