"""Stored driver overrides resolved per site: site > country > study > defaults.

A ``DriverOverride`` row sets one named driver (``imv_weeks``, ``hours.IMV.on_site``
...) for a whole study, for the study's sites in one country, or for one site. Each
site takes, driver by driver, the most specific value given; sites sharing the same
resolved values share one :class:`MonitoringDrivers` (built once per distinct set,
not once per site).

``utilization_target`` is accepted for a whole study only: CRA capacity is per
person (portfolio-wide target), so the study's target only converts its monitoring
hours into the CRA FTEs it needs (:func:`study_fte`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from planner.countries import DEFAULT_HOURS_MONTH
from planner.workload.drivers import DEFAULT_DRIVERS, MonitoringDrivers, VisitType

HOUR_PARTS = ("preparation", "travel", "on_site", "report")
STUDY_ONLY = frozenset({"utilization_target"})
LEVELS = {"study": 0, "country": 1, "site": 2}


@dataclass(frozen=True)
class DriverRange:
    """The values a driver may take (inclusive), and whether they are whole numbers."""

    minimum: float
    maximum: float
    whole: bool = False
    unit: str = ""

    def holds(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum and (not self.whole or value == int(value))

    def expectation(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind} from {self.minimum:g} to {self.maximum:g}{unit}"


SCALAR_DRIVERS: dict[str, DriverRange] = {
    "imv_weeks": DriverRange(0.5, 52, unit="weeks"),
    "imv_weeks_later": DriverRange(0.5, 52, unit="weeks"),
    "step_down_months": DriverRange(0, 120, whole=True, unit="months"),
    "remote_share": DriverRange(0, 1, unit="(share of interim visits)"),
    "on_site_per_subject": DriverRange(0, 8, unit="hours per subject"),
    "close_out_weeks": DriverRange(0, 104, unit="weeks"),
    "utilization_target": DriverRange(0.05, 1, unit="(share of capacity)"),
}
HOUR_RANGE = DriverRange(0, 80, unit="hours per visit")
DRIVER_RANGES: dict[str, DriverRange] = {
    **SCALAR_DRIVERS,
    **{f"hours.{visit.name}.{part}": HOUR_RANGE for visit in VisitType for part in HOUR_PARTS},
}
_CANONICAL = {name.lower(): name for name in DRIVER_RANGES}
DRIVER_NAMES_TEXT = (", ".join(SCALAR_DRIVERS) + ", or hours.<"
                     + "|".join(v.name for v in VisitType) + ">.<" + "|".join(HOUR_PARTS) + ">")


def driver_name(text: str) -> str | None:
    """The canonical driver name for ``text`` (any case), else None."""
    return _CANONICAL.get(text.strip().lower()) if isinstance(text, str) else None


def with_overrides(base: MonitoringDrivers, values: Mapping[str, float]) -> MonitoringDrivers:
    """``base`` with the named drivers replaced (names as in :data:`DRIVER_RANGES`)."""
    scalars: dict[str, object] = {}
    hours = dict(base.hours)
    for name, value in values.items():
        if name.startswith("hours."):
            _, visit, part = name.split(".")
            kind = VisitType[visit]
            hours[kind] = replace(hours[kind], **{part: float(value)})
        elif name == "step_down_months":
            scalars[name] = int(value)
        else:
            scalars[name] = float(value)
    return replace(base, hours=hours, **scalars) if values else base


def _most_specific(sites: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """(study_id, site_id, driver, value) of the most specific override per site and driver."""
    rows = overrides.astype({"study_id": object, "country": object, "site_id": object})
    site_rows = rows[rows["site_id"].notna()]
    country_rows = rows[rows["site_id"].isna() & rows["country"].notna()]
    study_rows = rows[rows["site_id"].isna() & rows["country"].isna()]
    keys = sites[["study_id", "site_id", "country"]].astype(object)
    matched = pd.concat([
        keys.merge(study_rows.drop(columns=["country", "site_id"]), on="study_id"
                   ).assign(level=LEVELS["study"]),
        keys.merge(country_rows.drop(columns="site_id"), on=["study_id", "country"]
                   ).assign(level=LEVELS["country"]),
        keys.merge(site_rows.drop(columns="country"), on=["study_id", "site_id"]
                   ).assign(level=LEVELS["site"]),
    ], ignore_index=True)
    matched = matched.sort_values("level", ascending=False, kind="stable")
    return matched.drop_duplicates(["study_id", "site_id", "driver"])[
        ["study_id", "site_id", "driver", "value"]]


def site_drivers(sites: pd.DataFrame, overrides: pd.DataFrame,
                 base: Mapping[str, MonitoringDrivers] | None = None
                 ) -> tuple[pd.Series, list[MonitoringDrivers]]:
    """Each site's drivers: a Series (index study_id, site_id) of positions in the list
    of distinct :class:`MonitoringDrivers` it returns.

    ``sites`` has study_id, site_id, country; ``overrides`` is the drivers frame;
    ``base`` the per-study drivers the overrides start from (default DEFAULT_DRIVERS).
    """
    index = pd.MultiIndex.from_frame(sites[["study_id", "site_id"]].astype(object))
    wide = pd.DataFrame(index=index)
    if len(overrides) and len(sites):
        chosen = _most_specific(sites, overrides)
        if len(chosen):
            wide = chosen.pivot_table(index=["study_id", "site_id"], columns="driver",
                                      values="value", aggfunc="first").reindex(index)
    wide = wide.astype(object).where(wide.notna(), None)  # one None, not many NaN objects
    wide.insert(0, "_study", index.get_level_values(0))
    codes, uniques = pd.factorize(pd.Series(list(map(tuple, wide.to_numpy(object))),
                                            dtype=object))
    names = list(wide.columns[1:])
    sets = []
    for values in uniques:
        study, *given = values
        start = (base or {}).get(study, DEFAULT_DRIVERS)
        sets.append(with_overrides(start, {n: v for n, v in zip(names, given, strict=True)
                                           if v is not None}))
    return pd.Series(np.asarray(codes, dtype=np.int64), index=index), sets


def study_fte(visits: pd.DataFrame, overrides: pd.DataFrame,
              hours_month: float = DEFAULT_HOURS_MONTH) -> pd.DataFrame:
    """(study_id, month, hours, fte): CRA FTEs each study's monitoring needs, hours ÷
    (a full-time month × the study's utilization target, else the default)."""
    study_level = overrides[overrides["country"].isna() & overrides["site_id"].isna()
                            & (overrides["driver"] == "utilization_target")]
    target = pd.Series(study_level["value"].to_numpy(float),
                       index=study_level["study_id"].astype(object))
    hours = visits.groupby(["study_id", "month"], as_index=False, observed=True)["hours"].sum()
    share = hours["study_id"].astype(object).map(target).fillna(
        DEFAULT_DRIVERS.utilization_target).astype(float)
    hours["fte"] = hours["hours"] / (hours_month * share)
    return hours

