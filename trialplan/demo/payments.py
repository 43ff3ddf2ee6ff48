"""The demo's site payments: contracts for every study, a quarter of invoices, reconciled.

Fees and terms go in through the project's own importers, exactly as finance's
files would; invoices are drawn from what the sites earned (with the usual
mistakes, :mod:`trialplan.demo.site_invoices`) and imported the same way.
Deterministic: building the demo twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from contracts.budgets import load_site_budgets
from contracts.earned import earned_items
from contracts.site_contracts import site_contracts
from contracts.site_payments import approve_payment_run, record_reconciliation, study_payments
from planner.forecast_runs import known_study_ids
from planner.frames import load_portfolio
from trialplan.demo.build import import_frame
from trialplan.demo.site_budgets import fee_rows, terms_rows
from trialplan.demo.site_invoices import invoice_rows

INVOICE_SEED = 5


@dataclass(frozen=True)
class StudyReconciliation:
    study_id: str
    run_id: int
    lines: int
    exceptions: int
    accruals: int
    statuses: dict[str, int]


def build_site_payments(session: Session, actor: str, as_of: dt.date) -> int:
    """Import every study's fees, terms and last-quarter invoices; rows changed."""
    portfolio = load_portfolio(session)
    sites = portfolio.sites
    changed = import_frame(session, "fees", fee_rows(sites, portfolio.planned_visits, as_of), actor)
    changed += import_frame(session, "terms", terms_rows(sites), actor)
    rng = np.random.default_rng(INVOICE_SEED)
    invoices = []
    for study_id in sorted(portfolio.studies["study_id"].astype(str)):
        study = {name: _of_study(getattr(portfolio, name), study_id)
                 for name in ("sites", "subjects", "visits", "planned_visits")}
        budgets = load_site_budgets(session, study_id)
        cut = min(as_of, portfolio.latest_event(study_id) or as_of)
        contracts = site_contracts(study["sites"], budgets.fees, budgets.terms, study["visits"])
        earned = earned_items(contracts, study["subjects"], study["visits"],
                              study["planned_visits"], budgets.fees, cut)
        invoices.append(invoice_rows(earned, budgets.fees, contracts, cut, rng))
    invoices_frame = pd.concat(invoices, ignore_index=True)
    return changed + import_frame(session, "invoices", invoices_frame, actor)


def _of_study(frame: pd.DataFrame, study_id: str) -> pd.DataFrame:
    """One study's rows of a portfolio frame, as ``load_portfolio(session, study_id)``
    gives them (a fresh index; categoricals keep only the study's values)."""
    rows = frame[(frame["study_id"] == study_id).to_numpy(bool)].reset_index(drop=True)
    categorical = [c for c in rows.columns if isinstance(rows[c].dtype, pd.CategoricalDtype)]
    return rows.assign(**{c: rows[c].cat.remove_unused_categories() for c in categorical})


def last_quarter_end(day: dt.date) -> dt.date:
    """The last day of the last calendar quarter ended on or before ``day``."""
    start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    end_of_quarter = (pd.Timestamp(start) + pd.offsets.QuarterEnd(0)).date()
    return end_of_quarter if end_of_quarter <= day else start - dt.timedelta(days=1)


def pay_last_quarter(session: Session, actor: str) -> list[tuple[str, int | None]]:
    """Approve each study's payment run through its last quarter end before its cut
    (a study with nothing left to pay gets no run)."""
    runs = []
    for study_id in known_study_ids(session):
        study = load_portfolio(session, study_id)
        cut = study.latest_event(study_id) or dt.date.today()  # study_payments' default
        payments = study_payments(session, study_id, last_quarter_end(cut), portfolio=study)
        runs.append((study_id, approve_payment_run(session, payments, actor).run_id))
    return runs


def reconcile_every_study(session: Session, actor: str) -> list[StudyReconciliation]:
    """Reconcile each study's invoices as of its data cut and store the runs."""
    out = []
    for study_id in known_study_ids(session):
        payments = study_payments(session, study_id)
        run_id, _ = record_reconciliation(session, payments, actor)
        lines, items = payments.reconciliation.lines, payments.reconciliation.items
        out.append(StudyReconciliation(
            study_id, run_id, len(lines), int((lines["status"] != "matched").sum()),
            int((items["item_class"] == "accrual").sum()),
            {str(k): int(v) for k, v in lines["status"].value_counts().sort_index().items()}))
    return out
