"""Site contracts, invoices, reconciliation and payment runs as tables (docs/SITE_PAYMENTS.md).

A contract is a country template (``site_pk`` NULL) with site overrides, and a
dated amendment is a new row with a later ``effective_from``. Because NULL
never equals NULL in a unique constraint, importers match these keys in
pandas (blank equals blank); the constraints still refuse two rows of one site.
Money is :data:`MONEY`; percentages, ratios and FX rates are exact decimals too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from planner.tables import MONEY, Base, ExactDecimal, _enum


class ItemType(StrEnum):
    """What a fee pays for (DESIGN §3, site contract)."""

    VISIT = "visit"
    INVOICEABLE = "invoiceable"
    ONE_TIME = "one_time"
    SCREEN_FAILURE = "screen_failure"


class PaymentFrequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


ON_ACTIVATION_CODES = ("STARTUP", "IRB", "PHARMACY")  # one-time fees due at activation
ON_CLOSEOUT_CODES = ("CLOSEOUT", "ARCHIVING")  # one-time fees due at close-out
ONE_TIME_CODES = ON_ACTIVATION_CODES + ON_CLOSEOUT_CODES
SCREEN_FAILURE_CODE = "SF"
UNSCHEDULED_CODE = "UNSCHEDULED"  # the invoiceable fee of an unscheduled visit

PERCENT = ExactDecimal(7, 4)  # 0 to 100, e.g. 26 or 12.5 (percent, not a fraction)
RATIO = ExactDecimal(12, 6)  # paid screen failures per randomized, e.g. 0.25
FX_RATE = ExactDecimal(20, 10)  # reporting units per one unit of the original currency
CODE = 64  # length of item codes and ids
ITEM_REF = 200  # length of an item's identity: "SV 3.1 #1", "invoice <id> line <n>"


class SiteFee(Base):
    """One fee of a site's contract, or of its country's template (``site_pk`` NULL)."""

    __tablename__ = "site_fee"
    # named by hand: the convention's name would pass PostgreSQL's 63 characters
    __table_args__ = (UniqueConstraint("study_pk", "country_code", "site_pk", "item_type",
                                       "item_code", "effective_from", name="uq_site_fee_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    country_code: Mapped[str] = mapped_column(ForeignKey("country.code"))
    site_pk: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"),
                                                index=True)
    item_type: Mapped[ItemType] = mapped_column(_enum(ItemType, "item_type"))
    item_code: Mapped[str] = mapped_column(String(CODE))
    description: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    cap: Mapped[int | None] = mapped_column(Integer)  # invoiceable: at most this many paid


class SiteTerms(Base):
    """Overhead, holdback, screen-failure terms and payment terms of a country or a site."""

    __tablename__ = "site_terms"
    __table_args__ = (UniqueConstraint("study_pk", "country_code", "site_pk"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    country_code: Mapped[str] = mapped_column(ForeignKey("country.code"))
    site_pk: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"),
                                                index=True)
    overhead_pct: Mapped[Decimal] = mapped_column(PERCENT)
    holdback_pct: Mapped[Decimal] = mapped_column(PERCENT)
    sf_ratio: Mapped[Decimal | None] = mapped_column(RATIO)  # None: no ratio
    sf_min: Mapped[int | None] = mapped_column(Integer)
    sf_max: Mapped[int | None] = mapped_column(Integer)
    payment_frequency: Mapped[PaymentFrequency] = mapped_column(
        _enum(PaymentFrequency, "payment_frequency"))
    terms_days: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    """A site's invoice as received; a correction is a new invoice, never an edit."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("study_pk", "site_pk", "invoice_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[str] = mapped_column(String(CODE))
    invoice_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))


class InvoiceLine(Base):
    __tablename__ = "invoice_line"
    __table_args__ = (UniqueConstraint("invoice_pk", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_pk: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    item_type: Mapped[ItemType] = mapped_column(_enum(ItemType, "item_type"))
    item_code: Mapped[str] = mapped_column(String(CODE))
    subject_id: Mapped[str | None] = mapped_column(String(CODE))  # None: a site-level item
    service_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)


class StudyRunColumns:
    """What a stored reconciliation or payment run records: the study, who ran it and
    when, its inputs' hash and its totals; each run adds its own columns."""

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"),
                                          index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    # sort_order: the tables' columns keep the order migration 0005 created
    inputs_sha256: Mapped[str] = mapped_column(String(64), sort_order=2)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, sort_order=4)


class ReconciliationRun(StudyRunColumns, Base):
    """One reconciliation of a study's invoices with what its sites earned: its inputs'
    hash, options, totals by class and the classified lines and items."""

    __tablename__ = "reconciliation_run"
    as_of: Mapped[dt.date] = mapped_column(Date, sort_order=1)
    site_id: Mapped[str | None] = mapped_column(String(CODE), sort_order=3)  # None: every site
    tolerance_days: Mapped[int] = mapped_column(Integer, sort_order=3)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, sort_order=5)


class PaymentRun(StudyRunColumns, Base):
    """An approved payment run of a study through a date; frozen once stored."""

    __tablename__ = "payment_run"
    through: Mapped[dt.date] = mapped_column(Date, sort_order=1)
    reporting_currency: Mapped[str] = mapped_column(String(3), sort_order=1)


class PaymentLine(Base):
    """One paid item, or a site's holdback release (``kind``), in its contract currency
    with the reporting-currency equivalent and the rate used."""

    __tablename__ = "payment_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("payment_run.id", ondelete="CASCADE"),
                                        index=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # item or holdback_release
    subject_id: Mapped[str | None] = mapped_column(String(CODE))
    item_type: Mapped[ItemType | None] = mapped_column(_enum(ItemType, "item_type"))
    item_code: Mapped[str | None] = mapped_column(String(CODE))
    # which one of the code: an unscheduled SV visit or the invoice line that earned it
    # (None: paid once per code); part of the item key, never parsed
    item_ref: Mapped[str | None] = mapped_column(String(ITEM_REF))
    occurrence: Mapped[int | None] = mapped_column(Integer)  # shown, not part of the key
    service_date: Mapped[dt.date | None] = mapped_column(Date)
    gross: Mapped[Decimal] = mapped_column(MONEY)
    holdback: Mapped[Decimal] = mapped_column(MONEY)  # negative: released
    already_paid: Mapped[Decimal] = mapped_column(MONEY)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    fx_rate: Mapped[Decimal] = mapped_column(FX_RATE)
    reporting_amount: Mapped[Decimal] = mapped_column(MONEY)
    reporting_currency: Mapped[str] = mapped_column(String(3))
