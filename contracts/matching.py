"""One-to-one matching of invoice lines to earned items within a date window.

Why: a site may bill a visit a few days off its recorded date, and may bill the
same item twice; an earned item pays one line at most. The rule
(docs/SITE_PAYMENTS.md) is first come, first served: lines take their item in
line order, the earliest line first, and each takes the closest of its candidate
items still free (ties by item order). So among lines competing for one item the
earliest wins, and a later line billing it again is a duplicate.

That sequential rule is computed without a per-line loop. Sort the pairs by
(line rank, distance, item rank): a line's first pair is its best free item, an
item's first pair is the earliest line still wanting it. A pair first for both
is exactly what the sequential rule decides (no earlier line can take that item,
and nothing the line prefers is free), so those pairs are matched together,
removed with every other pair of their line or item, and the rest is tried again
(a handful of rounds in practice; each round matches at least the earliest line's
best pair).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400


def window_candidates(left: pd.DataFrame, right: pd.DataFrame, keys: list[str],
                      tolerance_days: int) -> pd.DataFrame:
    """Pairs with equal ``keys`` whose dates are at most ``tolerance_days`` apart.

    ``left`` has ``keys``, ``date`` and ``line`` (an integer id); ``right`` has
    ``keys``, ``date`` and ``item``. Returns int64 columns ``line``, ``item`` and
    ``distance`` (seconds between the dates); missing dates never pair.
    """
    pairs = left[[*keys, "date", "line"]].merge(right[[*keys, "date", "item"]], on=keys,
                                                suffixes=("_line", "_item"))
    line_date = pairs["date_line"].to_numpy("datetime64[s]")
    item_date = pairs["date_item"].to_numpy("datetime64[s]")
    distance = np.abs((line_date - item_date).astype("timedelta64[s]").astype(np.int64))
    known = ~(np.isnat(line_date) | np.isnat(item_date))
    keep = known & (distance <= tolerance_days * SECONDS_PER_DAY)
    return pd.DataFrame({"line": pairs["line"].to_numpy(np.int64)[keep],
                         "item": pairs["item"].to_numpy(np.int64)[keep],
                         "distance": distance[keep]})


def _first_of_each(ids: np.ndarray) -> np.ndarray:
    """True at the first occurrence of each id (the array is in preference order)."""
    return ~pd.Series(ids, copy=False).duplicated().to_numpy()


def match_one_to_one(candidates: pd.DataFrame, line_rank: np.ndarray,
                     item_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one-to-one matching of ``candidates`` (line, item, distance), lines served in
    ``line_rank`` order.

    Each line, in order of ``line_rank[line]``, takes its free candidate with the
    smallest distance, then the smallest ``item_rank[item]`` (ranks are distinct per
    line and per item). Returns the matched (line, item) arrays.
    """
    line = candidates["line"].to_numpy(np.int64)
    item = candidates["item"].to_numpy(np.int64)
    if not len(line):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((item_rank[item], candidates["distance"].to_numpy(), line_rank[line]))
    line, item = line[order], item[order]
    line_taken = np.zeros(int(line.max()) + 1, bool)
    item_taken = np.zeros(int(item.max()) + 1, bool)
    matched_lines: list[np.ndarray] = []
    matched_items: list[np.ndarray] = []
    while len(line):  # each round takes at least the earliest line's best pair
        mutual = _first_of_each(line) & _first_of_each(item)
        matched_lines.append(line[mutual])
        matched_items.append(item[mutual])
        line_taken[line[mutual]] = True
        item_taken[item[mutual]] = True
        free = ~(line_taken[line] | item_taken[item])
        line, item = line[free], item[free]
    return np.concatenate(matched_lines), np.concatenate(matched_items)
