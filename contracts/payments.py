"""Payment runs: what to pay each site through a date (docs/SITE_PAYMENTS.md, "Payment runs").

Pure and vectorized: the earned items, the site contracts and the lines of the
approved runs in, a ``PAYMENT_LINES`` frame out. Every amount is int64 minor
units; the only rounding is the FX conversion, once per line, exact in integers.

Per item, keyed by (study, site, subject, item type, code, occurrence, service
date), with G its gross, H its holdback and, over its lines in approved runs,
P = Σ paid and W = Σ holdback withheld:

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

from contracts.minor import from_minor
from contracts.schemas import PAYMENT_LINES
from planner.money import minor_units

ITEM = "item"
RELEASE = "holdback_release"
KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code", "occurrence",
       "service_date"]
SITE = ["study_id", "site_id", "currency"]
QUARTER_END_MONTHS = (3, 6, 9, 12)
QUARTERLY = "quarterly"
MONEY = ["gross_minor", "holdback_minor", "already_paid_minor", "amount_minor"]
FX_COLUMNS = ["fx_rate", "reporting_minor", "reporting_currency"]
DEFERRED_COLUMNS = [c for c in PAYMENT_LINES.names if c not in FX_COLUMNS]
_TEXT_KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code"]


class PaymentsError(ValueError):
    """The inputs cannot make a payment run (a site without contract, a repeated item)."""


class RateSource(Protocol):
    """Anything that gives a dated exchange rate (``planner.fx.FxTable``)."""

    def rate(self, from_currency: str, to_currency: str, on: dt.date) -> Decimal: ...


def _mask(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=bool, na_value=False)


def _ints(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="int64", na_value=0)


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The item key with NA made comparable: blank texts, occurrence 0, NaT as int64 min."""
    keys = {c: frame[c].astype("string").fillna("").to_numpy(dtype=object) for c in _TEXT_KEY}
    keys["occurrence"] = pd.array(frame["occurrence"], dtype="Int64").to_numpy(
        dtype="int64", na_value=0)
    keys["service_date"] = (frame["service_date"].to_numpy(dtype="datetime64[s]")
                            .view("int64"))
    return pd.DataFrame(keys)


def quarterly_waits(through: dt.date) -> bool:
    """Quarterly sites are paid only in runs through March, June, September, December."""
    return through.month not in QUARTER_END_MONTHS


def _due_items(earned: pd.DataFrame, through: dt.date) -> pd.DataFrame:
    """Items earned by ``through`` (status earned), refusing an item key seen twice."""
    stamp = pd.Timestamp(through)
    due = _mask(earned["status"] == "earned") & _mask(earned["earned_date"] <= stamp)
    items = earned.loc[due].reset_index(drop=True)
    repeated = _keys(items).duplicated(keep=False).to_numpy()
    if repeated.any():
        first = items.loc[repeated, KEY].head(3).to_dict("records")
        raise PaymentsError(f"{int(repeated.sum())} earned rows share an item key "
                            f"(study, site, subject, item, occurrence, date), e.g. {first}")
    return items


def _settled(items: pd.DataFrame, paid: pd.DataFrame) -> pd.DataFrame:
    """Per item of ``items``: what approved runs withheld (W) and settled (P + W)."""
    prior = paid.loc[_mask(paid["kind"] == ITEM)].reset_index(drop=True)
    keys = _keys(prior)
    keys["withheld"] = _ints(prior["holdback_minor"])
    keys["settled"] = _ints(prior["amount_minor"]) + keys["withheld"]
    keys["paid_currency"] = prior["currency"].astype(str).to_numpy(dtype=object)
    sums = keys.groupby(KEY, sort=False).agg(
        withheld=("withheld", "sum"), settled=("settled", "sum"),
        paid_currency=("paid_currency", "first"), currencies=("paid_currency", "nunique"))
    found = _keys(items).merge(sums.reset_index(), on=KEY, how="left")
    mixed = (found["currencies"].fillna(1) > 1) | (
        found["paid_currency"].notna()
        & (found["paid_currency"] != items["currency"].astype(str).to_numpy(dtype=object)))
    if mixed.any():
        first = items.loc[mixed.to_numpy(), KEY].head(3).to_dict("records")
        raise PaymentsError(f"{int(mixed.sum())} items were paid in another currency than "
                            f"they are earned in (the contract currency changed?), e.g. "
                            f"{first}: settle them by hand")
    return pd.DataFrame({"withheld": _ints(found["withheld"]),
                         "settled": _ints(found["settled"])})


def _site_terms(frame: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
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


def _item_lines(items: pd.DataFrame, settled: pd.DataFrame) -> pd.DataFrame:
    gross = _ints(items["gross_minor"])
    holdback = _ints(items["holdback_minor"]) - settled["withheld"].to_numpy()
    already = settled["settled"].to_numpy()
    return pd.DataFrame({
        **{c: items[c] for c in KEY}, "kind": ITEM, "gross_minor": gross,
        "holdback_minor": holdback, "already_paid_minor": already,
        "amount_minor": gross - holdback - already, "currency": items["currency"],
    })


def _releases(lines: pd.DataFrame, paid: pd.DataFrame, contracts: pd.DataFrame,
              through: dt.date) -> pd.DataFrame:
    """One holdback release per site closed out by ``through``: Σ withheld (approved runs
    and these lines) − Σ already released (release lines hold −released)."""
    withheld = pd.concat([
        frame[SITE].astype(str).assign(value=_ints(frame["holdback_minor"]))
        for frame in (paid, lines)], ignore_index=True)
    release = withheld.groupby(SITE, as_index=False)["value"].sum()
    terms = _site_terms(release, contracts)
    keep = _mask(terms["closeout"] <= pd.Timestamp(through)) & (release["value"] != 0).to_numpy()
    release, closeout = release.loc[keep], terms.loc[keep, "closeout"]
    amount = release["value"].to_numpy(dtype="int64")
    blank = pd.Series(pd.NA, index=release.index, dtype="string")
    return pd.DataFrame({
        "study_id": release["study_id"], "site_id": release["site_id"], "subject_id": blank,
        "item_type": blank, "item_code": blank,
        "occurrence": pd.Series(pd.NA, index=release.index, dtype="Int64"),
        "service_date": closeout.astype("datetime64[s]"), "kind": RELEASE,
        "gross_minor": np.zeros(len(release), dtype=np.int64), "holdback_minor": -amount,
        "already_paid_minor": np.zeros(len(release), dtype=np.int64), "amount_minor": amount,
        "currency": release["currency"],
    }, index=release.index)


def _all_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
               through: dt.date) -> pd.DataFrame:
    """Every line due by ``through``, with a ``deferred`` flag for quarterly sites."""
    items = _due_items(earned, through)
    lines = _item_lines(items, _settled(items, paid))
    lines = lines.loc[(lines["amount_minor"] != 0) | (lines["holdback_minor"] != 0)]
    lines = pd.concat([lines, _releases(lines, paid, contracts, through)], ignore_index=True)
    terms = _site_terms(lines, contracts)
    lines["deferred"] = (_mask(terms["payment_frequency"] == QUARTERLY)
                         & quarterly_waits(through))
    order = lines.assign(_rank=(lines["kind"] == RELEASE).astype(int)).sort_values(
        ["study_id", "site_id", "_rank", "service_date", "subject_id", "item_type",
         "item_code", "occurrence"], na_position="last", kind="stable")
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


def payment_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
                  through: dt.date, reporting_currency: str, fx: RateSource) -> pd.DataFrame:
    """The lines of a payment run through ``through`` (``PAYMENT_LINES``).

    ``earned``: an ``EARNED`` frame; ``contracts``: ``site_contracts`` (terms,
    closeout); ``paid``: the lines of the approved runs (``approved_lines``). Each
    line is converted at the rate ``fx`` gives for the through date. Quarterly
    sites' lines wait outside quarter-end months (see :func:`deferred_lines`).
    """
    lines = _all_lines(earned, contracts, paid, through)
    now = lines.loc[~lines["deferred"].to_numpy()].reset_index(drop=True)
    return PAYMENT_LINES.conform(_with_fx(now, reporting_currency, fx, through))


def deferred_lines(earned: pd.DataFrame, contracts: pd.DataFrame, paid: pd.DataFrame,
                   through: dt.date) -> pd.DataFrame:
    """The lines quarterly sites would be paid, waiting for a quarter-end run (no FX)."""
    lines = _all_lines(earned, contracts, paid, through)
    waiting = lines.loc[lines["deferred"].to_numpy(), DEFERRED_COLUMNS]
    dtypes = {c.name: c.dtype for c in PAYMENT_LINES.columns if c.name in DEFERRED_COLUMNS}
    return waiting.astype(dtypes).reset_index(drop=True)


def stale_lines(lines: pd.DataFrame, paid: pd.DataFrame) -> pd.DataFrame:
    """The ``lines`` no longer right against ``paid`` (the approved runs now): an item
    whose already-settled amount differs, a release that is not Σ withheld − Σ released.

    Empty when the lines were computed from the same approved runs; approving stale
    lines could pay an item twice.
    """
    is_item = _mask(lines["kind"] == ITEM)
    items = lines.loc[is_item].reset_index(drop=True)
    settled = _settled(items, paid)["settled"].to_numpy()
    stale = np.zeros(len(lines), dtype=bool)
    stale[np.flatnonzero(is_item)] = settled != _ints(items["already_paid_minor"])
    withheld = pd.concat([frame[SITE].astype(str).assign(value=_ints(frame["holdback_minor"]))
                          for frame in (paid, items)], ignore_index=True)
    expected = withheld.groupby(SITE)["value"].sum().to_dict()
    releases = lines.loc[~is_item, SITE].astype(str).itertuples(index=False, name=None)
    due = np.array([int(expected.get(site, 0)) for site in releases], dtype=np.int64)
    stale[np.flatnonzero(~is_item)] = due != _ints(lines.loc[~is_item, "amount_minor"])
    return lines.loc[stale]


SUMMARY_COLUMNS = ["row", "study_id", "site_id", "currency", "lines", "gross", "holdback",
                   "released", "already_paid", "paid_now", "reporting_currency",
                   "reporting_amount", "due_date", "deferred_lines", "deferred_amount"]


def _sums(lines: pd.DataFrame, deferred: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Integer sums by ``by`` of the lines paid now and of those waiting."""
    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.int64)

    is_item = _mask(lines["kind"] == ITEM)
    amount = _ints(lines["amount_minor"])
    now = lines[by].astype(str).assign(
        lines=np.ones(len(lines), dtype=np.int64),
        gross=np.where(is_item, _ints(lines["gross_minor"]), 0),
        holdback=np.where(is_item, _ints(lines["holdback_minor"]), 0),
        released=np.where(is_item, 0, amount), already_paid=_ints(lines["already_paid_minor"]),
        paid_now=amount, reporting_amount=_ints(lines["reporting_minor"]),
        deferred_lines=zeros(len(lines)), deferred_amount=zeros(len(lines)))
    n = len(deferred)
    waiting = deferred[by].astype(str).assign(
        lines=zeros(n), gross=zeros(n), holdback=zeros(n), released=zeros(n),
        already_paid=zeros(n), paid_now=zeros(n), reporting_amount=zeros(n),
        deferred_lines=np.ones(n, dtype=np.int64), deferred_amount=_ints(deferred["amount_minor"]))
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
    days = _site_terms(sites, contracts)["terms_days"].to_numpy(dtype="int64")
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
    return from_minor(int(_ints(lines["reporting_minor"]).sum()), currencies.pop())
