"""The reconciliation rules written as a plain per-row Python loop (the baseline).

What a careful analyst would script without pandas: index the earned items in
dicts, then walk the invoice lines one by one. It follows the same rules as
``contracts.reconcile`` (statuses and expected amounts, not the notes), so the
benchmark also uses it as an independent check of the vectorized result on its
sample.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

KEY = ["study_id", "site_id", "subject_id", "item_type", "item_code"]


def _column(frame: pd.DataFrame, name: str) -> list:
    values = frame[name]
    if str(values.dtype).startswith("datetime64"):
        days = values.to_numpy("datetime64[D]")
        return [None if np.isnat(d) else int(d.astype(np.int64)) for d in days]
    return [None if v is pd.NA or v is None else v for v in values.astype(object)]


@dataclass
class NaiveIndex:
    """Earned items by key, held screen failures, contracts and fee rows, in dicts."""

    items: dict
    held: set
    gross: list
    contracts: dict
    fees: dict
    seconds: float


def build_index(earned: pd.DataFrame, fees: pd.DataFrame, contracts: pd.DataFrame) -> NaiveIndex:
    start = time.perf_counter()
    items: dict = defaultdict(list)
    held: set = set()
    columns = [_column(earned, c) for c in [*KEY, "service_date", "occurrence", "status"]]
    for pos, (*key, date, occurrence, status) in enumerate(zip(*columns, strict=True)):
        if status in ("earned", "invoice_only"):
            items[tuple(key)].append((date, occurrence, pos))
        elif status == "sf_over_cap":
            held.add(tuple(key))
    site_terms = {}
    for study, site, country, currency, overhead, has in zip(
            *[_column(contracts, c) for c in ["study_id", "site_id", "country", "currency",
                                              "overhead_pct", "has_contract"]], strict=True):
        site_terms[(study, site)] = (country, currency, overhead, bool(has))
    fee_rows: dict = defaultdict(list)
    for study, country, site, kind, code, amount, since, cap in zip(
            *[_column(fees, c) for c in ["study_id", "country", "site_id", "item_type",
                                         "item_code", "amount_minor", "effective_from",
                                         "cap"]], strict=True):
        scope = ("site", site) if site is not None else ("country", country)
        fee_rows[(study, scope, kind, code)].append((since, amount, cap))
    return NaiveIndex(dict(items), held, _column(earned, "gross_minor"), site_terms,
                      dict(fee_rows), time.perf_counter() - start)


def _fee(index: NaiveIndex, study: str, site: str, country: str, kind: str, code: str,
         day: int | None) -> tuple[int, int | None] | None:
    if day is None:
        return None
    for scope in (("site", site), ("country", country)):
        rows = [r for r in index.fees.get((study, scope, kind, code), []) if r[0] <= day]
        if rows:
            since, amount, cap = max(rows, key=lambda r: r[0])
            return amount, cap
    return None


def naive_reconcile(index: NaiveIndex, lines: pd.DataFrame,
                    tolerance_days: int = 7) -> tuple[list[str], list[int | None], float]:
    """(status, expected) of each line, and the seconds the loop took."""
    start = time.perf_counter()
    cols = {c: _column(lines, c) for c in [*KEY, "service_date", "amount_minor", "currency",
                                           "invoice_date", "invoice_id", "line_no"]}
    n = len(lines)
    order = sorted(range(n), key=lambda i: (cols["invoice_date"][i], cols["invoice_id"][i],
                                            cols["line_no"][i]))
    status: list = [None] * n
    expected: list = [0] * n
    fee_of: dict = {}
    seen: set = set()
    by_invoice: list = []
    taken_items: set = set()
    matched: dict = defaultdict(int)
    for i in order:
        key = tuple(cols[c][i] for c in KEY)
        study, site, subject, kind, code = key
        day, currency = cols["service_date"][i], cols["currency"][i]
        country, contract_currency, _, has = index.contracts.get((study, site),
                                                                 (None, None, None, False))
        if has and currency != contract_currency:
            status[i], expected[i] = "wrong_currency", None
            continue
        fee = _fee(index, study, site, country, kind, code, day) if has else None
        if fee is None:
            status[i] = "not_in_contract"
            continue
        fee_of[i] = fee
        same = (*key, day, cols["amount_minor"][i], currency)
        if same in seen:
            status[i] = "duplicate"
            continue
        seen.add(same)
        if kind == "screen_failure" and key in index.held:
            status[i] = "sf_over_cap"
            continue
        if kind == "invoiceable" and code != "UNSCHEDULED":
            by_invoice.append(i)
            continue
        # lines take their item in line order: the closest free one, ties by item order
        near = [(abs(item_day - day), item_day, occurrence, pos)
                for item_day, occurrence, pos in index.items.get(key, [])
                if item_day is not None and abs(item_day - day) <= tolerance_days]
        free = [pair for pair in near if pair[-1] not in taken_items]
        if not free:
            if near:
                status[i] = "duplicate"  # every candidate taken by an earlier line
            continue
        pos = min(free)[-1]
        taken_items.add(pos)
        if kind == "invoiceable":  # an unscheduled visit, within its fee's cap
            matched[key] += 1
            if fee[1] is not None and matched[key] > fee[1]:
                status[i] = "not_earned"
                continue
        _amount_status(status, expected, i, cols["amount_minor"][i], index.gross[pos])
    counts: dict = defaultdict(int)
    for i in by_invoice:  # in line order
        key = tuple(cols[c][i] for c in KEY)
        counts[key] += 1
        amount, cap = fee_of[i]
        if cap is not None and counts[key] > cap:
            status[i] = "not_earned"
            continue
        overhead = index.contracts[key[:2]][2]
        gross = int((Decimal(amount) * (1 + Decimal(overhead or 0) / 100))
                    .quantize(Decimal(1), rounding=ROUND_HALF_UP))
        _amount_status(status, expected, i, cols["amount_minor"][i], gross)
    status = [s or "not_earned" for s in status]
    return status, expected, time.perf_counter() - start


def _amount_status(status: list, expected: list, i: int, amount: int, gross: int) -> None:
    expected[i] = gross
    status[i] = ("matched" if amount == gross else
                 "over_billed" if amount > gross else "under_billed")
