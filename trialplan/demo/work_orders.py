"""The demo's sponsor budgets: a work order per study, change orders, and timesheets.

Each study's work order prices its service lines in the study's currency from a
USD rate card (project management per month, monitoring per visit, data
management per CRF page, deliverables, regulatory per site, pharmacovigilance
and investigator grants per subject), with units from the study's own plan:
months from contract to final report, sites, target, scheduled visits. Studies
that added rescue sites carry a change order for them, and one study a rate-card
update. Timesheets book each role's hours month by month to the data cut, with
the staff of that role, so actual cost follows the study's real history.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from contracts.budget_units import PAGES_PER_VISIT
from trialplan.demo.site_budgets import PER_USD

VISITS_PER_SITE_MONTH = Decimal("0.8")
# service line: (driver, USD unit price)
RATE_CARD = {
    "project_management": ("months", "18000"),
    "site_management": ("monitoring_visits", "2400"),
    "data_management": ("crf_pages", "12"),
    "biostatistics": ("deliverables", "30000"),
    "medical_writing": ("deliverables", "18000"),
    "regulatory": ("sites_activated", "3500"),
    "pharmacovigilance": ("subjects_randomized", "150"),
    "pass_through": ("subjects_randomized", "9000"),
}
DELIVERABLES = 4  # protocol, database lock, topline, final report
ROLE_HOURS = {"PM": 120.0, "CTA": 80.0, "DM": 90.0, "BIOSTAT": 30.0, "MW": 20.0}
RATE_UPDATE = Decimal("1.05")


def _price(usd: str, currency: str, factor: Decimal = Decimal(1)) -> str:
    value = Decimal(usd) * Decimal(PER_USD[currency]) * factor
    step = Decimal("0.01") if value < 100 else Decimal(1)
    return str(value.quantize(step, ROUND_HALF_UP))


def _months(start: pd.Timestamp, end: pd.Timestamp) -> int:
    return max(1, (end.year - start.year) * 12 + end.month - start.month + 1)


def _dates(milestones: pd.DataFrame, study_id: str) -> dict[str, pd.Timestamp]:
    own = milestones[milestones["study_id"] == study_id]
    return {str(k): pd.Timestamp(v) for k, v in zip(own["milestone"], own["baseline"],
                                                    strict=True) if pd.notna(v)}


def work_order_rows(studies: pd.DataFrame, sites: pd.DataFrame, milestones: pd.DataFrame,
                    planned_visits: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The work orders file (DESIGN §7) for every study with a baseline timeline."""
    rows = []
    for study in studies.itertuples():
        dates = _dates(milestones, study.study_id)
        if "contract_signed" not in dates or "csr_final" not in dates:
            continue
        own_sites = sites[sites["study_id"] == study.study_id]
        planned = own_sites[own_sites["status"] != "identified"]
        months = _months(dates["contract_signed"], dates["csr_final"])
        active = _months(dates.get("first_site_activated", dates["contract_signed"]),
                         dates.get("lplv", dates["csr_final"]))
        schedule = planned_visits[(planned_visits["study_id"] == study.study_id)
                                  & planned_visits["scheduled"]]
        units = {
            "months": Decimal(months),
            "monitoring_visits": (Decimal(len(planned) * active) * VISITS_PER_SITE_MONTH
                                  ).quantize(Decimal(1)),
            "crf_pages": Decimal(int(study.target_randomized) * max(1, len(schedule))
                                 * PAGES_PER_VISIT),
            "deliverables": Decimal(DELIVERABLES),
            "sites_activated": Decimal(len(planned)),
            "subjects_randomized": Decimal(int(study.target_randomized)),
        }
        start = dates["contract_signed"].date().isoformat()
        for line, (driver, usd) in RATE_CARD.items():
            rows.append({"study_id": study.study_id, "service_line": line, "driver": driver,
                         "units": str(units[driver]),
                         "unit_price": _price(usd, study.currency),
                         "currency": study.currency, "effective_from": start,
                         "change_order": "", "reason": "original work order"})
        rows += _change_orders(study, own_sites, rows, as_of)
    return pd.DataFrame(rows)


def _change_orders(study: object, sites: pd.DataFrame, rows: list[dict],
                   as_of: dt.date) -> list[dict]:
    """Rescue sites (identified, not in the original count) as CO-01; a rate-card
    update of project management as CO-02 for the largest study."""
    original = {r["service_line"]: r for r in rows if r["study_id"] == study.study_id
                and r["change_order"] == ""}
    out = []
    rescue = int((sites["status"] == "identified").sum())
    when = (pd.Timestamp(as_of) - pd.DateOffset(months=6)).date().isoformat()
    if rescue:
        for line, extra in (("regulatory", Decimal(rescue)),
                            ("site_management", Decimal(rescue * 12))):
            base = original[line]
            out.append({**base, "units": str(Decimal(base["units"]) + extra),
                        "effective_from": when, "change_order": "CO-01",
                        "reason": f"{rescue} rescue sites added to recover enrollment"})
    if int(study.target_randomized) >= 600:
        base = original["project_management"]
        later = (pd.Timestamp(as_of) - pd.DateOffset(months=3)).date().isoformat()
        out.append({**base, "unit_price": _price(RATE_CARD["project_management"][1],
                                                 study.currency, RATE_UPDATE),
                    "effective_from": later, "change_order": "CO-02",
                    "reason": "annual rate-card update (+5 %)"})
    return out


def timesheet_rows(studies: pd.DataFrame, staff: pd.DataFrame, milestones: pd.DataFrame,
                   as_of: dt.date, rng: np.random.Generator) -> pd.DataFrame:
    """Hours per role, study and month from contract signature to the data cut, booked
    by the role's staff in turn (±15 % month to month)."""
    rows = []
    last = pd.Timestamp(as_of).to_period("M")
    for number, study in enumerate(studies.itertuples()):
        dates = _dates(milestones, study.study_id)
        if "contract_signed" not in dates:
            continue
        months = pd.period_range(dates["contract_signed"].to_period("M"), last, freq="M")
        for role, hours in ROLE_HOURS.items():
            own = staff[staff["role"] == role]
            paid_alike = own[own["currency"] == study.currency]  # no FX when one exists
            people = sorted((paid_alike if len(paid_alike) else own)["staff_id"])
            if not people:
                continue
            person = people[number % len(people)]
            noise = rng.uniform(0.85, 1.15, len(months))
            for month, factor in zip(months, noise, strict=True):
                rows.append({"staff_id": person, "study_id": study.study_id,
                             "month": str(month), "hours": f"{hours * factor:.1f}"})
    return pd.DataFrame(rows)


CRA_HOURS_PER_SITE_MONTH = 16.0  # about one visit a month: preparation, travel, visit, report


def cra_timesheet_rows(sites: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Each activated site's monitoring booked by its CRA: 16 hours a month from its
    activation to the data cut (closed sites stop at the cut too: no close date)."""
    active = sites[sites["actual_activation"].notna() & sites["cra_id"].notna()]
    last = pd.Timestamp(as_of).to_period("M")
    rows = []
    for site in active.itertuples():
        for month in pd.period_range(pd.Timestamp(site.actual_activation).to_period("M"),
                                     last, freq="M"):
            rows.append((site.cra_id, site.study_id, str(month)))
    frame = pd.DataFrame(rows, columns=["staff_id", "study_id", "month"])
    booked = frame.groupby(["staff_id", "study_id", "month"]).size().reset_index(name="n")
    booked["hours"] = (booked["n"] * CRA_HOURS_PER_SITE_MONTH).map(lambda h: f"{h:.1f}")
    return booked.drop(columns=["n"])


# The CDISC pilot's data carry no contract: its plan of record as a sponsor would have
# contracted it (our assumption), around the dates the data show (first subject
# screened 2012-07-06, last randomized 2014-09-02, last visit 2015-03-05).
PILOT_BASELINE = {"contract_signed": "2012-01-16", "protocol_final": "2012-03-01",
                  "first_site_activated": "2012-07-02", "fpi": "2012-07-16",
                  "enrolled_25": "2012-12-17", "enrolled_50": "2013-05-15",
                  "enrolled_75": "2013-10-15", "lpi": "2014-03-31", "lplv": "2014-10-15",
                  "dbl": "2014-12-01", "topline": "2015-01-15", "csr_final": "2015-04-30"}


def pilot_milestone_rows(study_id: str) -> pd.DataFrame:
    """Baseline dates for the pilot (its forecasts and actuals stay as recorded)."""
    return pd.DataFrame({"study_id": study_id, "milestone": list(PILOT_BASELINE),
                         "baseline": list(PILOT_BASELINE.values())})
