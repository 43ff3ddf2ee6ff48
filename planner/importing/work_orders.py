"""Importers for the sponsor budget: work orders with their change orders (``workorders``)
and timesheets (``timesheets``), DESIGN §7 and docs/SPONSOR_BUDGET.md.

A work order row is the original line of a study's work order (change_order
blank) or a change order's restatement of one line from its effective date on.
The key (study_id, service_line, change_order) holds a blank for originals, so
rows are matched in pandas, where blank equals blank, as
:mod:`planner.importing.site_budgets` does for country templates. Units and unit
prices (and timesheet hours) are exact decimals parsed from the cell's text, never
through a float.
Rules that span rows (one currency per study's work order, a change order needs
its line's original) look at the file and the store together: an incoming row
replaces the stored row of its key.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from planner.budget_tables import (
    CHANGE_ORDER,
    DRIVERS,
    SERVICE_LINES,
    Timesheet,
    WorkOrderLine,
)
from planner.importing.contract_cells import amounts, cells, exact_values, flag
from planner.importing.fields import Field, Kind
from planner.importing.issues import ImportIssue
from planner.importing.planning import MONTH_HOURS
from planner.importing.readers import RawTable
from planner.importing.sync import EntitySpec, Writer, existing_rows
from planner.importing.tabular import (
    ID,
    STAFF,
    STUDY,
    only_given,
    study_pks,
    typed_rows,
    unknown_reference,
)

UNITS_MOST = Decimal("999999999999.99")  # UNITS is NUMERIC(14, 2)
UNITS_EXPECTED = ("a number of units >= 0 with at most 2 decimals, like 36 or 1250.5 "
                  "(required)")
STUDY_EXPECTED = "a study_id already in the store (import studies first)"

WORK_ORDER_FIELDS = [
    Field("study_id", max_length=ID),
    Field("service_line", Kind.CHOICE, choices=SERVICE_LINES),
    Field("driver", Kind.CHOICE, choices=DRIVERS),
    Field("units", blank_ok=True),  # exact below
    Field("unit_price", blank_ok=True),  # typed by the row's currency: contract_cells.amounts
    Field("currency", Kind.CURRENCY), Field("effective_from", Kind.DATE),
    Field("change_order", blank_ok=True, max_length=CHANGE_ORDER),  # blank: the original
    Field("reason", required=False, blank_ok=True),
]
WORK_ORDER_KEY = ["study_id", "service_line", "change_order"]
HOURS_MOST = Decimal(int(MONTH_HOURS))
HOURS_EXPECTED = (f"a number from 0 to {HOURS_MOST} with at most 2 decimals, like 62.5 or "
                  "7.25 (required)")
TIMESHEET_FIELDS = [
    Field("staff_id", max_length=ID), Field("study_id", max_length=ID),
    Field("month", Kind.MONTH), Field("hours", blank_ok=True),  # exact below
]
TIMESHEET_KEY = ["staff_id", "study_id", "month"]

WORK_ORDER = EntitySpec(WorkOrderLine.__table__, ("study_pk", "service_line", "change_order"),
                        ("driver", "units", "unit_price", "currency", "effective_from",
                         "reason"), ("study_id", "service_line", "change_order"))
TIMESHEET = EntitySpec(Timesheet.__table__, ("staff_pk", "study_pk", "month"), ("hours",),
                       ("staff_id", "study_id", "period"))
_LINE = ["study_pk", "service_line"]
_KEY = [*_LINE, "change_order"]


def _day(value: pd.Timestamp) -> str:
    return f"{value:%Y-%m-%d}"


def _kept(stored: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """Stored rows the incoming rows do not replace (matched on the key, blank = blank)."""
    given = incoming.loc[incoming["study_pk"].notna(), _KEY].drop_duplicates()
    given = given.astype({"study_pk": "int64"})
    stored = stored.astype({"study_pk": "int64"})
    hit = stored.merge(given, on=_KEY, how="left", indicator=True)
    return stored[(hit["_merge"] == "left_only").to_numpy()]


def _currency_issues(raw: RawTable, typed: pd.DataFrame, studies: pd.DataFrame,
                     kept: pd.DataFrame) -> list[ImportIssue]:
    """Every row in its study's reporting currency; the message says when the file mixes
    currencies for the study, or when the study's stored rows are in another currency."""
    study, have = typed["study_id"], typed["currency"]
    want = study.map(studies.set_index("study_id")["currency"])
    valid = (want.notna() & have.notna()).to_numpy(bool)
    wrong = valid & (have.to_numpy(object) != want.to_numpy(object))
    mixes = have[valid].groupby(study[valid]).agg(lambda c: ", ".join(sorted(set(c))))
    mixes = mixes[mixes.str.contains(",")]
    expected = pd.Series([
        f"{w}, the reporting currency of study {s} (a study's work order is in one currency, "
        f"its study's" + (f"; this file mixes {mixes[s]} for {s})" if s in mixes else ")")
        for s, w in zip(study, want, strict=True)], index=typed.index, dtype=object)
    issues = flag(raw, wrong, "currency", cells(raw, "currency"), expected)
    # a study whose currency changed after its work order was stored: the kept rows differ
    by_pk = studies.set_index("id")["currency"]
    stale = kept[kept["currency"].to_numpy(object)
                 != kept["study_pk"].map(by_pk).to_numpy(object)]
    first = np.zeros(len(typed), dtype=bool)
    pks = typed["study_pk"].to_numpy(object)
    for study_pk, rows in stale.groupby("study_pk"):
        at = np.flatnonzero(valid & ~wrong & (pks == study_pk))
        if len(at):
            pos = int(at[0])
            first[pos] = True
            expected.iloc[pos] = (
                f"a work order in one currency: study {study.iloc[pos]}'s reporting currency "
                f"is {want.iloc[pos]}, but the store holds its "
                f"{', '.join(sorted(set(rows['service_line'].astype(str))))} rows in "
                f"{', '.join(sorted(set(rows['currency'])))}; import them again in "
                f"{want.iloc[pos]} with this file")
    return issues + flag(raw, first, "currency", cells(raw, "currency"), expected)


def _line_rows(raw: RawTable, typed: pd.DataFrame) -> pd.DataFrame:
    """The rows whose key is usable, with their position in the file (``pos``), once per
    key (a repeated key is reported on its own)."""
    rows = typed[["study_pk", "service_line", "change_order", "driver",
                  "effective_from"]].reset_index(drop=True)
    rows["pos"] = np.arange(len(rows))
    usable = rows["study_pk"].notna() & rows["service_line"].notna()
    text = cells(raw, "change_order").reset_index(drop=True)
    bad_id = text.ne("").to_numpy(bool) & rows["change_order"].isna().to_numpy(bool)
    return rows[usable.to_numpy(bool) & ~bad_id].drop_duplicates(_KEY)


class _Marks:
    """At most one issue per row and column, with its own expectation."""

    def __init__(self, typed: pd.DataFrame, columns: tuple[str, ...]) -> None:
        self.bad = {c: np.zeros(len(typed), dtype=bool) for c in columns}
        self.expected = {c: pd.Series("", index=typed.index, dtype=object) for c in columns}

    def __call__(self, column: str, pos: int, text: str) -> None:
        if not self.bad[column][pos]:
            self.bad[column][pos], self.expected[column].iloc[pos] = True, text

    def issues(self, raw: RawTable) -> list[ImportIssue]:
        return [issue for column, bad in self.bad.items()
                for issue in flag(raw, bad, column, cells(raw, column), self.expected[column])]


def _change_order_issues(raw: RawTable, typed: pd.DataFrame,
                         kept: pd.DataFrame) -> list[ImportIssue]:
    """A change order needs its line's original (in the file or the store), takes effect on
    or after it, keeps its driver, and no two change orders of a line share a date."""
    incoming = _line_rows(raw, typed)
    lines = pd.concat([kept[incoming.columns.drop("pos")].assign(pos=-1), incoming],
                      ignore_index=True)
    lines["study_pk"] = lines["study_pk"].astype("int64")
    lines["effective_from"] = lines["effective_from"].astype("datetime64[s]")
    is_original = lines["change_order"].isna()
    originals = lines[is_original].drop_duplicates(_LINE).rename(columns={
        "effective_from": "original_from", "driver": "original_driver", "pos": "original_pos"})
    changes = lines[~is_original].merge(
        originals[[*_LINE, "original_from", "original_driver", "original_pos"]], on=_LINE,
        how="left")
    study_ids = typed["study_id"].astype(object)
    mark = _Marks(typed, ("service_line", "effective_from", "driver"))
    for row in changes.itertuples(index=False):
        if pd.isna(row.original_pos):
            if row.pos >= 0:
                mark("service_line", row.pos,
                     f"a service line with an original work order row (change_order blank) "
                     f"for study {study_ids.iloc[row.pos]}, in this file or the store: "
                     f"{row.change_order} is a change order for an unknown service line (to "
                     "add a line, give it an original row with units 0)")
            continue
        earlier = (pd.notna(row.effective_from) and pd.notna(row.original_from)
                   and row.effective_from < row.original_from)
        other_driver = (pd.notna(row.driver) and pd.notna(row.original_driver)
                        and row.driver != row.original_driver)
        if row.pos >= 0:
            line = f"{row.service_line} of study {study_ids.iloc[row.pos]}"
            if earlier:
                mark("effective_from", row.pos,
                     f"a date on or after {_day(row.original_from)}, the effective_from of "
                     f"the original work order of {line} (a change order cannot take effect "
                     "before it)")
            if other_driver:
                mark("driver", row.pos,
                     f"{row.original_driver}, the driver of the original work order of {line} "
                     "(a change order amends units and unit price, not the driver)")
        elif row.original_pos >= 0:  # a stored change order of an incoming original
            pos = int(row.original_pos)
            whose = f"stored change order {row.change_order} of {row.service_line}"
            if earlier:
                mark("effective_from", pos,
                     f"a date on or before {_day(row.effective_from)}, when {whose} takes "
                     "effect (a change order cannot take effect before the original)")
            if other_driver:
                mark("driver", pos, f"{row.driver}, the driver of {whose} (a change order "
                     "amends units and unit price, not the driver)")
    dated = changes[changes["effective_from"].notna()]
    same_day = dated[dated.duplicated([*_LINE, "effective_from"], keep=False)]
    for _, group in same_day.groupby([*_LINE, "effective_from"]):
        for row in group[group["pos"] >= 0].itertuples(index=False):
            others = sorted(set(group["change_order"]) - {row.change_order})
            mark("effective_from", row.pos,
                 f"a date no other change order of {row.service_line} takes effect on: "
                 f"{', '.join(others)} also takes effect on {_day(row.effective_from)} (a "
                 "line's budget on a date is its latest row, so their order must be clear)")
    return mark.issues(raw)


def import_work_orders(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Work order lines and change orders of studies already in the store."""
    typed, issues = typed_rows(raw, WORK_ORDER_FIELDS, WORK_ORDER_KEY, blank_is_value=True)
    units, more = exact_values(raw, "units", most=UNITS_MOST, decimals=2, blank_ok=False,
                               expected=UNITS_EXPECTED)
    typed["units"] = units.map(lambda v: v.quantize(Decimal("0.01")), na_action="ignore")
    typed["unit_price"], prices = amounts(raw, typed["currency"], column="unit_price")
    issues += more + prices
    studies = study_pks(writer)
    issues += unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                STUDY_EXPECTED)
    typed["study_pk"] = typed["study_id"].map(studies).astype("Int64")
    kept = _kept(existing_rows(writer.session, WORK_ORDER), typed)
    issues += _currency_issues(raw, typed, existing_rows(writer.session, STUDY), kept)
    issues += _change_order_issues(raw, typed, kept)
    if issues:
        return issues
    writer.sync(only_given(WORK_ORDER, raw, WORK_ORDER_FIELDS), typed)
    return []


def import_timesheets(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Hours by staff member, study and month (a later file's hours replace the stored),
    exact decimals with at most 2 places, parsed from the cell's text."""
    # blank_is_value: the issue quotes the key as the file has it (2026-03, not a timestamp)
    typed, issues = typed_rows(raw, TIMESHEET_FIELDS, TIMESHEET_KEY, blank_is_value=True)
    hours, more = exact_values(raw, "hours", most=HOURS_MOST, decimals=2, blank_ok=False,
                               expected=HOURS_EXPECTED)
    typed["hours"] = hours.map(lambda v: v.quantize(Decimal("0.01")), na_action="ignore")
    issues += more
    staff = writer.ids(STAFF).set_index("staff_id")["id"]
    studies = study_pks(writer)
    issues += unknown_reference(raw, typed["staff_id"], staff.index, "staff_id",
                                "the staff_id of a staff member in the store "
                                "(import staff first)")
    issues += unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                STUDY_EXPECTED)
    if issues:
        return issues
    typed["staff_pk"] = typed["staff_id"].map(staff)
    typed["study_pk"] = typed["study_id"].map(studies)
    typed["period"] = typed["month"].dt.strftime("%Y-%m")
    writer.sync(TIMESHEET, typed)
    return []
