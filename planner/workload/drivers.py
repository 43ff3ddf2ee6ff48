"""Monitoring drivers (ClearTrial-style, DESIGN §3): what each visit type costs in hours,
how often interim visits happen, and how much of a CRA's month is plannable.

Defaults are one study's typical values; a study, a country or a site can override
them (`DriverOverride` rows, most specific wins: site > country > study; resolved per
site in ``overrides``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

WEEKS_PER_MONTH = 365.25 / 12 / 7


class VisitType(StrEnum):
    SQV = "SQV"  # site qualification
    SIV = "SIV"  # site initiation, at activation
    IMV = "IMV"  # interim monitoring, on site
    REMOTE_IMV = "remote IMV"  # interim monitoring, remote: no travel
    COV = "COV"  # close-out, after the site's last subject's last visit


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class VisitHours:
    preparation: float
    travel: float
    on_site: float
    report: float

    @property
    def total(self) -> float:
        return self.preparation + self.travel + self.on_site + self.report


@dataclass(frozen=True)
class MonitoringDrivers:
    """Hours per visit type; IMV every ``imv_weeks`` while the site has subjects on study,
    every ``imv_weeks_later`` once the site has been active ``step_down_months``; the
    interval is multiplied by the risk factor (high risk: more often); ``remote_share``
    of interim visits are remote; on-site time grows by ``on_site_per_subject`` hours per
    subject on study."""

    hours: dict[VisitType, VisitHours] = field(default_factory=lambda: {
        VisitType.SQV: VisitHours(4, 6, 6, 3),
        VisitType.SIV: VisitHours(6, 6, 8, 4),
        VisitType.IMV: VisitHours(4, 6, 8, 4),
        VisitType.REMOTE_IMV: VisitHours(3, 0, 5, 3),
        VisitType.COV: VisitHours(4, 6, 6, 4),
    })
    imv_weeks: float = 4.0
    imv_weeks_later: float = 8.0
    step_down_months: int = 6
    risk_interval_factor: dict[Risk, float] = field(default_factory=lambda: {
        Risk.LOW: 1.5, Risk.MEDIUM: 1.0, Risk.HIGH: 0.5})
    remote_share: float = 0.25
    on_site_per_subject: float = 0.5
    close_out_weeks: float = 6.0  # COV this long after the last subject's last visit
    utilization_target: float = 0.8

    def imv_per_month(self, active_months: int, risk: Risk) -> float:
        """Interim visits a month (on site and remote together)."""
        weeks = self.imv_weeks if active_months < self.step_down_months else self.imv_weeks_later
        return WEEKS_PER_MONTH / (weeks * self.risk_interval_factor[risk])

    def with_changes(self, **changes: object) -> MonitoringDrivers:
        return replace(self, **changes)


DEFAULT_DRIVERS = MonitoringDrivers()
