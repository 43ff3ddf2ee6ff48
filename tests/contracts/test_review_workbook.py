"""The sponsor review workbook (issue 6, scope 4) on the hand-worked study of
tests/contracts/test_earned_value.py (S1, EUR, cut 2024-06-20, same figures), and
the same study priced in yen, a variant whose figures end in exactly half a cent
before rounding, and lines whose exact figures end in half a yen (half a cent) where
floating point lands just below the half (4.35 × 110 = 478.49999999999994).

LibreOffice recalculates the written workbook; every formula value must equal the
Python figures (``budget_json``) to the cent. LibreOffice also prints it to PDF;
page 1 is kept as a PNG in ``$TRIALPLAN_ARTIFACTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from contracts.budget_lines import BudgetError
from contracts.earned_value import (
    actual_cost_months,
    actual_costs,
    budget_in_force,
    budget_json,
    change_order_log,
    earned_value,
    monthly_burn,
    planned_units,
    units_delivered,
)
from contracts.minor import from_minor, to_minor
from contracts.review_import import EXCHANGE, WorkbookError, change_order_from_workbook
from contracts.review_workbook import LINE_HEADERS, SHEETS, ReviewData, write_review
from planner.fx import FxTable
from tests.contracts import libreoffice
from tests.contracts.test_earned_value import (
    AS_OF,
    fx,
    payments,
    portfolio,
    timesheets,
    work_order,
)

T = pd.Timestamp
FIGURES = ("bac", "pv", "ev", "ac", "cpi", "spi", "eac", "etc", "vac")
MONEY = ("bac", "pv", "ev", "ac", "eac", "etc", "vac")
YEN_PRICES = {"project_management": (1300000, 1365433), "site_management": (188889, 188889),
              "pass_through": (1900000, 1900000)}  # (original, change order) per unit


def yen_work_order() -> pd.DataFrame:
    frame = work_order().assign(currency="JPY")
    prices = [YEN_PRICES[line][int(pd.notna(change))]
              for line, change in zip(frame["service_line"], frame["change_order"],
                                      strict=True)]
    return frame.assign(unit_price_minor=prices)


def yen_fx() -> FxTable:
    rows = [(dt.date(2024, 1, 1), "EUR", Decimal("0.90")), (dt.date(2024, 1, 1), "GBP",
                                                             Decimal("0.75")),
            (dt.date(2024, 1, 1), "JPY", Decimal("151.37"))]
    return FxTable.from_rows(rows, "test rates")


def yen_payments() -> pd.DataFrame:
    return payments().assign(reporting_amount=[Decimal("750001"), Decimal("1087575"),
                                               Decimal("450000"), Decimal("600000")])


def review_data(currency: str = "EUR") -> ReviewData:
    """ReviewData of the hand-worked study (the yen variant with currency="JPY")."""
    orders, rates, paid = ((work_order(), fx(), payments()) if currency == "EUR"
                           else (yen_work_order(), yen_fx(), yen_payments()))
    p = portfolio()
    budget = budget_in_force(orders, AS_OF)
    planned = planned_units(p, AS_OF)
    delivered = units_delivered(p, pd.DataFrame(columns=["study_id", "month", "visit_type",
                                                         "visits"]), AS_OF)
    actuals = actual_costs(timesheets(), paid, AS_OF, currency, rates)
    evm = earned_value("S1", budget, delivered, planned, actuals, AS_OF)
    cost = actual_cost_months(timesheets(), paid, AS_OF, currency, rates)
    bands = pd.DataFrame({"milestone": ["lpi"], "p10": [T("2024-11-15")],
                          "p50": [T("2024-12-15")], "p90": [T("2025-02-15")]})
    burn = monthly_burn(p, "S1", budget, evm, cost, AS_OF, bands)
    sites = pd.DataFrame({
        "country": ["DE", "DE", "PL"], "site_id": ["S01", "S02", "S03"],
        "currency": ["EUR", "EUR", "PLN"],
        "earned_minor": [1289550, 710000, 0], "invoiced_minor": [1200000, 650000, 0],
        "paid_minor": [900000, 625050, 0],
        "reporting_paid_minor": [900000, 625050, 0] if currency == "EUR" else
        [145000, 100705, 0]})
    months = [T(f"{m}-01") for m in ("2024-03", "2024-05", "2024-06")]
    through = pd.DataFrame({"month": months, "item": "investigator grants (payment run)",
                            "amount_minor": [to_minor(a, currency) for a in
                                             paid["reporting_amount"].iloc[:3]]})
    n = 11
    recruitment = pd.DataFrame({
        "month": pd.date_range("2024-03-01", periods=n, freq="MS"),
        "actual": pd.array([2, 5, 9, 12] + [None] * 7, dtype="Int64"),
        "planned": [6.1, 12.3, 18.6, 24.8, 31.1, 37.5, 43.6, 50, 50, 50, 50],
        "p10": [np.nan] * 3 + [12, 15, 19, 23, 27, 31, 35, 39],
        "p50": [np.nan] * 3 + [12, 17, 22, 28, 33, 38, 43, 48],
        "p90": [np.nan] * 3 + [12, 19, 26, 33, 39, 45, 50, 50]})
    return ReviewData(
        study_id="S1", title="Hand-worked study", sponsor="Acme", currency=currency,
        as_of=AS_OF, evm=evm, budget=budget, planned=planned,
        change_orders=change_order_log(orders, AS_OF), burn=burn, site_payments=sites,
        pass_throughs=through, recruitment=recruitment,
        assumptions=[("CRF pages per subject visit", "8", "crf_pages driver"),
                     ("FX", "month-end rates", "test rates")])


def evm_of(orders: pd.DataFrame, currency: str = "EUR") -> pd.DataFrame:
    rates, paid = (fx(), payments()) if currency == "EUR" else (yen_fx(), yen_payments())
    p = portfolio()
    return earned_value(
        "S1", budget_in_force(orders, AS_OF),
        units_delivered(p, pd.DataFrame(columns=["study_id", "month", "visit_type", "visits"]),
                        AS_OF), planned_units(p, AS_OF),
        actual_costs(timesheets(), paid, AS_OF, currency, rates), AS_OF)


def table(sheet: Worksheet, header_row: int = 1) -> list[dict]:
    """Rows of a sheet as dicts by header (blank rows left out)."""
    rows = sheet.iter_rows(min_row=header_row, values_only=True)
    header = next(rows)
    out = []
    for row in rows:
        if all(v is None for v in row):
            continue
        out.append(dict(zip(header, row, strict=False)))
    return out


def close(value: object, expected: str | Decimal) -> bool:
    """A computed cell equals the decimal figure (float noise below 10^-6 only)."""
    return isinstance(value, int | float) and abs(
        Decimal(repr(float(value))) - Decimal(expected)) < Decimal("0.000001")


def assert_service_lines(book: Workbook, data: ReviewData) -> None:
    """Every formula value on Service lines and Summary equals budget_json to the cent."""
    expected = {r["service_line"]: r for r in budget_json(data.evm)}
    rows = {r[LINE_HEADERS["service_line"]]: r for r in table(book["Service lines"])}
    assert set(rows) == set(expected)
    for line, want in expected.items():
        got = rows[line]
        for key in FIGURES:
            value = got[LINE_HEADERS[key]]
            if key in ("cpi", "spi"):
                if want[key] is None:
                    assert value in (None, ""), (line, key, value)
                    continue
                exact = data.evm.set_index("service_line").at[line, key]
                assert abs(Decimal(repr(value)) - exact) < Decimal("1e-12"), (line, key)
                assert Decimal(repr(value)).quantize(Decimal("0.0001"), ROUND_HALF_UP) == \
                    Decimal(want[key]), (line, key, value)
            else:
                assert close(value, want[key]), (line, key, value, want[key])
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(max_col=2, values_only=True)
               if isinstance(r[0], str)}
    total = expected["total"]
    for key in FIGURES:
        label = next(k for k in summary if k.startswith(f"{key.upper()}:"))
        if key in ("cpi", "spi"):
            assert Decimal(repr(summary[label])).quantize(Decimal("0.0001"), ROUND_HALF_UP) \
                == Decimal(total[key])
        else:
            assert close(summary[label], total[key]), (key, summary[label])
    cur = data.currency
    original = from_minor(int(data.budget["original_bac_minor"].sum()), cur)
    log = data.change_orders
    in_force = from_minor(int(log.loc[log["effective"], "value_minor"].sum()), cur)
    assert close(summary["original contract value"], original)
    assert close(summary["change orders in force"], in_force)
    assert original + in_force == Decimal(total["bac"])  # the budget's history adds up
    assert close(summary[f"investigator grants paid ({cur})"], from_minor(
        int(data.site_payments["reporting_paid_minor"].sum()), cur))
    assert close(summary["pass-through costs"], from_minor(
        int(data.pass_throughs["amount_minor"].sum()), cur))
    assert summary["subjects randomized to date"] == 12


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review")


@pytest.fixture(scope="module")
def profile(folder: Path) -> Path:
    return folder / "lo-profile"  # one LibreOffice profile for the module: starts faster


def halves_data() -> ReviewData:
    """Figures that end in exactly half a cent before rounding: the spreadsheet's ROUND
    must round them half up as Python does, through binary floating point.

    pass_through: 12.5 × 333.33 = 4,166.625 → BAC 4,166.63 (Python's float round gives
    4,166.62). site_management with AC 9,043.41: (BAC − EV) / EV = 38 / 12 = 19 / 6, so
    EAC = 9,043.41 + 9,043.41 × 19 / 6 = 9,043.41 + 28,637.465 → 37,680.88.
    """
    data = review_data()
    orders = work_order()
    first = (orders["service_line"] == "pass_through") & orders["change_order"].isna()
    orders.loc[first, "units"] = Decimal("12.5")
    orders.loc[first, "unit_price_minor"] = 33333
    p = portfolio()
    actuals = pd.DataFrame({"service_line": ["project_management", "site_management",
                                             "pass_through"],
                            "ac_minor": [1914250, 904341, 1525050]})
    budget = budget_in_force(orders, AS_OF)
    evm = earned_value("S1", budget, units_delivered(p, pd.DataFrame(
        columns=["study_id", "month", "visit_type", "visits"]), AS_OF),
        planned_units(p, AS_OF), actuals, AS_OF)
    return replace(data, evm=evm, budget=budget, change_orders=change_order_log(orders, AS_OF))


def half_lines_data(currency: str) -> ReviewData:
    """Lines whose exact figures end in half a minor unit (a yen, a cent) while the
    spreadsheet's binary floating point lands just below the half (4.35 × 110 =
    478.49999999999994): ROUND(…, 0) alone gives 478 in LibreOffice, the workbook's
    ROUND(ROUND(…)) must give 479 as Python does. Prices in minor units, the same in
    JPY (¥110) and EUR (€1.10), so the figures below are the same minor units in both.

    Hand-worked (S1 at D = 2024-06-20; minor units):

    * regulatory, fixed: original 2 × 110 = 220; CO-04 (2024-03-01) 4.35 × 110 = 478.5
      → BAC 479 (CO-04's value 259); CO-05 (2024-09-01, after D) 6.15 × 110 = 676.5 →
      677, its budget before 4.35 × 110 → 479, value 198. PV = 4.35 × 1 × 110 → 479;
      EV = min(1, 4.35) × 110 = 110; AC 0 → EAC = BAC = 479, ETC 479, VAC 0.
    * site_management, monitoring_visits: 10 × 110 = BAC 1,100; delivered 3.00 IMV
      (March) + 1.35 remote IMV (April) = 4.35 → EV 478.5 → 479; PV share linear in
      days from 2024-02-15 to 2025-05-15: 126/455 = 18/65 → 10 × 18/65 × 110 =
      304.61… → 305; AC 500 → EAC = 500 + (1,100 − 479) × 500 / 479 = 500 + 648.22…
      → 1,148; ETC 648; VAC −48.
    * data_management, subjects_randomized: 50 × 2,867 = BAC 143,350; PV = 50 ×
      111/244 × 2,867 = 15,911,850 / 244 = 65,212.5 → 65,213 (float:
      65,212.49999999999); EV = 12 × 2,867 = 34,404; AC 1 → EAC = 1 + 108,946 / 34,404
      = 1 + 3.17 → 4, ETC 3, VAC 143,346; CPI = 34,404 (a wide ratio).
    * biostatistics, subjects_randomized: 50 × 10,000,250 = BAC 500,012,500; EV =
      12 × 10,000,250 = 120,003,000; PV = 5,550 × 10,000,250 / 244 = 227,464,702.87 →
      227,464,703; AC 123,456,783 → (BAC − EV) × AC / EV = 19 × 123,456,783 / 6 =
      390,946,479.5 (float: 390,946,479.49999994) → 390,946,480; EAC 514,403,263;
      VAC −14,390,763.
    * total: BAC 500,157,429; PV 227,530,700; EV 120,037,993; AC 123,457,284;
      EAC 514,404,894; ETC 390,947,610; VAC −14,247,465.
    """
    def row(line: str, driver: str, units: str, price: int, start: str,
            change: str | None = None) -> dict:
        return {"study_id": "S1", "service_line": line, "driver": driver,
                "units": Decimal(units), "unit_price_minor": price, "currency": currency,
                "effective_from": T(start), "change_order": change, "reason": change}

    orders = pd.DataFrame([
        row("regulatory", "fixed", "2", 110, "2024-01-10"),
        row("regulatory", "fixed", "4.35", 110, "2024-03-01", "CO-04"),
        row("regulatory", "fixed", "6.15", 110, "2024-09-01", "CO-05"),
        row("site_management", "monitoring_visits", "10", 110, "2024-01-10"),
        row("data_management", "subjects_randomized", "50", 2867, "2024-01-10"),
        row("biostatistics", "subjects_randomized", "50", 10000250, "2024-01-10"),
    ]).astype({"change_order": "string", "reason": "string",
               "effective_from": "datetime64[s]"})
    work = pd.DataFrame({"study_id": "S1", "site_id": "S01", "role": "CRA",
                         "month": pd.PeriodIndex(["2024-03", "2024-04"], freq="M"),
                         "visit_type": ["IMV", "remote IMV"], "visits": [3.0, 1.35],
                         "hours": 0.0})
    actuals = pd.DataFrame({"service_line": ["site_management", "data_management",
                                             "biostatistics"],
                            "ac_minor": [500, 1, 123456783]})
    p = portfolio()
    budget = budget_in_force(orders, AS_OF)
    evm = earned_value("S1", budget, units_delivered(p, work, AS_OF), planned_units(p, AS_OF),
                       actuals, AS_OF)
    return replace(review_data(currency), evm=evm, budget=budget,
                   change_orders=change_order_log(orders, AS_OF))


HALF_LINES = {  # line: (BAC, PV, EV, AC, EAC, ETC, VAC) in minor units, hand-worked above
    "site_management": (1100, 305, 479, 500, 1148, 648, -48),
    "data_management": (143350, 65213, 34404, 1, 4, 3, 143346),
    "biostatistics": (500012500, 227464703, 120003000, 123456783, 514403263, 390946480,
                      -14390763),
    "regulatory": (479, 479, 110, 0, 479, 479, 0),
    "total": (500157429, 227530700, 120037993, 123457284, 514404894, 390947610, -14247465)}


def test_half_lines_by_hand() -> None:
    for currency in ("JPY", "EUR"):
        evm = half_lines_data(currency).evm.set_index("service_line")
        got = {line: tuple(int(evm.at[line, f"{k}_minor"]) for k in MONEY)
               for line in evm.index}
        assert got == HALF_LINES, currency
    log = half_lines_data("JPY").change_orders.set_index("change_order")
    assert log["budget_before_minor"].tolist() == [220, 479]
    assert log["budget_minor"].tolist() == [479, 677]
    assert log["value_minor"].tolist() == [259, 198]


@pytest.fixture(scope="module")
def books(folder: Path) -> dict[str, tuple[ReviewData, Path]]:
    out = {}
    for name, data in (("EUR", review_data()), ("JPY", review_data("JPY")),
                       ("halves", halves_data()), ("half yen", half_lines_data("JPY")),
                       ("half cents", half_lines_data("EUR"))):
        out[name] = (data, write_review(data, folder / f"review-{name}.xlsx"))
    return out


def test_sheets_formats_and_charts(books: dict[str, tuple[ReviewData, Path]]) -> None:
    _, path = books["EUR"]
    book = load_workbook(path)
    assert tuple(book.sheetnames) == SHEETS
    lines = book["Service lines"]
    header = [c.value for c in lines[1]]
    col = {k: header.index(h) + 1 for k, h in LINE_HEADERS.items()}
    # site_management (row 3): BAC, PV, EV, EAC as formulas rounded to the cent
    # units × price is exact at 2 + 2 decimals: rounded there first, then to the cent
    assert lines.cell(3, col["bac"]).value == "=ROUND(ROUND(C3*D3,4),2)"
    assert lines.cell(3, col["pv"]).value == "=ROUND(ROUND(C3*F3*D3,8),2)"
    assert lines.cell(3, col["share"]).value == "=111/244"  # the exact planned share
    assert lines.cell(3, col["ev"]).value == "=ROUND(ROUND(MIN(E3,C3)*D3,4),2)"
    # AC = 0: BAC; EV = 0: AC + BAC; else AC + (BAC − EV) × AC / EV
    assert lines.cell(3, col["eac"]).value == (
        "=IF(K3=0,H3,IF(J3=0,K3+H3,K3+ROUND(ROUND((H3-J3)*K3/J3,8),2)))")
    assert lines.cell(5, 1).value == "total" and lines.cell(5, col["bac"]).value == "=SUM(H2:H4)"
    assert lines.cell(3, col["unit_price"]).number_format == "#,##0.00"
    assert lines.freeze_panes == "B2" and lines.auto_filter.ref == "A1:U4"
    assert lines.column_dimensions["T"].hidden and lines.column_dimensions["U"].hidden
    rules = {str(r.sqref): r.rules[0].formula[0] for r in lines.conditional_formatting}
    assert rules == {"N2:N5": "N2>H2", "L2:L5": "AND(ISNUMBER(L2),L2<0.95)"}
    for name in SHEETS[1:]:
        sheet = book[name]
        assert sheet.freeze_panes in ("A2", "B2"), name
        for letter in "ABC":
            assert sheet.column_dimensions[letter].width >= 8, (name, letter)
    charts = {name: len(book[name]._charts) for name in SHEETS}
    assert charts == {"Summary": 1, "Service lines": 0, "Monthly burn": 1, "Site payments": 0,
                      "Pass-throughs": 0, "Change orders": 0, "Recruitment": 1,
                      "Assumptions": 0}
    with zipfile.ZipFile(path) as archive:
        xml = [archive.read(n).decode() for n in archive.namelist()
               if n.startswith("xl/charts/chart")]
    assert len(xml) == 3
    assert all("lineChart" in x and 'smooth val="1"' not in x for x in xml)
    assert sum('smooth val="0"' in x for x in xml) == 3
    assert any("areaChart" in x for x in xml)  # the P10–P90 band
    yen = load_workbook(books["JPY"][1])["Service lines"]
    assert yen.cell(3, col["bac"]).value == "=ROUND(ROUND(C3*D3,2),0)"
    assert yen.cell(3, col["pv"]).value == "=ROUND(ROUND(C3*F3*D3,6),0)"
    assert yen.cell(3, col["unit_price"]).number_format == "#,##0"
    orders = load_workbook(books["JPY"][1])["Change orders"]
    assert orders["K2"].value == '=IF(G2="",0,ROUND(ROUND(G2*I2,2),0))'
    assert orders["L2"].value == "=ROUND(ROUND(H2*J2,2),0)"
    # CPI and SPI columns as wide as their ratios (sized for 1.0 before, ### then):
    # data_management's CPI is 34,404 / 1 = "34404.0000"
    wide = load_workbook(books["half yen"][1])["Service lines"]
    assert wide.column_dimensions[get_column_letter(col["cpi"])].width >= len("34404.0000")


def test_formula_values_recalculated_by_libreoffice_equal_python(
        books: dict[str, tuple[ReviewData, Path]], folder: Path, profile: Path) -> None:
    libreoffice.require_soffice()
    recalculated = libreoffice.recalculate_all([path for _, path in books.values()],
                                               folder / "calc", profile)  # one start
    for (name, (data, _)), calculated in zip(books.items(), recalculated, strict=True):
        cur = data.currency
        book = load_workbook(calculated, data_only=True)
        assert_service_lines(book, data)
        rows = {r["service line"]: r for r in table(book["Service lines"])}
        if name == "halves":
            assert close(rows["pass_through"]["BAC"], "4166.63")
            assert close(rows["site_management"]["EAC"], "37680.88")
        if name in ("half yen", "half cents"):  # the halves rounded up, as in Python
            for line, figures in HALF_LINES.items():
                for key, minor in zip(MONEY, figures, strict=True):
                    assert close(rows[line][LINE_HEADERS[key]], from_minor(minor, cur)), (
                        name, line, key)
        orders = table(book["Change orders"])
        log = data.change_orders
        for row, want in zip(orders[:len(log)], log.itertuples(), strict=True):
            assert row["change order"] == want.change_order
            for header, minor in (("budget before", want.budget_before_minor),
                                  ("budget", want.budget_minor), ("value", want.value_minor)):
                assert close(row[header], from_minor(int(minor), cur)), (header, row)
        totals = {r["change order"]: r["value"] for r in orders[len(log):]}
        assert close(totals["in force"], from_minor(
            int(log.loc[log["effective"], "value_minor"].sum()), cur))
        assert close(totals["all"], from_minor(int(log["value_minor"].sum()), cur))
        sites = table(book["Site payments"])
        by_currency = {r["country"]: r for r in sites
                       if str(r["country"]).startswith("total ")}
        frame = data.site_payments
        for code in ("EUR", "PLN"):
            own = frame[frame["currency"] == code]
            for header, column in (("earned", "earned_minor"), ("paid", "paid_minor")):
                assert close(by_currency[f"total {code}"][header],
                             from_minor(int(own[column].sum()), code))
        burn = table(book["Monthly burn"])
        for row, want in zip(burn, data.burn.itertuples(), strict=True):
            if pd.isna(want.actual_minor):
                assert row["actual − planned"] in (None, "")
            else:
                assert close(row["actual − planned"], from_minor(
                    int(want.actual_minor - want.planned_minor), cur))
        band = table(book["Recruitment"])
        assert [r["P10–P90 band"] for r in band][3:] == [0, 4, 7, 10, 12, 14, 15, 11]


def test_libreoffice_prints_every_sheet(books: dict[str, tuple[ReviewData, Path]],
                                        folder: Path, profile: Path, tmp_path: Path) -> None:
    libreoffice.require_soffice()
    wide_pdf, pdf = libreoffice.to_pdfs([books["half yen"][1], books["EUR"][1]],
                                        folder / "pdf", profile)  # one start
    wide = libreoffice.pdf_text(wide_pdf)
    assert "###" not in wide and "34404.0000" in wide  # the CPI column fits its ratio
    assert libreoffice.pdf_pages(pdf) >= len(SHEETS)
    text = libreoffice.pdf_text(pdf)
    for name in SHEETS:  # each page's header names its sheet
        assert name in text, name
    assert "###" not in text  # every column is wide enough for its numbers
    for figure in ("325,941.70", "183,036.83", "37,680.83", "1.7386", "CO-02"):
        assert figure in text, figure
    artifacts = Path(os.environ.get("TRIALPLAN_ARTIFACTS") or tmp_path)
    png = libreoffice.to_png(pdf, artifacts, page=1, dpi=80)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_round_trip_edit_units_to_a_change_order(
        books: dict[str, tuple[ReviewData, Path]], folder: Path, profile: Path,
        tmp_path: Path) -> None:
    _, exported = books["EUR"]
    path = tmp_path / "edited.xlsx"
    shutil.copy(exported, path)
    assert change_order_from_workbook(path, "S1", "CO-04", dt.date(2024, 6, 15),
                                      "nothing changed").empty
    book = load_workbook(path)
    lines = book["Service lines"]
    assert lines["A3"].value == "site_management" and lines["C3"].value == 50
    lines["C3"] = 55  # five more subjects
    book.save(path)
    rows = change_order_from_workbook(path, "S1", "CO-04", dt.date(2024, 6, 15),
                                      "five more subjects")
    assert list(rows.columns) == EXCHANGE
    assert rows.to_dict("records") == [{
        "study_id": "S1", "service_line": "site_management", "driver": "subjects_randomized",
        "units": "55.00", "unit_price": "1234.57", "currency": "EUR",
        "effective_from": "2024-06-15", "change_order": "CO-04",
        "reason": "five more subjects"}]
    # imported as a change order: BAC 55 × 1,234.57 = 67,901.35; EV and AC unchanged, so
    # EAC = 9,043.40 + 9,043.40 × (55 − 12) / 12 = 9,043.40 + 32,405.5166… → 41,448.92;
    # total EAC 114,855.00 + 41,448.92 + 30,501.00 = 186,804.92
    imported = rows.assign(units=[Decimal(u) for u in rows["units"]],
                           unit_price_minor=[to_minor(Decimal(p), "EUR")
                                             for p in rows["unit_price"]],
                           effective_from=pd.to_datetime(rows["effective_from"]))
    orders = pd.concat([work_order(), imported[work_order().columns]], ignore_index=True)
    after = {r["service_line"]: r for r in budget_json(evm_of(orders))}
    assert (after["site_management"]["bac"], after["site_management"]["eac"]) == (
        "67901.35", "41448.92")
    assert after["total"]["eac"] == "186804.92"
    # the spreadsheet's formulas give the same from the edited units
    if libreoffice.SOFFICE:
        calc = load_workbook(libreoffice.recalculate(path, tmp_path / "calc", profile),
                             data_only=True)
        got = {r["service line"]: r for r in table(calc["Service lines"])}
        assert close(got["site_management"]["BAC"], "67901.35")
        assert close(got["site_management"]["EAC"], "41448.92")
        assert close(got["total"]["EAC"], "186804.92")


def test_round_trip_a_line_added_on_the_sheet(books: dict[str, tuple[ReviewData, Path]],
                                              tmp_path: Path) -> None:
    path = tmp_path / "added.xlsx"
    book = load_workbook(books["EUR"][1])
    lines = book["Service lines"]
    for column, value in zip("ABCDS", ("regulatory", "deliverables", 2, 4500.5, "EUR"),
                             strict=True):
        lines[f"{column}6"] = value
    book.save(path)
    rows = change_order_from_workbook(path, "S1", "CO-05", dt.date(2024, 7, 1), "filings")
    assert rows[["service_line", "driver", "units", "unit_price"]].values.tolist() == [
        ["regulatory", "deliverables", "2.00", "4500.50"]]


@pytest.mark.parametrize(("cell", "value", "message"), [
    ("A3", "catering", r"Service lines!A3: unknown service line 'catering'"),
    ("S4", "USD", r"Service lines!S4: the sheet mixes currencies \['EUR', 'USD'\]"),
    ("D3", 1234.565, r"Service lines!D3: unit price 1234.565: expected a number ≥ 0 with at "
                     r"most 2 decimals"),
    ("C3", "fifty", r"Service lines!C3: units 'fifty' is not a number"),
    ("C3", -5, r"Service lines!C3: units -5: expected a number ≥ 0"),
    ("C3", "=50+5", r"Service lines!C3: a formula without a saved value"),
    ("B3", "visits", r"Service lines!B3: driver 'visits' of the changed line"),
])
def test_round_trip_refuses_bad_cells(books: dict[str, tuple[ReviewData, Path]],
                                      tmp_path: Path, cell: str, value: object,
                                      message: str) -> None:
    path = tmp_path / "bad.xlsx"
    book = load_workbook(books["EUR"][1])
    book["Service lines"][cell] = value
    if cell == "B3":
        book["Service lines"]["C3"] = 55
    book.save(path)
    with pytest.raises(WorkbookError, match=message):
        change_order_from_workbook(path, "S1", "CO-04", dt.date(2024, 6, 15), "test")


def test_round_trip_refuses_another_study_and_other_files(
        books: dict[str, tuple[ReviewData, Path]], tmp_path: Path) -> None:
    with pytest.raises(WorkbookError, match="review of study S1, not S2"):
        change_order_from_workbook(books["EUR"][1], "S2", "CO-04", dt.date(2024, 6, 15), "x")
    with pytest.raises(WorkbookError, match="needs an id"):
        change_order_from_workbook(books["EUR"][1], "S1", " ", dt.date(2024, 6, 15), "x")
    other = tmp_path / "other.xlsx"
    book = load_workbook(books["EUR"][1])
    del book["Service lines"]
    book.save(other)
    with pytest.raises(WorkbookError, match="has no sheet 'Service lines'"):
        change_order_from_workbook(other, "S1", "CO-04", dt.date(2024, 6, 15), "x")
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    with pytest.raises(WorkbookError, match="not a readable .xlsx"):
        change_order_from_workbook(text, "S1", "CO-04", dt.date(2024, 6, 15), "x")


def test_review_data_refuses_what_it_cannot_show() -> None:
    data = review_data()
    total_only = data.evm[data.evm["service_line"] == "total"]
    with pytest.raises(BudgetError, match="S1 has no work order"):
        replace(data, evm=total_only)
    with pytest.raises(BudgetError, match=r"evm in \['EUR'\], the study is in USD"):
        replace(data, currency="USD")
    with pytest.raises(BudgetError, match="site_payments lacks the columns"):
        replace(data, site_payments=data.site_payments.drop(columns="paid_minor"))
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        replace(data, currency="EURO")


def large_review(sites: int = 500, months: int = 36) -> ReviewData:
    """The hand-worked figures with a 500-site, 36-month study's sheets."""
    data = review_data()
    rng = np.random.default_rng(6)
    stamps = pd.date_range("2024-01-01", periods=months, freq="MS")
    planned = np.cumsum(rng.integers(100_000, 2_000_000, months))
    burn = pd.DataFrame({"month": stamps, "planned_minor": planned,
                         "actual_minor": pd.array([*planned[:12] // 2, *[None] * (months - 12)],
                                                  dtype="Int64"),
                         "forecast_minor": pd.array([None] * 11 + list(planned[11:]),
                                                    dtype="Int64"),
                         "forecast_p10_minor": pd.array([None] * months, dtype="Int64"),
                         "forecast_p90_minor": pd.array([None] * months, dtype="Int64"),
                         "currency": "EUR"})
    earned = rng.integers(0, 50_000_000, sites)
    site_payments = pd.DataFrame({
        "country": rng.choice(["DE", "FR", "PL", "US", "JP"], sites),
        "site_id": [f"S{i:04d}" for i in range(sites)], "currency": "EUR",
        "earned_minor": earned, "invoiced_minor": earned // 10 * 9,
        "paid_minor": earned // 10 * 8, "reporting_paid_minor": earned // 10 * 8})
    through = pd.DataFrame({"month": np.repeat(stamps, 20), "item": "grants",
                            "amount_minor": rng.integers(0, 10_000_000, months * 20)})
    return replace(data, burn=burn, site_payments=site_payments, pass_throughs=through)


def test_large_study_has_a_row_per_site(tmp_path: Path) -> None:
    """The size benchmarks/review_workbook.py times (the time is measured there, not
    asserted in a test that shares its cores with others)."""
    write_review(large_review(), tmp_path / "large.xlsx")
    book = load_workbook(tmp_path / "large.xlsx", read_only=True)
    sites = [r for r in book["Site payments"].iter_rows(values_only=True) if r[1:2] != (None,)
             and len(r) > 1]
    assert len(sites) == 1 + 500  # header and one row per site
