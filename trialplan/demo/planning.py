"""The demo's planning inputs: some CRAs' leave and a few monitoring driver overrides.

Chosen by rule, not drawn, so the demo stays deterministic whatever the seed does
to names and sites: every third CRA takes two summer weeks (July or August,
alternating), every second CRA takes the year-end week; hours scale with FTE.
Overrides: the oncology study is high risk (interim visits every 3 weeks, every 6
after the step-down), the
cardiology study monitors its US sites half remotely, and the oncology study's
first enrolling German site, a heavy recruiter under audit, is seen every 2 weeks.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from planner.domain import Role, SiteStatus

SUMMER_HOURS = 80.0  # two working weeks
YEAR_END_HOURS = 32.0  # the working days between Christmas and New Year


def leave_rows(staff: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Leave rows (staff_id, month YYYY-MM, hours) in the twelve months from the cut."""
    summer_year = as_of.year if as_of.month < 7 else as_of.year + 1
    year_end = f"{as_of.year}-12"
    cras = staff[staff["role"] == Role.CRA.value].reset_index(drop=True)
    rows = []
    for i, (staff_id, fte) in enumerate(zip(cras["staff_id"], cras["fte"], strict=True)):
        if i % 3 == 0:
            month = 7 if i % 2 == 0 else 8
            rows.append((staff_id, f"{summer_year}-{month:02d}", round(SUMMER_HOURS * fte)))
        if i % 2 == 1:
            rows.append((staff_id, year_end, round(YEAR_END_HOURS * fte)))
    return pd.DataFrame(rows, columns=["staff_id", "month", "hours"]).astype({"hours": str})


def driver_rows(sites: pd.DataFrame) -> pd.DataFrame:
    """Driver override rows (study_id, country, site_id, driver, value)."""
    rows = [("AUR-ONC-301", "", "", "imv_weeks", "3"),
            ("AUR-ONC-301", "", "", "imv_weeks_later", "6"),
            ("HLX-CV-302", "US", "", "remote_share", "0.5")]
    heavy = sites[(sites["study_id"] == "AUR-ONC-301") & (sites["country"] == "DE")
                  & (sites["status"] == SiteStatus.ENROLLING.value)].sort_values("site_id")
    if len(heavy):
        rows.append(("AUR-ONC-301", "", str(heavy["site_id"].iloc[0]), "imv_weeks", "2"))
    return pd.DataFrame(rows, columns=["study_id", "country", "site_id", "driver", "value"])
