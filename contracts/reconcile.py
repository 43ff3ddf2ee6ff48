"""Invoice reconciliation: one status per invoice line, one class per earned item.

docs/SITE_PAYMENTS.md "Reconciliation" states the rules; this module applies
them in their order of precedence to whole frames at once (a million earned
items, tens of thousands of lines) with merges, sorts and masks: no Python loop
over lines or items. Rules 1-4 and 6 are here, rule 5 (matching, caps, items an
invoice earns) in ``contracts.reconcile_match``; the result and its proved totals
in ``contracts.reconcile_totals``. Money stays in integer minor units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts import reconcile_notes as notes
from contracts.fee_grid import fee_in_force
from contracts.reconcile_json import reconciliation_json
from contracts.reconcile_match import earned_by_invoice, match
from contracts.reconcile_state import (
    EARNED,
    HELD,
    KEY,
    LINE_ORDER,
    LineState,
    items_frame,
    line_rank,
    lines_frame,
)
from contracts.reconcile_totals import Reconciliation, ReconciliationError, Totals
from planner.payment_tables import ItemType

SAME_LINE = [*KEY, "service_date", "amount_minor", "currency"]
SITE_TERMS = ["country", "contract_currency", "overhead_pct", "holdback_pct", "sf_ratio",
              "has_contract"]
__all__ = ["KEY", "LINE_ORDER", "Reconciliation", "ReconciliationError", "Totals",
           "reconcile", "reconciliation_json"]


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


def _same_line(lines: pd.DataFrame, rank: np.ndarray, state: LineState) -> None:
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
                          state: LineState) -> None:
    """Rule 4: a screen-failure line for a subject whose fee is held over the cap."""
    kind = ItemType.SCREEN_FAILURE.value
    asked = state.open & (lines["item_type"] == kind).fillna(False).to_numpy()
    sf = earned[(earned["item_type"] == kind).fillna(False)]
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
    state = LineState(len(lines))
    rank = line_rank(lines)
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
    # 5. matched to an earned item (or earned by the invoice itself), within caps
    matched_lines, matched_items = match(lines, earned, fee["cap"], rank, state,
                                         tolerance_days)
    by_invoice = earned_by_invoice(lines, site, fee, rank, state)
    # 6. nothing earned to match
    rest = state.open
    state.settle(rest, "not_earned", notes.not_earned(lines[rest], tolerance_days))
    return Reconciliation(
        lines=lines_frame(lines, state),
        items=items_frame(lines, earned, state.statuses(), matched_lines, matched_items,
                          by_invoice))
