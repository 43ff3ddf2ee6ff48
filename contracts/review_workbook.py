"""The sponsor budget review workbook (docs/SPONSOR_BUDGET.md; issue 6, scope 4).

:class:`ReviewData` holds what the workbook shows, all computed elsewhere
(``contracts.earned_value`` and the callers' frames); :func:`write_review` lays it
out with openpyxl and writes the totals and variances as formulas, so changing
a unit or a unit price in the spreadsheet recomputes the sheet:

* Service lines: BAC = ROUND(units × unit price), PV = ROUND(units × planned share
  × unit price), EV = ROUND(MIN(delivered, units) × unit price), each rounded half up
  to the currency's decimals once (written ``ROUND(ROUND(x, exact decimals),
  decimals)``, ``review_sheets.rounded``: float noise would otherwise turn an exact
  half yen down); AC a value; CPI = EV / AC, SPI = EV / PV (blank when the
  denominator is 0); EAC = AC + ROUND((BAC − EV) × AC / EV), BAC when AC is 0,
  AC + BAC when EV is 0 (``contracts.earned_value.estimate_at_completion``);
  ETC = EAC − AC; VAC = BAC − EAC; the total row sums the lines;
* Summary refers to those cells; the other sheets total with formulas too.

The planned share is written as its exact fraction (``=111/244``): PV from the
2-decimal planned units would miss the Python figure by cents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from contracts.budget_lines import TOTAL, BudgetError, rows_by
from contracts.review_charts import (
    Rows,
    burn_chart,
    burn_sheet,
    recruitment_sheet,
    summary_sheet,
)
from contracts.review_sheets import (
    COLUMN,
    CPI_ALERT,
    EXACT_PLACES,
    FRACTION_PLACES,
    LINE_HEADERS,
    RATIO,
    SHARE,
    UNITS,
    Put,
    amount,
    assumptions_sheet,
    change_orders_sheet,
    flag,
    missing,
    money,
    pass_throughs_sheet,
    rounded,
    signed,
    site_payments_sheet,
    table,
)
from planner.money import minor_units

__all__ = ["LINE_HEADERS", "SHEETS", "ReviewData", "write_review"]
SHEETS = ("Summary", "Service lines", "Monthly burn", "Site payments", "Pass-throughs",
          "Change orders", "Recruitment", "Assumptions")
METHOD = (
    ("BAC", "ROUND(units × unit price)", "per line, rounded once to the currency's minor "
     "unit; totals are sums of rounded lines"),
    ("PV", "ROUND(units × planned share × unit price)", "planned share from the baseline "
     "timeline (see 'planned share' below)"),
    ("EV", "ROUND(MIN(delivered, units) × unit price)", "units delivered from the plan of "
     "record, never above the line's units"),
    ("AC", "timesheets and payment runs", "hours × cost rate at the month's FX rate, rounded "
     "per row; pass-through: approved payment runs"),
    ("EAC", "AC + ROUND((BAC − EV) × AC / EV)", "BAC when AC is 0 (no cost booked: on "
     "budget); AC + BAC when EV is 0 (spent, nothing earned)"),
    ("overrun flags", f"EAC > BAC; CPI < {CPI_ALERT}", "red cells"),
)


def _need(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    lacking = [c for c in columns if c not in frame.columns]
    if lacking:
        raise BudgetError(f"review data: {name} lacks the columns {lacking}")


@dataclass(frozen=True, kw_only=True, eq=False)
class ReviewData:
    """What the review workbook shows, computed elsewhere (money in int64 minor units).

    ``evm``: ``earned_value`` (per line and the ``total`` row); ``budget``:
    ``budget_in_force``; ``planned``: ``planned_units`` (driver, exact share: what each
    PV formula multiplies by); ``change_orders``: ``change_order_log``; ``burn``:
    ``monthly_burn``; ``site_payments``: country, site_id, currency, earned_minor,
    invoiced_minor, paid_minor (site currency), reporting_paid_minor (study currency),
    one row per site; ``pass_throughs``: month, item, amount_minor (study currency);
    ``recruitment``: month, actual (cumulative randomized, NA after the cut), planned
    (cumulative baseline plan), p10, p50, p90 (forecast, NA before the cut);
    ``assumptions``: (name, value text, note).
    """

    study_id: str
    title: str | None
    sponsor: str | None
    currency: str
    as_of: dt.date
    evm: pd.DataFrame
    budget: pd.DataFrame
    planned: pd.DataFrame
    change_orders: pd.DataFrame
    burn: pd.DataFrame
    site_payments: pd.DataFrame
    pass_throughs: pd.DataFrame
    recruitment: pd.DataFrame
    assumptions: Sequence[tuple[str, str, str]] = field(default=())

    def __post_init__(self) -> None:
        minor_units(self.currency)  # an unknown currency code is refused here
        _need(self.evm, "evm", ["service_line", "driver", "units", "delivered_units",
                                "unit_price_minor", "bac_minor", "pv_minor", "ev_minor",
                                "ac_minor", "eac_minor", "etc_minor", "vac_minor", "cpi",
                                "spi", "currency"])
        _need(self.budget, "budget", ["service_line", "original_bac_minor", "change_order"])
        _need(self.planned, "planned", ["driver", "share"])
        _need(self.change_orders, "change_orders", [
            "change_order", "service_line", "driver", "effective_from", "effective",
            "reason", "units_before", "units", "unit_price_before_minor",
            "unit_price_minor", "budget_before_minor", "budget_minor", "value_minor"])
        _need(self.burn, "burn", ["month", "planned_minor", "actual_minor", "forecast_minor",
                                  "forecast_p10_minor", "forecast_p90_minor"])
        _need(self.site_payments, "site_payments", [
            "country", "site_id", "currency", "earned_minor", "invoiced_minor",
            "paid_minor", "reporting_paid_minor"])
        _need(self.pass_throughs, "pass_throughs", ["month", "item", "amount_minor"])
        _need(self.recruitment, "recruitment", ["month", "actual", "planned", "p10", "p50",
                                                "p90"])
        if (self.evm["service_line"] == TOTAL).sum() != 1:
            raise BudgetError("review data: evm needs exactly one total row")
        if (self.evm["service_line"] != TOTAL).sum() == 0:
            raise BudgetError(f"study {self.study_id} has no work order: nothing to review")
        other = set(self.evm["currency"].astype(str)) - {self.currency}
        if other:
            raise BudgetError(f"review data: evm in {sorted(other)}, the study is in "
                              f"{self.currency}")
        if self.site_payments["site_id"].duplicated().any():
            raise BudgetError("review data: site_payments needs one row per site")


def _bases(data: ReviewData) -> list[tuple[str, str, str]]:
    """Where each driver's planned share (PV) comes from, for the Assumptions sheet."""
    if "basis" not in data.planned:
        return []
    drivers = set(data.evm["driver"].dropna().astype(str))
    planned = rows_by(data.planned, data.study_id, "driver")
    return [(f"planned share: {d}", str(planned.at[d, "basis"]), "PV (baseline timeline)")
            for d in planned.index if d in drivers]


def _share(value: object) -> Put:
    share = Fraction(0) if missing(value) else Fraction(value)
    if share.denominator == 1:
        return Put(share.numerator, SHARE)
    return Put(f"={share.numerator}/{share.denominator}", SHARE, shows=share)


def service_lines_sheet(sheet: WriteOnlyWorksheet, data: ReviewData) -> int:
    """One row per service line, its figures as formulas, and the total row (returned)."""
    c, cur, places = COLUMN, data.currency, minor_units(data.currency)
    lines = data.evm[data.evm["service_line"] != TOTAL]
    budget = rows_by(data.budget, data.study_id, "service_line")
    planned = rows_by(data.planned, data.study_id, "driver")
    rows = []
    for r, row in enumerate(lines.itertuples(index=False), start=2):
        line = str(row.service_line)
        driver = None if missing(row.driver) else str(row.driver)
        unit_price = (0 if missing(row.unit_price_minor)
                      else amount(row.unit_price_minor, cur))
        ref = {k: f"{c[k]}{r}" for k in c}
        units, price, delivered, share, bac, pv, ev, ac = (ref[k] for k in (
            "units", "unit_price", "delivered", "share", "bac", "pv", "ev", "ac"))
        shown = {k: amount(getattr(row, f"{k}_minor"), cur)
                 for k in ("bac", "pv", "ev", "eac", "etc", "vac")}
        rows.append([
            line, driver, row.units, unit_price, row.delivered_units,
            _share(planned["share"].get(driver) if driver else 0),
            Put(f"={units}*{share}", shows=row.units),
            Put("=" + rounded(f"{units}*{price}", places, EXACT_PLACES), shows=shown["bac"]),
            Put("=" + rounded(f"{units}*{share}*{price}", places, FRACTION_PLACES),
                shows=shown["pv"]),
            Put("=" + rounded(f"MIN({delivered},{units})*{price}", places, EXACT_PLACES),
                shows=shown["ev"]),
            amount(row.ac_minor, cur),
            Put(f'=IF({ac}=0,"",{ev}/{ac})', shows=row.cpi),
            Put(f'=IF({pv}=0,"",{ev}/{pv})', shows=row.spi),
            Put(f"=IF({ac}=0,{bac},IF({ev}=0,{ac}+{bac},"
                f"{ac}+{rounded(f'({bac}-{ev})*{ac}/{ev}', places, FRACTION_PLACES)}))",
                shows=shown["eac"]),
            Put(f"={ref['eac']}-{ac}", shows=shown["etc"]),
            Put(f"={bac}-{ref['eac']}", shows=shown["vac"]),
            amount(budget["original_bac_minor"].get(line, 0), cur),
            None if line not in budget.index else budget.at[line, "change_order"],
            cur, row.units, unit_price])
    last = len(rows) + 1
    t = last + 1
    total = data.evm[data.evm["service_line"] == TOTAL].iloc[0]
    after = [[Put("total", bold=True), *[None] * (len(c) - 1)]]
    for key in ("bac", "pv", "ev", "ac", "eac", "etc", "vac", "original"):
        shows = amount(total.get(f"{key}_minor", 0), cur)
        after[0][list(c).index(key)] = Put(f"=SUM({c[key]}2:{c[key]}{last})", shows=shows,
                                           bold=True)
    after[0][list(c).index("cpi")] = Put(f'=IF({c["ac"]}{t}=0,"",{c["ev"]}{t}/{c["ac"]}{t})',
                                         shows=total["cpi"], bold=True)
    after[0][list(c).index("spi")] = Put(f'=IF({c["pv"]}{t}=0,"",{c["ev"]}{t}/{c["pv"]}{t})',
                                         shows=total["spi"], bold=True)
    fmt = money(cur)
    formats = {"units": UNITS, "unit_price": fmt, "delivered": UNITS, "share": SHARE,
               "planned": UNITS, "bac": fmt, "pv": fmt, "ev": fmt, "ac": fmt, "cpi": RATIO,
               "spi": RATIO, "eac": fmt, "etc": fmt, "vac": signed(cur), "original": fmt,
               "units_exported": UNITS, "price_exported": fmt}
    hidden = [list(c).index(k) + 1 for k in ("units_exported", "price_exported")]
    table(sheet, list(LINE_HEADERS.values()), [formats.get(k) for k in c], rows, after,
          freeze="B2", hidden=hidden)
    flag(sheet, f"{c['eac']}2:{c['eac']}{t}", f"{c['eac']}2>{c['bac']}2")
    flag(sheet, f"{c['cpi']}2:{c['cpi']}{t}",
         f"AND(ISNUMBER({c['cpi']}2),{c['cpi']}2<{CPI_ALERT})")
    return t


def write_review(data: ReviewData, path: Path | str) -> Path:
    """Write the review workbook to ``path`` (.xlsx), every sheet streamed (write-only)."""
    path = Path(path)
    book = Workbook(write_only=True)
    sheets = {name: book.create_sheet(name) for name in SHEETS}  # tab order
    cur = data.currency
    rows = Rows(
        lines_total=service_lines_sheet(sheets["Service lines"], data),
        site_total=site_payments_sheet(sheets["Site payments"], data.site_payments, cur),
        pass_total=pass_throughs_sheet(sheets["Pass-throughs"], data.pass_throughs, cur),
        change_orders_in_force=change_orders_sheet(sheets["Change orders"],
                                                   data.change_orders, cur,
                                                   minor_units(cur)),
        recruitment_last=recruitment_sheet(sheets["Recruitment"], data.recruitment))
    burn_last = burn_sheet(sheets["Monthly burn"], data.burn, cur)
    assumptions_sheet(sheets["Assumptions"], data.assumptions, [*METHOD, *_bases(data)])
    summary_sheet(sheets["Summary"], data, rows,
                  burn_chart(sheets["Monthly burn"], data.burn, cur, burn_last))
    book.calculation.fullCalcOnLoad = True  # Excel computes the formulas when it opens it
    book.save(path)
    return path
