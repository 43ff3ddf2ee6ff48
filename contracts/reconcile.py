"""Invoice reconciliation: one status per invoice line, one class per earned item.

docs/SITE_PAYMENTS.md "Reconciliation" states the rules; this module applies
them to whole frames at once (a million earned items, tens of thousands of
lines) with merges, sorts and masks: no Python loop over lines or items. Money
stays in integer minor units; totals are exact Python integers per currency,
and :meth:`Reconciliation.check_totals` proves they add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from contracts import reconcile_notes as notes
from contracts.fee_grid import fee_in_force
from contracts.matching import match_one_to_one, window_candidates
from contracts.minor import percent_factor, scale_half_up
from contracts.reconcile_json import reconciliation_json
from contracts.schemas import ITEM_CLASSES, LINE_STATUSES, RECONCILED_ITEMS, RECONCILED_LINES
from planner.frames import FrameSchema

KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code"]
LINE_ORDER = ["invoice_date", "invoice_id", "line_no"]
SAME_LINE = [*KEY, "service_date", "amount_minor", "currency"]
SITE_TERMS = ["country", "contract_currency", "overhead_pct", "holdback_pct", "sf_ratio",
              "has_contract"]
EARNED, HELD, INVOICE_ONLY = "earned", "sf_over_cap", "invoice_only"
UNSCHEDULED = notes.UNSCHEDULED
CODE = {status: code for code, status in enumerate(LINE_STATUSES)}
__all__ = ["Reconciliation", "ReconciliationError", "Totals", "reconcile", "reconciliation_json"]


class ReconciliationError(ValueError):
    """Totals or statuses of a reconciliation that do not add up."""


@dataclass(frozen=True)
class Totals:
    """Exact sums in minor units, per currency (never added across currencies).

    ``by_status`` and ``by_class`` map each status or class to {currency: minor};
    ``invoiced`` and ``earned`` are their per-currency sums, so the invariants
    Σ by_status == invoiced and Σ by_class == earned hold by construction.
    """

    invoiced: dict[str, int]
    earned: dict[str, int]
    by_status: dict[str, dict[str, int]]
    by_class: dict[str, dict[str, int]]


def _sums(labels: pd.Series, currency: pd.Series, amount: pd.Series,
          names: tuple[str, ...]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """({currency: Σ}, {label: {currency: Σ}}) with every name and currency present (0 if none)."""
    frame = pd.DataFrame({"label": labels.astype(object).to_numpy(),
                          "currency": currency.astype(object).to_numpy(),
                          "amount": amount.to_numpy(np.int64)})
    grouped = frame.groupby(["label", "currency"])["amount"].sum()
    currencies = sorted(frame["currency"].dropna().unique())
    by_label = {name: dict.fromkeys(currencies, 0) for name in names}
    for (label, cur), value in grouped.items():  # a few labels × currencies
        by_label.setdefault(label, dict.fromkeys(currencies, 0))[cur] = int(value)
    total = {cur: sum(sums[cur] for sums in by_label.values()) for cur in currencies}
    return total, by_label


def _recount(labels: pd.Series, currency: pd.Series, amount: pd.Series) -> dict[tuple, int]:
    """Σ amount per (label, currency) by sorting and reduceat (not groupby): the second way
    of :meth:`Reconciliation.check_totals`. Python integers where int64 could overflow."""
    label_code, label_names = pd.factorize(labels.astype(object), use_na_sentinel=False)
    cur_code, cur_names = pd.factorize(currency.astype(object), use_na_sentinel=False)
    values = amount.to_numpy(np.int64)
    if len(values) and int(np.abs(values).max()) * len(values) >= 2**63:
        values = values.astype(object)
    key = label_code.astype(np.int64) * max(len(cur_names), 1) + cur_code
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    sums = np.add.reduceat(values[order], starts) if len(key) else []
    return {(label_names[k // max(len(cur_names), 1)], cur_names[k % max(len(cur_names), 1)]):
            int(total) for k, total in zip(key[starts], sums, strict=True)}


@dataclass(frozen=True)
class Reconciliation:
    """Every invoice line with its status, and every earned item with its class."""

    lines: pd.DataFrame  # RECONCILED_LINES
    items: pd.DataFrame  # RECONCILED_ITEMS

    def totals(self) -> Totals:
        """Invoiced and earned per currency, split by line status and by item class."""
        invoiced, by_status = _sums(self.lines["status"], self.lines["currency"],
                                    self.lines["amount_minor"], LINE_STATUSES)
        earned, by_class = _sums(self.items["item_class"], self.items["currency"],
                                 self.items["gross_minor"], ITEM_CLASSES)
        return Totals(invoiced, earned, by_status, by_class)

    def check_totals(self) -> Totals:
        """The totals, after recomputing them another way; ReconciliationError if they differ."""
        totals = self.totals()
        problems = []
        lines, items = self.lines, self.items
        for frame, column, allowed in ((lines, "status", LINE_STATUSES),
                                       (items, "item_class", ITEM_CLASSES)):
            unknown = set(frame[column].dropna().unique()) - set(allowed)
            if frame[column].isna().any() or unknown:
                problems.append(f"{column} outside {allowed}: {sorted(unknown) or 'missing'}")
            if frame["currency"].isna().any():
                problems.append(f"{frame['currency'].isna().sum()} rows without currency "
                                f"among the {column} rows")
        for name, frame, amount, label, total, split in (
                ("invoiced", lines, "amount_minor", "status", totals.invoiced,
                 totals.by_status),
                ("earned", items, "gross_minor", "item_class", totals.earned,
                 totals.by_class)):
            recount = _recount(frame[label], frame["currency"], frame[amount])
            direct = _recount(pd.Series("", index=frame.index), frame["currency"],
                              frame[amount])
            stated = {(key, cur): value for key, sums in split.items()
                      for cur, value in sums.items() if value or (key, cur) in recount}
            if stated != recount:
                problems.append(f"{name} by {label}: {split} but the rows give {recount}")
            for cur in sorted({c for _, c in direct} | set(total), key=str):
                rows = direct.get(("", cur))
                parts = sum(sums.get(cur, 0) for sums in split.values())
                if not rows == parts == total.get(cur):
                    problems.append(f"{name} {cur}: rows sum to {rows}, by {label} to {parts},"
                                    f" total {total.get(cur)}")
        expected = lines["expected_minor"]
        if not (expected.isna() == (lines["status"] == "wrong_currency")).all():
            problems.append("expected is empty exactly for wrong_currency lines: it is not")
        known = expected.notna()
        if not (lines.loc[known, "amount_minor"] - expected[known]
                == lines.loc[known, "difference_minor"]).all():
            problems.append("difference is not invoiced − expected on every line")
        billed = _recount(lines["status"], lines["currency"], lines["amount_minor"])
        linked = _recount(items["item_class"], items["currency"],
                          items["invoiced_minor"].fillna(0))
        for key in {k for k in {**billed, **linked} if k[0] in ITEM_CLASSES[:3]}:
            if billed.get(key, 0) != linked.get(key, 0):
                problems.append(f"{key[0]} {key[1]}: lines bill {billed.get(key, 0)}, their "
                                f"items record {linked.get(key, 0)}")
        if problems:
            raise ReconciliationError("reconciliation totals do not add up: "
                                      + "; ".join(problems))
        return totals


class _LineState:
    """The status decided so far for each line (-1: still open), expected amount, note."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, -1, np.int8)
        self.expected = np.zeros(n, np.int64)
        self.note = np.full(n, None, object)

    @property
    def open(self) -> np.ndarray:
        return self.code < 0

    def settle(self, mask: np.ndarray, status: str | np.ndarray,
               note: pd.Series | None = None) -> None:
        self.code[mask] = CODE[status] if isinstance(status, str) else status
        if note is not None:
            self.note[mask] = note.astype(object).to_numpy()


def _line_rank(lines: pd.DataFrame) -> np.ndarray:
    """Each line's place in line order (invoice_date, invoice_id, line_no)."""
    order = lines.sort_values(LINE_ORDER, kind="stable").index.to_numpy()
    rank = np.empty(len(lines), np.int64)
    rank[order] = np.arange(len(lines))
    return rank


def _site_terms(lines: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    """The contract of each line's site (NA where the site has none), aligned with lines."""
    terms = (contracts.rename(columns={"currency": "contract_currency"})
             [["study_id", "site_id", *SITE_TERMS]]
             .astype({"study_id": "string", "site_id": "string"})
             .drop_duplicates(["study_id", "site_id"]))
    found = (lines[["study_id", "site_id"]].astype("string")
             .merge(terms, on=["study_id", "site_id"], how="left"))
    found["has_contract"] = found["has_contract"].fillna(False).astype(bool)
    return found.set_index(lines.index)


def _fees(lines: pd.DataFrame, site: pd.DataFrame, fees: pd.DataFrame,
          ask: np.ndarray) -> pd.DataFrame:
    """fee_in_force for the asked lines (fee_minor, cap), NA elsewhere."""
    requests = pd.DataFrame({"study_id": lines["study_id"], "site_id": lines["site_id"],
                             "country": site["country"], "item_type": lines["item_type"],
                             "item_code": lines["item_code"],
                             "date": lines["service_date"]})[ask]
    found = fee_in_force(fees, requests)[["fee_minor", "cap"]]
    return found.reindex(lines.index)


def _percent(value: object) -> Decimal:
    """A terms percentage; blank is 0 % (as for the earned items)."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return Decimal(0)
    return Decimal(value)


def _scale(minor: np.ndarray, percents: pd.Series, plus_one: bool) -> np.ndarray:
    """round_half_up(minor × (1 + p/100)) or (minor × p/100), per distinct percent p."""
    out = np.zeros(len(minor), np.int64)
    values = np.array([_percent(v) for v in percents.to_numpy(object)], dtype=object)
    for percent in set(values):  # a few distinct terms: one vectorized pass each
        mask = values == percent
        factor = percent_factor(percent)
        out[mask] = scale_half_up(minor[mask], 1 + factor if plus_one else factor)
    return out


def _same_line(lines: pd.DataFrame, rank: np.ndarray, state: _LineState) -> None:
    """Rule 3, first half: the same line again (subject, item, date, amount) is a duplicate."""
    positions = np.flatnonzero(state.open)
    positions = positions[np.argsort(rank[positions], kind="stable")]
    group = (lines.iloc[positions][SAME_LINE]
             .groupby(SAME_LINE, dropna=False, sort=False).ngroup().to_numpy())
    first_of_group = positions[np.unique(group, return_index=True)[1]]
    first = first_of_group[group]
    again = first != positions
    duplicate, earlier = positions[again], first[again]
    mask = np.zeros(len(lines), bool)
    mask[duplicate] = True
    earlier_lines = lines.iloc[earlier][["invoice_id", "line_no"]].set_axis(duplicate)
    state.settle(mask, "duplicate", notes.same_line(earlier_lines).reindex(np.flatnonzero(mask)))


def _held_screen_failures(lines: pd.DataFrame, earned: pd.DataFrame, site: pd.DataFrame,
                          state: _LineState) -> None:
    """Rule 4: a screen-failure line for a subject whose fee is held over the cap."""
    asked = state.open & (lines["item_type"] == "screen_failure").fillna(False).to_numpy()
    sf = earned[(earned["item_type"] == "screen_failure").fillna(False)]
    if not asked.any() or not (sf["status"] == HELD).any():
        return
    sf = sf.sort_values(["service_date", "subject_id"], kind="stable")
    by_site = sf.groupby(["study_id", "site_id"], sort=False)
    paid = (sf["status"] == EARNED).groupby([sf["study_id"], sf["site_id"]], sort=False)
    sf = sf.assign(rank=by_site.cumcount() + 1, paid=paid.transform("sum"))
    held = sf[sf["status"] == HELD].drop_duplicates(KEY)[[*KEY, "rank", "paid"]]
    hits = (lines.loc[asked, KEY].astype("string").reset_index(names="line")
            .merge(held.astype(dict.fromkeys(KEY, "string")), on=KEY).sort_values("line"))
    mask = np.zeros(len(lines), bool)
    mask[hits["line"].to_numpy()] = True
    hits = hits.set_index("line")
    state.settle(mask, "sf_over_cap", notes.sf_over_cap(
        hits["site_id"], hits["rank"], hits["paid"], site.loc[hits.index, "sf_ratio"]))


def _settle_amounts(lines: pd.DataFrame, state: _LineState, positions: np.ndarray,
                    gross: np.ndarray) -> None:
    """Matched lines: expected = the item's gross; matched, over- or under-billed."""
    amount = lines["amount_minor"].to_numpy(np.int64)[positions]
    code = np.where(amount == gross, CODE["matched"],
                    np.where(amount > gross, CODE["over_billed"], CODE["under_billed"]))
    state.expected[positions] = gross
    state.code[positions] = code
    differs = positions[amount != gross]
    state.note[differs] = notes.amount_differs(
        lines.iloc[differs], pd.Series(state.expected[differs], index=differs)
    ).astype(object).to_numpy()


def _match(lines: pd.DataFrame, earned: pd.DataFrame, rank: np.ndarray, state: _LineState,
           tolerance_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Rule 5 for earned items, and rule 3's second half (an item already matched)."""
    by_invoice = ((lines["item_type"] == "invoiceable") & (lines["item_code"] != UNSCHEDULED)
                  ).fillna(False).to_numpy()
    asked = state.open & ~by_invoice
    pool = earned["status"].isin([EARNED, INVOICE_ONLY]).fillna(False).to_numpy()
    typed = dict.fromkeys(KEY, "string") | {"service_date": "datetime64[s]"}
    left = (lines.loc[asked, [*KEY, "service_date"]].astype(typed)
            .rename(columns={"service_date": "date"}))
    right = (earned.loc[pool, [*KEY, "service_date"]].astype(typed)
             .rename(columns={"service_date": "date"}))
    candidates = window_candidates(left.assign(line=left.index.to_numpy()),
                                   right.assign(item=right.index.to_numpy()),
                                   KEY, tolerance_days)
    item_rank = np.zeros(len(earned), np.int64)
    items = np.unique(candidates["item"].to_numpy())
    when = earned["service_date"].to_numpy("datetime64[s]")[items].astype(np.int64)
    item_rank[items[np.lexsort((items, earned["occurrence"].to_numpy()[items], when))]] = (
        np.arange(len(items)))
    matched_lines, matched_items = match_one_to_one(candidates, rank, item_rank)
    _settle_amounts(lines, state, matched_lines,
                    earned["gross_minor"].to_numpy(np.int64)[matched_items])
    # a line whose every candidate went to another line bills an item already billed
    taker = np.full(len(earned), -1, np.int64)
    taker[matched_items] = matched_lines
    lost = candidates[~np.isin(candidates["line"].to_numpy(), matched_lines)]
    lost = (lost.assign(_rank=item_rank[lost["item"].to_numpy()])
            .sort_values(["distance", "_rank"], kind="stable").drop_duplicates("line"))
    lost = lost.sort_values("line")
    if len(lost):
        positions = lost["line"].to_numpy()
        item = lost["item"].to_numpy()
        mask = np.zeros(len(lines), bool)
        mask[positions] = True
        other = lines.iloc[taker[item]][["invoice_id", "line_no"]].set_axis(positions)
        state.settle(mask, "duplicate", notes.already_billed(
            lines.iloc[positions], earned["service_date"].iloc[item].set_axis(positions),
            other))
    return matched_lines, matched_items


def _earned_by_invoice(lines: pd.DataFrame, site: pd.DataFrame, fee: pd.DataFrame,
                       rank: np.ndarray, state: _LineState) -> pd.DataFrame:
    """Rule 5 for invoiceable items other than UNSCHEDULED: the line earns the item,
    within the cap (per subject, or per site for a line without one), counted in
    service-date order (then line order). Returns the items earned (with the line)."""
    asked = state.open & ((lines["item_type"] == "invoiceable")
                          & (lines["item_code"] != UNSCHEDULED)).fillna(False).to_numpy()
    sub = lines[asked].assign(_rank=rank[asked]).sort_values(["service_date", "_rank"],
                                                             kind="stable")
    count = sub.groupby(KEY, dropna=False, sort=False).cumcount().to_numpy() + 1
    sub = sub.assign(occurrence=count).sort_index()
    cap = fee.loc[sub.index, "cap"]
    within = (cap.isna() | (sub["occurrence"] <= cap)).to_numpy(bool)
    over = sub.index.to_numpy()[~within]
    mask = np.zeros(len(lines), bool)
    mask[over] = True
    state.settle(mask, "not_earned", notes.over_item_cap(
        sub.loc[over], sub.loc[over, "occurrence"], cap.loc[over]))
    sub = sub[within]
    terms = site.loc[sub.index]
    fee_minor = fee.loc[sub.index, "fee_minor"].to_numpy(np.int64)
    gross = _scale(fee_minor, terms["overhead_pct"], plus_one=True)
    _settle_amounts(lines, state, sub.index.to_numpy(), gross)
    return pd.DataFrame({
        "study_id": sub["study_id"], "site_id": sub["site_id"], "country": terms["country"],
        "subject_id": sub["subject_id"], "item_type": sub["item_type"],
        "item_code": sub["item_code"], "occurrence": sub["occurrence"],
        "service_date": sub["service_date"], "earned_date": sub["invoice_date"],
        "status": EARNED, "fee_minor": fee_minor, "gross_minor": gross,
        "holdback_minor": _scale(gross, terms["holdback_pct"], plus_one=False),
        "currency": terms["contract_currency"],
        "source": "invoice " + sub["invoice_id"].astype("string") + " line "
                  + sub["line_no"].astype(str),
        "_line": sub.index.to_numpy(),
    }, index=sub.index)


def _conform(schema: FrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.conform(frame)``, skipping columns already of the declared dtype (its
    per-value pass over string columns costs seconds at a million rows)."""
    out = frame[schema.names].reset_index(drop=True)
    wrong = tuple(c for c in schema.columns if str(out[c.name].dtype) != c.dtype)
    if wrong:
        fixed = FrameSchema(schema.name, wrong).conform(out)
        out = out.assign(**{c.name: fixed[c.name] for c in wrong})
    return out


def _lines_frame(lines: pd.DataFrame, state: _LineState) -> pd.DataFrame:
    status = np.asarray(LINE_STATUSES, dtype=object)[state.code]
    unknown = status == "wrong_currency"
    expected = pd.array(state.expected, dtype="Int64")
    expected[unknown] = pd.NA
    return _conform(RECONCILED_LINES, lines.assign(
        status=pd.array(status, dtype="string"), expected_minor=expected,
        difference_minor=pd.array(lines["amount_minor"].to_numpy(np.int64),
                                  dtype="Int64") - expected,
        note=pd.array(state.note, dtype="string")))


def _attached(values: np.ndarray, line: np.ndarray, has: np.ndarray) -> ExtensionArray:
    """``values`` of each item's line as Int64, NA for items without one."""
    out = np.zeros(len(line), np.int64)
    out[has] = values[line[has]]
    array = pd.array(out, dtype="Int64")
    array[~has] = pd.NA
    return array


def _items_frame(lines: pd.DataFrame, earned: pd.DataFrame, status: np.ndarray,
                 matched_lines: np.ndarray, matched_items: np.ndarray,
                 by_invoice: pd.DataFrame) -> pd.DataFrame:
    """Earned items (and invoice-only ones a line matched), then those the invoice earned."""
    keep = (earned["status"] == EARNED).fillna(False).to_numpy()
    keep[matched_items] = True
    item_class = np.full(len(earned), "accrual", dtype=object)
    item_class[matched_items] = status[matched_lines]
    line_of = np.full(len(earned), -1, np.int64)
    line_of[matched_items] = matched_lines
    invoiced = lines["amount_minor"].to_numpy(np.int64)
    base = earned[keep]
    line = line_of[keep]
    has = line >= 0
    attached = lines[["invoice_id", "line_no", "invoice_date"]].iloc[line[has]]
    invoice_id = np.full(len(base), None, object)
    invoice_id[has] = attached["invoice_id"].to_numpy(object)
    line_no = _attached(lines["line_no"].to_numpy(np.int64), line, has)
    amount = _attached(invoiced, line, has)
    # an invoice-only item (unscheduled visit) is earned by the line matched to it
    now_earned = has & (base["status"] == INVOICE_ONLY).to_numpy()
    earned_date = base["earned_date"].to_numpy("datetime64[s]").copy()
    invoice_date = np.full(len(base), np.datetime64("NaT"), "datetime64[s]")
    invoice_date[has] = attached["invoice_date"].to_numpy("datetime64[s]")
    earned_date = np.where(now_earned & np.isnat(earned_date), invoice_date, earned_date)
    base = base.assign(
        status=base["status"].mask(now_earned, EARNED), earned_date=earned_date,
        item_class=pd.array(item_class[keep], dtype="string"),
        invoice_id=pd.array(invoice_id, dtype="string"),
        line_no=line_no, invoiced_minor=amount)
    if len(by_invoice):
        rows = by_invoice.pop("_line").to_numpy()
        by_invoice = by_invoice.assign(
            item_class=status[rows], invoice_id=lines["invoice_id"].to_numpy(object)[rows],
            line_no=lines["line_no"].to_numpy(np.int64)[rows], invoiced_minor=invoiced[rows])
        base = pd.concat([_conform(RECONCILED_ITEMS, base),
                          _conform(RECONCILED_ITEMS, by_invoice)], ignore_index=True)
    return _conform(RECONCILED_ITEMS, base)


def reconcile(earned: pd.DataFrame, lines: pd.DataFrame, fees: pd.DataFrame,
              contracts: pd.DataFrame, tolerance_days: int = 7) -> Reconciliation:
    """Reconcile invoice ``lines`` (INVOICE_LINES) against ``earned`` items (EARNED).

    ``fees`` (FEES) prices the lines and the invoiceable items a line earns;
    ``contracts`` is :func:`contracts.site_contracts.site_contracts`'s frame
    (contract currency, overhead and holdback per site). Statuses follow
    docs/SITE_PAYMENTS.md in its order of precedence.
    """
    lines = lines.reset_index(drop=True)
    earned = earned.reset_index(drop=True)
    state = _LineState(len(lines))
    rank = _line_rank(lines)
    site = _site_terms(lines, contracts)
    has_contract = site["has_contract"].to_numpy(bool)
    # 1. wrong currency
    wrong = has_contract & (lines["currency"].astype("string")
                            != site["contract_currency"]).fillna(True).to_numpy()
    state.settle(wrong, "wrong_currency",
                 notes.wrong_currency(lines.loc[wrong, "currency"],
                                      site.loc[wrong, "contract_currency"]))
    # 2. not in contract: no contract at all, or no fee in force on the service date
    no_contract = state.open & ~has_contract
    state.settle(no_contract, "not_in_contract", notes.no_contract(lines.loc[no_contract,
                                                                            "site_id"]))
    fee = _fees(lines, site, fees, state.open)
    no_fee = state.open & fee["fee_minor"].isna().to_numpy()
    state.settle(no_fee, "not_in_contract", notes.not_in_contract(lines[no_fee]))
    # 3. the same line again; 4. screen failure held over the cap
    _same_line(lines, rank, state)
    _held_screen_failures(lines, earned, site, state)
    # 5. matched to an earned item (or earned by the invoice itself)
    matched_lines, matched_items = _match(lines, earned, rank, state, tolerance_days)
    by_invoice = _earned_by_invoice(lines, site, fee, rank, state)
    # 6. nothing earned to match
    rest = state.open
    state.settle(rest, "not_earned", notes.not_earned(lines[rest], tolerance_days))
    status = np.asarray(LINE_STATUSES, dtype=object)[state.code]
    return Reconciliation(
        lines=_lines_frame(lines, state),
        items=_items_frame(lines, earned, status, matched_lines, matched_items, by_invoice))
