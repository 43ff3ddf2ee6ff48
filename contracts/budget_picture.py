"""What the budget page shows: the sponsor budget as of a date, its monthly burn with the
forecast band, and cumulative earned value month by month.

Cumulative EV by a month's end E is each service line's units delivered by E
(:func:`units_delivered`, capped at the line's units) times its unit price in the
budget in force at the cut, rounded once per line, then summed: the EV of the
``earned_value`` rule taken at E. Months after the cut have no EV (NA).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from sqlalchemy.orm import Session

from contracts.budget_forecast import monthly_burn
from contracts.budget_lines import priced, rows_by
from contracts.budget_units import (
    last_ended_month,
    month_ordinal,
    units_delivered,
)
from contracts.sponsor_budget import SponsorBudget, sponsor_budget
from planner.recruitment_curve import Bands, milestone_bands


@dataclass(frozen=True)
class BudgetPicture:
    budget: SponsorBudget
    bands: Bands | None  # the recruitment forecast's milestone dates (None: no forecast)
    burn: pd.DataFrame  # monthly_burn plus earned_minor (cumulative EV, NA after the cut)

    @property
    def lines(self) -> pd.DataFrame:
        """Per service line and the total row (``earned_value``)."""
        return self.budget.evm


def earned_by_month(budget: SponsorBudget, months: pd.Series) -> pd.Series:
    """Cumulative EV (int64 minor units) at the end of each month of ``months`` (first
    days); NA for months not ended by the budget's cut."""
    lines = rows_by(budget.budget, budget.study_id, "service_line")
    work = budget.work_visits  # the visits the budget's own EV counted
    cut = last_ended_month(budget.as_of)
    values: list[int | None] = []
    for month in pd.to_datetime(months):
        if month_ordinal(month) > cut:
            values.append(None)
            continue
        end = (month + pd.offsets.MonthEnd(0)).date()
        got = rows_by(units_delivered(budget.portfolio, work, end), budget.study_id,
                      "driver")["delivered"]
        values.append(sum(priced(min(Decimal(got.get(row.driver, 0)), Decimal(row.units)),
                                 int(row.unit_price_minor)) for row in lines.itertuples()))
    return pd.Series(values, index=months.index, dtype="Int64")


def budget_picture(session: Session, study_id: str, as_of: dt.date | None = None
                   ) -> BudgetPicture:
    """The budget of ``study_id`` as of ``as_of`` (default its data cut) with its burn."""
    budget = sponsor_budget(session, study_id, as_of)
    bands = milestone_bands(budget.portfolio, study_id, budget.as_of)
    band_frame = None if not bands else pd.DataFrame(
        [(k, *v) for k, v in bands.items() if k in ("lpi", "lplv", "csr_final")],
        columns=["milestone", "p10", "p50", "p90"])
    burn = monthly_burn(budget.portfolio, study_id, budget.budget, budget.evm,
                        budget.cost_months, budget.as_of, band_frame)
    burn = burn.assign(earned_minor=earned_by_month(budget, burn["month"]))
    return BudgetPicture(budget, bands, burn)
