"""Every study's status in one row: enrollment against plan, the LPI forecast and its slip,
earned value against budget, the next milestone (the portfolio page).

Per study, at its own data cut (its latest recorded event):

* randomized: subjects randomized by the cut; planned: the baseline plan's share of
  the target by the cut (the PV rule of ``subjects_randomized``, rounded half up);
* LPI: the actual date when reached, else the stored forecast (the P50 of the latest
  forecast run, ``trialplan forecast``); slip = that date − the LPI baseline, in days;
* CPI, SPI, BAC, EAC, VAC: the sponsor budget's total row (empty, with the reason in
  ``budget_note``, for a study without a work order);
* next milestone: the first one, in life-cycle order, not reached yet (:func:`_reached`),
  with its forecast (else baseline) date; stage: the life-cycle stage the reached ones
  give.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_lines import TOTAL, half_up
from contracts.budget_units import planned_shares
from contracts.sponsor_budget import BudgetInputError, sponsor_budget
from planner.domain import MilestoneKind
from planner.frames import DATE, Col, FrameSchema, Portfolio, load_portfolio
from planner.recruitment.forecast import ENROLLMENT

STATUS = FrameSchema("portfolio_status", (
    Col("study_id", "string", "", "protocol id"),
    Col("sponsor", "string", "", "sponsor name"),
    Col("therapeutic_area", "string", "", "therapeutic area"),
    Col("phase", "string", "", "clinical phase"),
    Col("countries", "object", "ISO codes", "the study's site countries, sorted"),
    Col("stage", "string", "", "start-up, enrolling, treatment and follow-up, close-out"),
    Col("as_of", DATE, "date", "the study's data cut"),
    Col("sites", "int64", "sites", "sites in the study"),
    Col("randomized", "int64", "subjects", "randomized by the cut"),
    Col("planned", "Int64", "subjects", "randomized the baseline plans by the cut"),
    Col("target", "Int64", "subjects", "contracted number to randomize"),
    Col("lpi_baseline", DATE, "date", "contracted LPI"),
    Col("lpi", DATE, "date", "LPI reached, else the forecast P50"),
    Col("lpi_reached", "bool", "", "LPI is an actual date"),
    Col("lpi_slip_days", "Int64", "days", "LPI − its baseline"),
    Col("currency", "string", "ISO 4217", "the study's currency"),
    Col("bac_minor", "Int64", "minor units", "budget at completion"),
    Col("eac_minor", "Int64", "minor units", "estimate at completion"),
    Col("vac_minor", "Int64", "minor units", "BAC − EAC"),
    Col("cpi", "object", "Decimal", "EV / AC (None: no AC)"),
    Col("spi", "object", "Decimal", "EV / PV (None: no PV)"),
    Col("budget_note", "string", "", "why there are no budget figures"),
    Col("next_milestone", "string", "", "the first milestone not reached"),
    Col("next_milestone_date", DATE, "date", "its forecast, else baseline, date"),
))
STAGES = ((MilestoneKind.CSR_FINAL, "completed"), (MilestoneKind.LPLV, "close-out"),
          (MilestoneKind.LPI, "treatment and follow-up"), (MilestoneKind.FPI, "enrolling"))
ORDER = list(MilestoneKind)


def _stage(reached: set[str]) -> str:
    return next((name for kind, name in STAGES if kind.value in reached), "start-up")


def _reached(stones: pd.DataFrame, cut: object, randomized: int,
             target: object) -> set[str]:
    """Milestones reached by the cut: an actual date, or enrollment counts (fpi at the
    first randomized, enrolled_25 .. lpi at their share of the target), and every
    milestone before a reached one in life-cycle order (a study enrolling has signed
    its contract even when that date was never recorded)."""
    reached = {k for k, when in stones["actual"].items()
               if pd.notna(when) and (cut is None or when <= pd.Timestamp(cut))}
    if randomized > 0:
        reached.add(MilestoneKind.FPI.value)
    if pd.notna(target):
        reached |= {kind.value for kind, share in ENROLLMENT
                    if randomized >= math.ceil(share * int(target))}
    last = max((ORDER.index(MilestoneKind(k)) for k in reached), default=-1)
    return reached | {k.value for k in ORDER[:last + 1]}


def _study_row(portfolio: Portfolio, study: pd.Series, budget_figures: dict) -> dict:
    study_id = str(study["study_id"])
    sites = portfolio.sites[portfolio.sites["study_id"] == study_id]
    subjects = portfolio.subjects[portfolio.subjects["study_id"] == study_id]
    stones = portfolio.milestones[portfolio.milestones["study_id"] == study_id]
    stones = stones.set_index(stones["milestone"].astype(str))
    cut = portfolio.latest_event(study_id)
    target = study["target_randomized"]
    randomized = int((subjects["randomized"] <= pd.Timestamp(cut)).sum()) if cut else 0
    planned = pd.NA
    if cut is not None and pd.notna(target):
        share = planned_shares(portfolio, study_id, [cut])["subjects_randomized"][0][0]
        planned = half_up(Fraction(int(target)) * share)
    reached = _reached(stones, cut, randomized, target)
    lpi = stones.loc["lpi"] if "lpi" in stones.index else None
    lpi_date = pd.NaT if lpi is None else (lpi["actual"] if "lpi" in reached
                                           else lpi["forecast"])
    lpi_base = pd.NaT if lpi is None else lpi["baseline"]
    slip = (pd.NA if pd.isna(lpi_date) or pd.isna(lpi_base)
            else int((lpi_date - lpi_base).days))
    upcoming = [k for k in ORDER if k.value in stones.index and k.value not in reached]
    next_kind = upcoming[0].value if upcoming else None
    next_date = pd.NaT
    if next_kind is not None:
        row = stones.loc[next_kind]
        next_date = row["forecast"] if pd.notna(row["forecast"]) else row["baseline"]
    return {"study_id": study_id, "sponsor": study["sponsor"],
            "therapeutic_area": study["therapeutic_area"], "phase": study["phase"],
            "countries": sorted(sites["country"].dropna().astype(str).unique()),
            "stage": _stage(reached), "as_of": pd.Timestamp(cut) if cut else pd.NaT,
            "sites": len(sites), "randomized": randomized, "planned": planned,
            "target": target, "lpi_baseline": lpi_base, "lpi": lpi_date,
            "lpi_reached": "lpi" in reached, "lpi_slip_days": slip,
            "currency": study["currency"], "next_milestone": next_kind,
            "next_milestone_date": next_date, **budget_figures}


def _budget_figures(session: Session, study_id: str) -> dict:
    try:
        total = sponsor_budget(session, study_id).evm.set_index("service_line").loc[TOTAL]
    except BudgetInputError as reason:
        return {"bac_minor": pd.NA, "eac_minor": pd.NA, "vac_minor": pd.NA, "cpi": None,
                "spi": None, "budget_note": str(reason)}
    return {"bac_minor": int(total["bac_minor"]), "eac_minor": int(total["eac_minor"]),
            "vac_minor": int(total["vac_minor"]), "cpi": total["cpi"], "spi": total["spi"],
            "budget_note": None}


def portfolio_status(session: Session) -> pd.DataFrame:
    """One row per study (:data:`STATUS`), in study id order."""
    portfolio = load_portfolio(session)
    rows = [_study_row(portfolio, study, _budget_figures(session, str(study["study_id"])))
            for _, study in portfolio.studies.sort_values("study_id").iterrows()]
    if not rows:
        return STATUS.conform(pd.DataFrame(columns=STATUS.names))
    return STATUS.conform(pd.DataFrame(rows))
