"""What the payments page shows for one study as of a date: earned, invoiced and paid by
site; the invoice lines that did not match (with their reconciliation status); the
payment run that approving now would store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session

from contracts.schemas import LINE_STATUSES
from contracts.site_payments import (
    PaymentRunView,
    StudyPayments,
    preview_payment_run,
    study_payments,
)
from contracts.sponsor_budget import approved_payments
from contracts.sponsor_review import site_totals

EXCEPTION_STATUSES = tuple(s for s in LINE_STATUSES if s != "matched")
EXCEPTION_COLUMNS = ["invoice_id", "line_no", "site_id", "status", "item_type", "item_code",
                     "subject_id", "service_date", "currency", "amount_minor",
                     "expected_minor", "difference_minor", "note"]


@dataclass(frozen=True)
class PaymentsPicture:
    payments: StudyPayments
    sites: pd.DataFrame  # site_totals: earned, invoiced, paid (runs through as_of) by site
    exceptions: pd.DataFrame  # EXCEPTION_COLUMNS: invoice lines not matched
    preview: PaymentRunView  # the run approving through as_of would store

    @property
    def as_of(self) -> dt.date:
        return self.payments.as_of


def payments_picture(session: Session, study_id: str, as_of: dt.date | None = None
                     ) -> PaymentsPicture:
    """Payments of ``study_id`` as of ``as_of`` (default: the study's data cut)."""
    payments = study_payments(session, study_id, as_of)
    paid = approved_payments(session, study_id)
    paid = paid[paid["through"] <= pd.Timestamp(payments.as_of)]
    lines = payments.reconciliation.lines
    exceptions = lines[lines["status"] != "matched"]
    exceptions = exceptions[[c for c in EXCEPTION_COLUMNS if c in exceptions.columns]]
    return PaymentsPicture(payments, site_totals(payments, paid),
                           exceptions.reset_index(drop=True),
                           preview_payment_run(session, payments))
