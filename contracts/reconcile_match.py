"""Rule 5 of the reconciliation (docs/SITE_PAYMENTS.md): an invoice line matched to
the earned item it bills, or earning an invoiceable item itself, within its cap.

Why these choices: an item is paid once whatever the invoices do, so each earned
item takes at most one line, and among lines competing for it the earliest (line
order: invoice_date, invoice_id, line_no) wins; a later line billing it again is
a duplicate. Caps count in line order too: an item an earlier invoice earned keeps
its place when a back-dated invoice arrives, so what a payment run paid stays
earned. Whole frames at once: merges, sorts and masks, no loop over lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts import reconcile_notes as notes
from contracts.matching import match_one_to_one, window_candidates
from contracts.pricing import gross_and_holdback
from contracts.reconcile_state import CODE, EARNED, INVOICE_ONLY, KEY, LineState
from planner.payment_tables import UNSCHEDULED_CODE, ItemType


def _invoiceable(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(earned by the invoice itself, unscheduled visit) masks of the lines."""
    invoiceable = (lines["item_type"] == ItemType.INVOICEABLE.value).fillna(False).to_numpy()
    unscheduled = invoiceable & (lines["item_code"] == UNSCHEDULED_CODE).fillna(False).to_numpy()
    return invoiceable & ~unscheduled, unscheduled


def _settle_amounts(lines: pd.DataFrame, state: LineState, positions: np.ndarray,
                    gross: np.ndarray) -> None:
    """Lines that earn: expected = the item's gross; matched, over- or under-billed."""
    amount = lines["amount_minor"].to_numpy(np.int64)[positions]
    code = np.where(amount == gross, CODE["matched"],
                    np.where(amount > gross, CODE["over_billed"], CODE["under_billed"]))
    state.expected[positions] = gross
    state.code[positions] = code
    differs = positions[amount != gross]
    state.note[differs] = notes.amount_differs(
        lines.iloc[differs], pd.Series(state.expected[differs], index=differs)
    ).astype(object).to_numpy()


def _apply_cap(lines: pd.DataFrame, cap: pd.Series, rank: np.ndarray, rows: np.ndarray,
               state: LineState) -> tuple[np.ndarray, np.ndarray]:
    """The fee's cap over the lines at ``rows`` (ascending positions): counted per
    subject (per site for a line without one) in line order. Lines beyond it are
    settled ``not_earned``, with a note naming the cap. Returns (rows within the cap,
    their count)."""
    order = np.argsort(rank[rows], kind="stable")
    count = np.empty(len(rows), np.int64)
    count[order] = (lines.iloc[rows[order]][KEY]
                    .groupby(KEY, dropna=False, sort=False).cumcount().to_numpy() + 1)
    limit = cap.iloc[rows]
    over = (limit.notna() & (count > limit.fillna(0))).to_numpy(bool)
    mask = np.zeros(len(lines), bool)
    mask[rows[over]] = True
    over_rows = lines.iloc[rows[over]]
    state.settle(mask, "not_earned", notes.over_item_cap(
        over_rows, pd.Series(count[over], index=over_rows.index), limit[over]))
    return rows[~over], count[~over]


def match(lines: pd.DataFrame, earned: pd.DataFrame, cap: pd.Series, rank: np.ndarray,
          state: LineState, tolerance_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Rule 5 for earned items, rule 3's second half (an item already matched by an
    earlier line), and the cap of an unscheduled-visit fee. Returns the matched
    (line, item) positions."""
    by_invoice, unscheduled = _invoiceable(lines)
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
    took_lines, took_items = match_one_to_one(candidates, rank, item_rank)
    # an unscheduled visit earns only within its fee's cap (per subject, in line order)
    capped = np.sort(took_lines[unscheduled[took_lines]])
    within, _ = _apply_cap(lines, cap, rank, capped, state)
    keep = ~unscheduled[took_lines] | np.isin(took_lines, within)
    matched_lines, matched_items = took_lines[keep], took_items[keep]
    _settle_amounts(lines, state, matched_lines,
                    earned["gross_minor"].to_numpy(np.int64)[matched_items])
    # a line whose every candidate went to an earlier line bills an item already billed
    taker = np.full(len(earned), -1, np.int64)
    taker[took_items] = took_lines
    lost = candidates[~np.isin(candidates["line"].to_numpy(), took_lines)]
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


def earned_by_invoice(lines: pd.DataFrame, site: pd.DataFrame, fee: pd.DataFrame,
                      rank: np.ndarray, state: LineState) -> pd.DataFrame:
    """Rule 5 for invoiceable items other than UNSCHEDULED: the line earns the item,
    within the cap (per subject, or per site for a line without one) counted in line
    order. Returns the items earned, each identified by its line (item_ref "invoice
    INV-7 line 3") and with the line's position in ``_line``."""
    by_invoice, _ = _invoiceable(lines)
    rows, count = _apply_cap(lines, fee["cap"], rank, np.flatnonzero(state.open & by_invoice),
                             state)
    sub = lines.iloc[rows]
    terms = site.iloc[rows]
    fee_minor = fee["fee_minor"].iloc[rows].to_numpy(np.int64)
    gross, holdback = gross_and_holdback(fee_minor, terms["overhead_pct"],
                                         terms["holdback_pct"])
    _settle_amounts(lines, state, rows, gross)
    line_text = ("invoice " + sub["invoice_id"].astype("string") + " line "
                 + sub["line_no"].astype(str))
    return pd.DataFrame({
        "study_id": sub["study_id"], "site_id": sub["site_id"], "country": terms["country"],
        "subject_id": sub["subject_id"], "item_type": sub["item_type"],
        "item_code": sub["item_code"], "item_ref": line_text, "occurrence": count,
        "service_date": sub["service_date"], "earned_date": sub["invoice_date"],
        "status": EARNED, "fee_minor": fee_minor, "gross_minor": gross,
        "holdback_minor": holdback, "currency": terms["contract_currency"],
        "source": line_text, "_line": rows,
    }, index=sub.index)
