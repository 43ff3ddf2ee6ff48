"""A reconciliation's result and its totals, proved to add up (docs/SITE_PAYMENTS.md,
"Reconciliation": totals per currency, never added across).

Why a module of its own: the frames a reconciliation returns are read by the CLI,
the JSON and the payment runs, and their totals must hold whatever computed them;
:meth:`Reconciliation.check_totals` recomputes them another way (sort and
``reduceat`` instead of ``groupby``) and refuses a result that does not add up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.schemas import ITEM_CLASSES, LINE_STATUSES


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
