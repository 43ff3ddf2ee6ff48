"""Site budgets and invoices read from the store as the frames the computations use.

Amounts leave the store as ``Decimal`` and become integer minor units here,
exactly (``to_minor`` refuses a stored amount finer than its currency, which
the importers never let in).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from contracts.minor import to_minor
from contracts.schemas import FEES, INVOICE_LINES, TERMS
from planner.frames import FrameSchema
from planner.payment_tables import Invoice, InvoiceLine, SiteFee, SiteTerms
from planner.tables import Site, Study


@dataclass(frozen=True)
class SiteBudgets:
    """One study's fee grids, terms and imported invoice lines."""

    fees: pd.DataFrame  # contracts.schemas.FEES
    terms: pd.DataFrame  # contracts.schemas.TERMS
    invoice_lines: pd.DataFrame  # contracts.schemas.INVOICE_LINES


def _rows(session: Session, statement: Select, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records([tuple(r) for r in session.execute(statement)],
                                     columns=names)


def _minor(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([to_minor(a, c) for a, c in zip(frame["amount"], frame["currency"],
                                                     strict=True)],
                     index=frame.index, dtype="int64")


def _conform(schema: FrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    for column in schema.names:
        if column not in frame:
            frame[column] = pd.NA
    return schema.conform(frame)


def load_fees(session: Session, study_id: str) -> pd.DataFrame:
    own_site = aliased(Site)
    statement = (select(Study.study_id, SiteFee.country_code, own_site.site_id,
                        SiteFee.item_type, SiteFee.item_code, SiteFee.description,
                        SiteFee.amount, SiteFee.currency, SiteFee.effective_from, SiteFee.cap,
                        SiteFee.id)
                 .join(Study, SiteFee.study_pk == Study.id)
                 .outerjoin(own_site, SiteFee.site_pk == own_site.id)
                 .where(Study.study_id == study_id).order_by(SiteFee.id))
    frame = _rows(session, statement, ["study_id", "country", "site_id", "item_type",
                                       "item_code", "description", "amount", "currency",
                                       "effective_from", "cap", "id"])
    frame["item_type"] = frame["item_type"].map(str)
    frame["amount_minor"] = _minor(frame)
    frame["source"] = "site_fee " + frame["id"].astype(str)
    return _conform(FEES, frame)


def load_terms(session: Session, study_id: str) -> pd.DataFrame:
    own_site = aliased(Site)
    statement = (select(Study.study_id, SiteTerms.country_code, own_site.site_id,
                        SiteTerms.overhead_pct, SiteTerms.holdback_pct, SiteTerms.sf_ratio,
                        SiteTerms.sf_min, SiteTerms.sf_max, SiteTerms.payment_frequency,
                        SiteTerms.terms_days, SiteTerms.id)
                 .join(Study, SiteTerms.study_pk == Study.id)
                 .outerjoin(own_site, SiteTerms.site_pk == own_site.id)
                 .where(Study.study_id == study_id).order_by(SiteTerms.id))
    frame = _rows(session, statement, ["study_id", "country", "site_id", "overhead_pct",
                                       "holdback_pct", "sf_ratio", "sf_min", "sf_max",
                                       "payment_frequency", "terms_days", "id"])
    frame["payment_frequency"] = frame["payment_frequency"].map(str)
    frame["source"] = "site_terms " + frame["id"].astype(str)
    return _conform(TERMS, frame)


def load_invoice_lines(session: Session, study_id: str) -> pd.DataFrame:
    statement = (select(Invoice.invoice_id, Study.study_id, Site.site_id, Invoice.invoice_date,
                        Invoice.currency, InvoiceLine.line_no, InvoiceLine.item_type,
                        InvoiceLine.item_code, InvoiceLine.subject_id,
                        InvoiceLine.service_date, InvoiceLine.amount)
                 .join(Invoice, InvoiceLine.invoice_pk == Invoice.id)
                 .join(Study, Invoice.study_pk == Study.id)
                 .join(Site, Invoice.site_pk == Site.id)
                 .where(Study.study_id == study_id)
                 .order_by(Invoice.invoice_date, Invoice.invoice_id, InvoiceLine.line_no))
    frame = _rows(session, statement, ["invoice_id", "study_id", "site_id", "invoice_date",
                                       "currency", "line_no", "item_type", "item_code",
                                       "subject_id", "service_date", "amount"])
    frame["item_type"] = frame["item_type"].map(str)
    frame["amount_minor"] = _minor(frame)
    frame["source"] = "invoice " + frame["invoice_id"].astype(str) + " line " + frame[
        "line_no"].astype(str)
    return _conform(INVOICE_LINES, frame)


def load_site_budgets(session: Session, study_id: str) -> SiteBudgets:
    return SiteBudgets(load_fees(session, study_id), load_terms(session, study_id),
                       load_invoice_lines(session, study_id))
