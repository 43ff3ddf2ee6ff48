"""The state a reconciliation builds line by line, and the frames it returns.

Why: the rules of docs/SITE_PAYMENTS.md "Reconciliation" run one after the other
(``contracts.reconcile`` and ``contracts.reconcile_match``), each settling the
lines still open; they share this state (status code, expected amount, note per
line), the line order they all count in, and the final frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from contracts.schemas import LINE_STATUSES, RECONCILED_ITEMS, RECONCILED_LINES
from planner.frames import FrameSchema

KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code"]
LINE_ORDER = ["invoice_date", "invoice_id", "line_no"]
EARNED, HELD, INVOICE_ONLY = "earned", "sf_over_cap", "invoice_only"
CODE = {status: code for code, status in enumerate(LINE_STATUSES)}


class LineState:
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

    def statuses(self) -> np.ndarray:
        return np.asarray(LINE_STATUSES, dtype=object)[self.code]


def line_rank(lines: pd.DataFrame) -> np.ndarray:
    """Each line's place in line order (invoice_date, invoice_id, line_no): "earlier"
    in every rule (duplicates, competing lines, caps) means earlier in this order."""
    order = lines.sort_values(LINE_ORDER, kind="stable").index.to_numpy()
    rank = np.empty(len(lines), np.int64)
    rank[order] = np.arange(len(lines))
    return rank


def conform(schema: FrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.conform(frame)``, skipping columns already of the declared dtype (its
    per-value pass over string columns costs seconds at a million rows)."""
    out = frame[schema.names].reset_index(drop=True)
    wrong = tuple(c for c in schema.columns if str(out[c.name].dtype) != c.dtype)
    if wrong:
        fixed = FrameSchema(schema.name, wrong).conform(out)
        out = out.assign(**{c.name: fixed[c.name] for c in wrong})
    return out


def lines_frame(lines: pd.DataFrame, state: LineState) -> pd.DataFrame:
    """RECONCILED_LINES: each line with its status, expected amount, difference, note."""
    status = state.statuses()
    unknown = status == "wrong_currency"
    expected = pd.array(state.expected, dtype="Int64")
    expected[unknown] = pd.NA
    return conform(RECONCILED_LINES, lines.assign(
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


def items_frame(lines: pd.DataFrame, earned: pd.DataFrame, status: np.ndarray,
                matched_lines: np.ndarray, matched_items: np.ndarray,
                by_invoice: pd.DataFrame) -> pd.DataFrame:
    """RECONCILED_ITEMS: earned items (and invoice-only ones a line matched), then those
    the invoice earned (``by_invoice``, with the line's position in ``_line``)."""
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
    # ... and is then identified by that line, as invoiceables are: if a visit entered
    # later takes the line over, the payment already made for the line is found again
    by_line = np.full(len(base), None, object)
    by_line[has] = ("invoice " + attached["invoice_id"].astype(str) + " line "
                    + lines["line_no"].iloc[line[has]].astype(str)).to_numpy(object)
    item_ref = base["item_ref"].astype(object).where(~now_earned, by_line)
    base = base.assign(
        item_ref=pd.array(item_ref, dtype="string"),
        status=base["status"].mask(now_earned, EARNED), earned_date=earned_date,
        item_class=pd.array(item_class[keep], dtype="string"),
        invoice_id=pd.array(invoice_id, dtype="string"),
        line_no=line_no, invoiced_minor=amount)
    if len(by_invoice):
        rows = by_invoice.pop("_line").to_numpy()
        by_invoice = by_invoice.assign(
            item_class=status[rows], invoice_id=lines["invoice_id"].to_numpy(object)[rows],
            line_no=lines["line_no"].to_numpy(np.int64)[rows], invoiced_minor=invoiced[rows])
        base = pd.concat([conform(RECONCILED_ITEMS, base),
                          conform(RECONCILED_ITEMS, by_invoice)], ignore_index=True)
    return conform(RECONCILED_ITEMS, base)
