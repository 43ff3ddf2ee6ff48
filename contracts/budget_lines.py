"""The sponsor budget in force: work order lines and their change orders
(docs/SPONSOR_BUDGET.md, "Work order and change orders").

Pure: a work order frame (study_id, service_line, driver, units as ``Decimal``,
unit_price_minor as int64, currency, effective_from, change_order with NA for the
original, reason) in, frames out. Each line's rows form a chain: the original
first, then its change orders by effective date; a row replaces the one before
it. The row in force on a date is the latest with effective_from ≤ date (the
original when none). A budget is units × unit price rounded half up to the
minor unit once, exactly (``Fraction``, never float).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from planner.budget_tables import DRIVERS, SERVICE_LINES
from planner.frames import DATE, Col, FrameSchema

TOTAL = "total"  # the service_line of a total row

BUDGET_LINES = FrameSchema("budget_lines", (
    Col("study_id", "string", "", "protocol id"),
    Col("service_line", "string", "", "one of SERVICE_LINES"),
    Col("driver", "string", "", "the unit the line is priced in (of the row in force)"),
    Col("units", "object", "Decimal units", "units in force"),
    Col("unit_price_minor", "int64", "minor units", "unit price in force"),
    Col("bac_minor", "int64", "minor units", "budget: round_half_up(units × unit price)"),
    Col("original_bac_minor", "int64", "minor units", "the original work order's budget "
        "(0: a line a change order added)"),
    Col("currency", "string", "ISO 4217", "the study's reporting currency"),
    Col("effective_from", DATE, "date", "effective date of the row in force"),
    Col("change_order", "string", "", "the change order in force (NA: the original)"),
    Col("change_orders", "int64", "count", "change orders of the line effective by the date"),
))
CHANGE_ORDERS = FrameSchema("change_orders", (
    Col("study_id", "string", "", "protocol id"),
    Col("change_order", "string", "", "change order id"),
    Col("service_line", "string", "", "the line it restates"),
    Col("driver", "string", "", "the line's driver from the change order on"),
    Col("effective_from", DATE, "date", "first date it is in force"),
    Col("effective", "bool", "", "effective_from ≤ the as-of date"),
    Col("reason", "string", "", "why"),
    Col("units_before", "object", "Decimal units", "units of the row it replaced (NA: new line)"),
    Col("units", "object", "Decimal units", "units from the change order on"),
    Col("unit_price_before_minor", "Int64", "minor units", "price it replaced (NA: new line)"),
    Col("unit_price_minor", "int64", "minor units", "price from the change order on"),
    Col("budget_before_minor", "int64", "minor units", "budget it replaced (0: new line)"),
    Col("budget_minor", "int64", "minor units", "the line's budget from the change order on"),
    Col("value_minor", "int64", "minor units", "budget_minor − budget_before_minor"),
    Col("currency", "string", "ISO 4217", "the study's reporting currency"),
))
KEYS = ["study_id", "service_line"]


class BudgetError(ValueError):
    """A work order, timesheet or payment frame the budget cannot be computed from."""


def rows_by(frame: pd.DataFrame, study_id: str, key: str) -> pd.DataFrame:
    """The study's rows of ``frame`` (every row when it has no study_id column) indexed by
    their ``key`` column as text (service_line, driver)."""
    own = frame[frame["study_id"].astype(str) == study_id] if "study_id" in frame else frame
    return own.set_index(own[key].astype(str))


def half_up(value: Fraction | int) -> int:
    """``value`` rounded to an integer, halves away from zero (ROUND_HALF_UP), exactly."""
    exact = Fraction(value)
    magnitude = (abs(exact.numerator) * 2 + exact.denominator) // (2 * exact.denominator)
    return -magnitude if exact < 0 else magnitude


def priced(units: Decimal | Fraction | int, price_minor: int) -> int:
    """round_half_up(units × unit price) in minor units, exactly."""
    return half_up(Fraction(units) * int(price_minor))


def _keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["study_id"].astype(str), frame["service_line"].astype(str),
                    strict=True))


def _chain(work_order: pd.DataFrame) -> pd.DataFrame:
    """The rows in chain order (per line: original first, then by date) with each row's
    budget and the one it replaced; refuses what would make the chain ambiguous."""
    missing = {"study_id", "service_line", "driver", "units", "unit_price_minor", "currency",
               "effective_from", "change_order"} - set(work_order.columns)
    if missing:
        raise BudgetError(f"the work order lacks the columns {sorted(missing)}")
    frame = work_order.reset_index(drop=True).copy()
    if "reason" not in frame:
        frame["reason"] = pd.NA
    for column, known in (("service_line", SERVICE_LINES), ("driver", DRIVERS)):
        unknown = sorted(set(frame[column].astype(str)) - set(known))
        if unknown:
            raise BudgetError(f"unknown {column} {unknown}: expected one of {', '.join(known)}")
    currencies = frame.groupby("study_id")["currency"].nunique()
    if (currencies > 1).any():
        raise BudgetError(f"study {currencies[currencies > 1].index[0]}: the work order mixes "
                          "currencies (one currency per study's work order)")
    frame["effective_from"] = pd.to_datetime(frame["effective_from"])
    frame["_change"] = frame["change_order"].notna()
    frame = frame.sort_values([*KEYS, "_change", "effective_from", "change_order"],
                              kind="stable", na_position="first").reset_index(drop=True)
    originals = frame[~frame["_change"]].set_index(KEYS)["effective_from"]
    if originals.index.duplicated().any():
        raise BudgetError("two original rows for one service line: "
                          f"{originals.index[originals.index.duplicated()][0]}")
    changes = frame[frame["_change"]]
    first = pd.Series([originals.get(k, pd.NaT) for k in _keys(changes)], index=changes.index,
                      dtype="datetime64[ns]")
    early = changes[first.notna() & (changes["effective_from"] < first)]
    if len(early):
        row = early.iloc[0]
        raise BudgetError(f"change order {row['change_order']} of {row['service_line']} is "
                          f"dated before the line's original work order")
    tied = changes.duplicated([*KEYS, "effective_from"], keep=False)
    if tied.any():
        row = changes[tied].iloc[0]
        raise BudgetError(f"two change orders of {row['service_line']} take effect on "
                          f"{row['effective_from'].date()}: which one is in force is ambiguous")
    frame["budget_minor"] = np.array([priced(u, p) for u, p in zip(
        frame["units"], frame["unit_price_minor"], strict=True)], dtype=np.int64)
    before = frame.groupby(KEYS, sort=False)
    frame["units_before"] = before["units"].shift(1).astype(object)
    frame.loc[frame["units_before"].isna(), "units_before"] = None
    frame["unit_price_before_minor"] = before["unit_price_minor"].shift(1).astype("Int64")
    frame["budget_before_minor"] = before["budget_minor"].shift(1, fill_value=0)
    return frame


def budget_in_force(work_order: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per service line (:data:`BUDGET_LINES`): the row in force on ``as_of`` (latest
    effective_from ≤ as_of, else the original), its units, unit price and budget.

    A line that only a change order dated after ``as_of`` adds is not in force yet.
    """
    frame = _chain(work_order)
    cut = pd.Timestamp(as_of)
    dated = frame[frame["effective_from"] <= cut]
    latest = dated.groupby(KEYS, sort=False).tail(1)
    known = set(_keys(latest))
    undated = frame[~frame["_change"] & ~pd.Series(
        [k in known for k in _keys(frame)], index=frame.index, dtype=bool)]
    lines = pd.concat([latest, undated]).sort_index()
    original = frame[~frame["_change"]].set_index(KEYS)["budget_minor"]
    count = dated[dated["_change"]].groupby(KEYS).size()
    key = pd.MultiIndex.from_frame(lines[KEYS])
    lines = lines.assign(
        bac_minor=lines["budget_minor"],
        original_bac_minor=original.reindex(key, fill_value=0).to_numpy(),
        change_orders=count.reindex(key, fill_value=0).to_numpy())
    order = {line: i for i, line in enumerate(SERVICE_LINES)}
    lines = lines.assign(_order=lines["service_line"].map(order)).sort_values(
        ["study_id", "_order"], kind="stable")
    return BUDGET_LINES.conform(lines)


def change_order_log(work_order: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Every change order (:data:`CHANGE_ORDERS`) with the values it replaced and its value
    (its line budget minus the one it replaced; a new line replaces nothing), by date;
    ``effective`` tells those in force by ``as_of`` (later ones are listed, not counted)."""
    frame = _chain(work_order)
    changes = frame[frame["_change"]].assign(
        effective=lambda f: f["effective_from"] <= pd.Timestamp(as_of),
        value_minor=lambda f: f["budget_minor"] - f["budget_before_minor"])
    changes = changes.sort_values(["study_id", "effective_from", "change_order",
                                   "service_line"], kind="stable")
    return CHANGE_ORDERS.conform(changes)
