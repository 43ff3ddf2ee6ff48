"""Everything the sponsor review workbook shows, gathered from the computations.

The workbook only lays out; this module asks the budget, the site payments and
the recruitment forecast for their figures and puts them in a ``ReviewData``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_costs import PAYMENT_RUNS
from contracts.budget_forecast import monthly_burn
from contracts.budget_units import PAGES_PER_VISIT
from contracts.review_workbook import ReviewData
from contracts.site_payments import PaymentsInputError, StudyPayments, study_payments
from contracts.sponsor_budget import SponsorBudget
from planner.recruitment_curve import (
    FORECAST_SEED,
    FORECAST_SIMS,
    milestone_bands,
    recruitment_curve,
)

SITE_COLUMNS = ["country", "site_id", "currency", "earned_minor", "invoiced_minor",
                "paid_minor", "reporting_paid_minor"]


def paid_by_the_cut(budget: SponsorBudget) -> pd.DataFrame:
    """The approved payment lines whose run's through date is ≤ the as-of date: what the
    pass-through AC counts, so the Site payments sheet shows it too."""
    return budget.payments[budget.payments["through"] <= pd.Timestamp(budget.as_of)]


def site_payment_totals(session: Session, budget: SponsorBudget) -> pd.DataFrame:
    """Per site (:func:`site_totals`) for the budget's study and cut, paid by the cut
    (approved runs through the as-of date, :func:`paid_by_the_cut`); empty when the study
    has no site contracts."""
    try:
        payments = study_payments(session, budget.study_id, budget.as_of,
                                  portfolio=budget.portfolio)
    except PaymentsInputError:
        return pd.DataFrame(columns=SITE_COLUMNS)
    return site_totals(payments, paid_by_the_cut(budget))


def site_totals(payments: StudyPayments, paid: pd.DataFrame) -> pd.DataFrame:
    """Per site: earned (with overhead), invoiced (in the contract currency), ``paid``
    (approved payment lines: site_id, amount_minor, reporting_minor) and its reporting
    amount, one row per site with a contract (:data:`SITE_COLUMNS`)."""
    rec = payments.reconciliation
    earned = rec.items.groupby(["site_id", "currency"], as_index=False)["gross_minor"].sum()
    own = rec.lines[rec.lines["status"] != "wrong_currency"]
    invoiced = own.groupby("site_id", as_index=False)["amount_minor"].sum()
    paid = paid.groupby("site_id", as_index=False)[["amount_minor", "reporting_minor"]].sum()
    out = payments.contracts[["site_id", "country"]].merge(earned, on="site_id", how="left")
    out = out.merge(invoiced.rename(columns={"amount_minor": "invoiced_minor"}),
                    on="site_id", how="left")
    out = out.merge(paid.rename(columns={"amount_minor": "paid_minor",
                                         "reporting_minor": "reporting_paid_minor"}),
                    on="site_id", how="left")
    out = out.rename(columns={"gross_minor": "earned_minor"})
    out = out[out["currency"].notna()]
    for column in SITE_COLUMNS[3:]:
        out[column] = out[column].fillna(0).astype(np.int64)
    return out[SITE_COLUMNS].sort_values(["country", "site_id"]).reset_index(drop=True)


def pass_through_months(budget: SponsorBudget) -> pd.DataFrame:
    """Investigator grants paid by month (approved payment runs through the as-of date,
    by their through month; study currency): the pass-through AC by month, read from
    the budget's cost rows of source "payment runs"."""
    costs = budget.cost_months
    paid = costs[costs["source"] == PAYMENT_RUNS]
    if paid.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[s]"), "item": [],
                             "amount_minor": pd.Series(dtype="int64")})
    return pd.DataFrame({"month": paid["month"].astype("datetime64[s]").to_numpy(),
                         "item": "investigator grants (approved site payment runs)",
                         "amount_minor": paid["ac_minor"].astype(np.int64).to_numpy()})


def review_data(session: Session, budget: SponsorBudget) -> ReviewData:
    """The workbook's content for ``budget`` (forecast bands from a fresh forecast)."""
    forecast = milestone_bands(budget.portfolio, budget.study_id, budget.as_of)
    bands = None if not forecast else pd.DataFrame(
        [(k, *v) for k, v in forecast.items() if k in ("lpi", "lplv", "csr_final")],
        columns=["milestone", "p10", "p50", "p90"])
    burn = monthly_burn(budget.portfolio, budget.study_id, budget.budget, budget.evm,
                        budget.cost_months, budget.as_of, bands)
    study = budget.portfolio.studies.iloc[0]
    assumptions = [
        ("as of", budget.as_of.isoformat(), "the study's data cut unless --as-of is given"),
        ("currency", budget.currency, "the study's reporting currency; staff costs and site "
         "payments converted at the dated FX table (planner/data/fx_rates.csv)"),
        ("CRF pages per visit", str(PAGES_PER_VISIT),
         "crf_pages delivered = subject visits × this"),
        ("cost of hours", "timesheet hours × the staff member's cost rate",
         "PM → project management; CRA, CTA → site management; DM → data management; "
         "BIOSTAT → biostatistics; MW → medical writing"),
        ("EAC", "AC + (BAC − EV) / CPI", "AC + BAC − EV while AC or EV is 0"),
        ("forecast", f"{FORECAST_SIMS} simulations, seed {FORECAST_SEED}",
         "recruitment forecast at the cut; P10/P90 of LPI move the burn band"),
    ]
    return ReviewData(
        study_id=budget.study_id, title=study.get("title"), sponsor=study.get("sponsor"),
        currency=budget.currency, as_of=budget.as_of, evm=budget.evm, budget=budget.budget,
        planned=budget.planned, change_orders=budget.change_orders, burn=burn,
        site_payments=site_payment_totals(session, budget),
        pass_throughs=pass_through_months(budget),
        recruitment=recruitment_curve(budget.portfolio, budget.as_of, forecast),
        assumptions=assumptions)
