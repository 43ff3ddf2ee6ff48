"""Importers for planning inputs: staff leave and monitoring driver overrides.

Both refer to what the store already holds (staff; studies and their sites) and
are matched on their natural keys, so re-importing a file changes nothing. A
driver override's key may hold blanks (country, site): rows are matched in
pandas, where blank equals blank, never through the database's unique
constraint, for which two NULLs differ.
"""

from __future__ import annotations

import pandas as pd

from planner.importing.contract_cells import resolve_sites
from planner.importing.fields import Field, Kind, duplicate_key_issues, flag, parse_fields
from planner.importing.issues import ImportIssue
from planner.importing.readers import RawTable
from planner.importing.sync import SOURCE, EntitySpec, Writer, existing_rows
from planner.importing.tabular import (
    ID,
    SITE,
    STAFF,
    sources,
    study_pks,
    typed_rows,
    unknown_reference,
)
from planner.tables import DriverOverride, StaffLeave
from planner.workload.overrides import (
    DRIVER_NAMES_TEXT,
    DRIVER_RANGES,
    STUDY_ONLY,
    driver_name,
)

MONTH_HOURS = 744.0  # 31 days × 24 hours: no month has more

LEAVE_FIELDS = [
    Field("staff_id", max_length=ID), Field("month", Kind.MONTH),
    Field("hours", Kind.NUMBER, minimum=0, maximum=MONTH_HOURS),
]
DRIVER_FIELDS = [
    Field("study_id", max_length=ID), Field("country", Kind.COUNTRY, blank_ok=True),
    Field("site_id", blank_ok=True, max_length=ID), Field("driver", max_length=64),
    Field("value", Kind.NUMBER),
]
LEAVE = EntitySpec(StaffLeave.__table__, ("staff_pk", "month"), ("hours",),
                   ("staff_id", "period"))
DRIVER = EntitySpec(DriverOverride.__table__, ("study_pk", "country_code", "site_pk", "driver"),
                    ("value",), ("study_id", "country", "site_id", "driver"))


def _cells(raw: RawTable, typed: pd.DataFrame, column: str) -> pd.Series:
    """The file's own text of a column for messages (the parsed values when the file
    lacks the column: parsing has reported that already)."""
    return raw.frame[column] if column in raw.frame else typed[column]


def import_leave(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Leave hours by staff member and month (a later file's value replaces the stored one)."""
    typed, issues = typed_rows(raw, LEAVE_FIELDS, ["staff_id", "month"], blank_is_value=True)
    staff = existing_rows(writer.session, STAFF)
    issues += unknown_reference(raw, typed["staff_id"], set(staff["staff_id"]), "staff_id",
                                "the staff_id of a staff member in the store "
                                "(import staff first)")
    full = typed["staff_id"].map(staff.set_index("staff_id")["capacity_hours_month"])
    too_many = typed["hours"].notna() & full.notna() & (typed["hours"] > full)
    issues += flag(raw, too_many.fillna(False), "hours", _cells(raw, typed, "hours"),
                      "hours from 0 to the staff member's capacity_hours_month ("
                      + full.map(lambda h: f"{h:g}", na_action="ignore").fillna("")
                      + ", a full-time month)")
    if issues:
        return issues
    typed["staff_pk"] = typed["staff_id"].map(staff.set_index("staff_id")["id"])
    typed["period"] = typed["month"].dt.strftime("%Y-%m")
    writer.sync(LEAVE, typed)
    return []


def _driver_issues(raw: RawTable, typed: pd.DataFrame) -> list[ImportIssue]:
    """Unknown names, values out of the driver's range, study-only drivers given lower."""
    known = typed["driver"].map(driver_name)
    issues = flag(raw, typed["driver"].notna() & known.isna(), "driver", typed["driver"],
                     f"a driver name: {DRIVER_NAMES_TEXT}")
    ranges = known.map(DRIVER_RANGES)
    in_range = pd.Series([r is None or pd.isna(v) or r.holds(float(v))
                          for r, v in zip(ranges.where(ranges.notna(), None), typed["value"],
                                          strict=True)], index=typed.index)
    expected = pd.Series(["" if pd.isna(r) else f"{r.expectation()} for {n}"
                          for r, n in zip(ranges, known, strict=True)], index=typed.index)
    issues += flag(raw, ~in_range, "value", _cells(raw, typed, "value"), expected)
    lower = known.isin(list(STUDY_ONLY)) & (typed["country"].notna() | typed["site_id"].notna())
    issues += flag(raw, lower, "driver", typed["driver"],
                      "a driver that may differ by country or site (utilization_target is "
                      "a whole study's: leave country and site_id blank)")
    typed["driver"] = known
    return issues


def import_drivers(writer: Writer, raw: RawTable) -> list[ImportIssue]:
    """Driver overrides of a study, one of its countries or one of its sites."""
    typed, issues = parse_fields(raw, DRIVER_FIELDS)
    issues += _driver_issues(raw, typed)  # first: driver names are matched in any case
    issues += duplicate_key_issues(raw, typed, ["study_id", "country", "site_id", "driver"],
                                   blank_is_value=True)
    studies = study_pks(writer)
    issues += unknown_reference(raw, typed["study_id"], studies.index, "study_id",
                                "a study_id already in the store (import studies first)")
    typed["study_pk"] = typed["study_id"].map(studies).astype("Int64")
    issues += resolve_sites(raw, typed, existing_rows(writer.session, SITE), "",
                            country_blank=True)
    if issues:
        return issues
    typed[SOURCE] = sources(raw)
    typed["country_code"] = typed["country"]
    writer.sync(DRIVER, typed)
    return []
