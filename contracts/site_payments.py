"""One study's site payments, end to end: contract → earned → reconciled → paid.

Reads like the table of contents of docs/SITE_PAYMENTS.md; the CLI, the demo
and the dashboards call these functions and only render what they return.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.budgets import SiteBudgets, load_site_budgets
from contracts.earned import earned_items
from contracts.minor import MinorUnitsError, from_minor
from contracts.payment_runs import PaymentRunError, approve_run, approved_lines
from contracts.payments import PaymentsError, payment_run_lines, payment_summary
from contracts.reconcile import (
    Reconciliation,
    ReconciliationError,
    reconcile,
    reconciliation_json,
)
from contracts.schemas import EARNED
from contracts.site_contracts import site_contracts
from planner.forecast_runs import known_study_ids
from planner.frames import Portfolio, load_portfolio
from planner.fx import FxError, load_fx_table
from planner.payment_tables import ReconciliationRun
from planner.tables import Study


class PaymentsInputError(ValueError):
    """A request the data cannot answer: unknown study or site, no contracts yet."""


@dataclass(frozen=True)
class StudyPayments:
    """A study's contracts, earned items and reconciled invoices as of a date."""

    study_id: str
    as_of: dt.date
    reporting_currency: str
    site_id: str | None
    tolerance_days: int
    portfolio: Portfolio
    budgets: SiteBudgets
    contracts: pd.DataFrame  # site_contracts
    earned: pd.DataFrame  # EARNED, before invoices
    reconciliation: Reconciliation
    later_lines: int = 0  # invoice lines dated after as_of, left out

    def payable_items(self) -> pd.DataFrame:
        """Earned items including the invoiceables the invoices earned (EARNED)."""
        return EARNED.conform(self.reconciliation.items)

    def inputs_sha256(self) -> str:
        digest = hashlib.sha256()
        for frame in (self.earned, self.budgets.invoice_lines, self.budgets.fees,
                      self.budgets.terms):
            digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False)
                          .to_numpy().tobytes())
        digest.update(f"{self.as_of}|{self.site_id}|{self.tolerance_days}".encode())
        return digest.hexdigest()


def _only_site(frame: pd.DataFrame, site_id: str | None) -> pd.DataFrame:
    if site_id is None:
        return frame
    return frame[frame["site_id"].astype(str) == site_id].reset_index(drop=True)


def study_payments(session: Session, study_id: str, as_of: dt.date | None = None,
                   site_id: str | None = None, tolerance_days: int = 7,
                   portfolio: Portfolio | None = None) -> StudyPayments:
    """Everything a reconciliation or payment run of ``study_id`` needs, computed.

    ``portfolio``: the study's frames when the caller has them already (loaded from
    the store otherwise)."""
    if portfolio is None:
        portfolio = load_portfolio(session, study_id)
    if portfolio.studies.empty:
        known = ", ".join(known_study_ids(session)) or "none"
        raise PaymentsInputError(f"study {study_id!r} is not in the store (studies: {known})")
    if site_id is not None and site_id not in set(portfolio.sites["site_id"].astype(str)):
        raise PaymentsInputError(f"site {site_id!r} is not a site of {study_id}")
    budgets = load_site_budgets(session, study_id)
    if budgets.fees.empty or budgets.terms.empty:
        raise PaymentsInputError(f"{study_id} has no site contracts yet: import its fees and "
                                 "terms first (trialplan import fees FILE, terms FILE)")
    cut = as_of or portfolio.latest_event(study_id) or dt.date.today()
    contracts = site_contracts(portfolio.sites, budgets.fees, budgets.terms, portfolio.visits)
    earned = earned_items(contracts, portfolio.subjects, portfolio.visits,
                          portfolio.planned_visits, budgets.fees, cut)
    contracts, earned, lines = (_only_site(f, site_id)
                                for f in (contracts, earned, budgets.invoice_lines))
    later = lines["invoice_date"] > pd.Timestamp(cut)
    try:
        rec = reconcile(earned, lines[~later].reset_index(drop=True), budgets.fees, contracts,
                        tolerance_days)
        rec.check_totals()
    except (ReconciliationError, MinorUnitsError) as exc:
        raise PaymentsInputError(f"{study_id}: the reconciliation does not add up, so "
                                 f"nothing was stored: {exc}") from exc
    return StudyPayments(study_id, cut, str(portfolio.studies["currency"].iloc[0]), site_id,
                         tolerance_days, portfolio, budgets, contracts, earned, rec,
                         int(later.sum()))


def record_reconciliation(session: Session, payments: StudyPayments,
                          actor: str) -> tuple[int, dict[str, Any]]:
    """Store the reconciliation (the same inputs as the latest run: that run again);
    returns the run's id and the reconciliation's JSON document."""
    study = session.scalars(select(Study).where(Study.study_id == payments.study_id)).one()
    digest = payments.inputs_sha256()
    document = reconciliation_json(payments.reconciliation, payments.study_id)
    latest = session.scalars(select(ReconciliationRun).where(
        ReconciliationRun.study_pk == study.id).order_by(ReconciliationRun.id.desc())
        .limit(1)).one_or_none()
    if latest is not None and latest.inputs_sha256 == digest:
        return latest.id, document
    run = ReconciliationRun(study_pk=study.id, at=dt.datetime.now(dt.UTC), actor=actor,
                            as_of=payments.as_of, inputs_sha256=digest,
                            site_id=payments.site_id, tolerance_days=payments.tolerance_days,
                            totals=document["totals"], result=document)
    session.add(run)
    session.flush()
    return run.id, document


@dataclass(frozen=True)
class PaymentRunView:
    """A payment run, previewed or approved: its lines, summary and what waits."""

    study_id: str
    through: dt.date
    reporting_currency: str
    lines: pd.DataFrame  # PAYMENT_LINES
    summary: pd.DataFrame  # payment_summary
    deferred: pd.DataFrame
    run_id: int | None = None
    actor: str | None = None
    at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        by_currency = {str(c): str(from_minor(int(g["amount_minor"].sum()), str(c)))
                       for c, g in self.lines.groupby("currency")}
        reporting = int(self.lines["reporting_minor"].sum()) if len(self.lines) else 0
        return {"paid_now": by_currency,
                "reporting": {"currency": self.reporting_currency,
                              "amount": str(from_minor(reporting, self.reporting_currency))}}

    def document(self) -> dict[str, Any]:
        summary = self.summary.copy()
        for column in summary.columns:
            if pd.api.types.is_datetime64_any_dtype(summary[column]):
                summary[column] = summary[column].dt.strftime("%Y-%m-%d")
        summary = summary.astype(object).where(summary.notna(), None)
        return {"study_id": self.study_id, "through": self.through.isoformat(),
                "run_id": self.run_id, "approved": self.run_id is not None,
                "totals": self.totals(),
                "sites": json.loads(summary.to_json(orient="records", default_handler=str,
                                                    date_format="iso")),
                "lines": len(self.lines), "deferred_lines": len(self.deferred),
                "notes": self.notes}

    def text(self) -> str:
        state = (f"approved run {self.run_id}" if self.run_id is not None
                 else "preview (not stored; --approve stores and freezes it)")
        head = f"{self.study_id}: payment run through {self.through} — {state}"
        if self.lines.empty:
            return (head + "\nnothing to pay: every earned item is paid or waits; no run "
                    "was stored" + "".join(f"\n{note}" for note in self.notes))
        totals = self.totals()
        paid = ", ".join(f"{a} {c}" for c, a in totals["paid_now"].items())
        body = self.summary.to_string(index=False, max_rows=80)
        return (f"{head}\n{len(self.lines):,} lines; paid now {paid} = "
                f"{totals['reporting']['amount']} {self.reporting_currency}\n{body}"
                + "".join(f"\n{note}" for note in self.notes))


def _compute_run(session: Session, payments: StudyPayments) -> PaymentRunView:
    paid = approved_lines(session, payments.study_id)
    items = payments.payable_items()
    try:
        lines, deferred = payment_run_lines(items, payments.contracts, paid, payments.as_of,
                                            payments.reporting_currency, load_fx_table())
    except (FxError, PaymentsError, MinorUnitsError) as exc:
        raise PaymentsInputError(f"{payments.study_id}: {exc}") from exc
    summary = payment_summary(lines, payments.contracts, payments.as_of, deferred)
    notes = ([f"{deferred['site_id'].nunique()} quarterly sites wait for a quarter-end run "
              f"({len(deferred):,} lines)"] if len(deferred) else [])
    return PaymentRunView(payments.study_id, payments.as_of, payments.reporting_currency,
                          lines, summary, deferred, notes=notes)


def preview_payment_run(session: Session, payments: StudyPayments) -> PaymentRunView:
    """The run as it would be approved now; nothing is stored."""
    return _compute_run(session, payments)


def approve_payment_run(session: Session, payments: StudyPayments,
                        actor: str) -> PaymentRunView:
    """Store and freeze the run (audited); refused when nothing is left to pay."""
    view = _compute_run(session, payments)
    if view.lines.empty:
        return view
    try:
        run_id = approve_run(session, payments.study_id, view.lines, payments.as_of, actor,
                             payments.inputs_sha256())
    except PaymentRunError as exc:
        raise PaymentsInputError(str(exc)) from exc
    return PaymentRunView(view.study_id, view.through, view.reporting_currency, view.lines,
                          view.summary, view.deferred, run_id, actor,
                          dt.datetime.now(dt.UTC), view.notes)
