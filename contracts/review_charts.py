"""The sheets of the sponsor review workbook that carry charts: Monthly burn (planned,
actual, forecast and its P10/P90 lines), Recruitment (actual, plan, P50 and a shaded
P10–P90 band) and Summary (the figures as references to the other sheets, and the burn
chart). Lines are straight between months (``smooth = False``: openpyxl smooths line
charts by default); the charts read their series from the sheets' cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from openpyxl.chart import AreaChart, LineChart, Reference
from openpyxl.chart.legend import LegendEntry
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from contracts.budget_lines import TOTAL
from contracts.review_sheets import (
    COLUMN,
    COUNT,
    CPI_ALERT,
    DATE,
    FONT,
    MONTH,
    RATIO,
    Put,
    amount,
    cell,
    day,
    flag,
    missing,
    money,
    page_setup,
    signed,
    table,
    widths,
)

if TYPE_CHECKING:
    from contracts.review_workbook import ReviewData

WIDTH_CM, HEIGHT_CM = 24.0, 11.0
# series name → (colour, dash style or None, width in EMU)
STYLE = {
    "planned": ("7F7F7F", "dash", 22000),
    "actual": ("1F4E79", None, 28000),
    "forecast": ("C55A11", None, 22000),
    "forecast P10": ("C55A11", "sysDot", 12700),
    "forecast P90": ("C55A11", "sysDot", 12700),
    "randomized": ("1F4E79", None, 28000),
    "P50": ("2E75B6", "dash", 19050),
}
BAND_FILL = "BDD7EE"
BURN_NAMES = ("planned", "actual", "forecast", "forecast P10", "forecast P90")
BURN_COLUMNS = ("planned_minor", "actual_minor", "forecast_minor", "forecast_p10_minor",
                "forecast_p90_minor")


def _style(chart: LineChart, names: Sequence[str]) -> None:
    for series, name in zip(chart.series, names, strict=True):
        series.smooth = False
        colour, dash, width = STYLE.get(name, ("404040", None, 19050))
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = width
        if dash:
            series.graphicalProperties.line.dashStyle = dash


def _axes(chart: LineChart | AreaChart, y_title: str, y_format: str) -> None:
    chart.x_axis.number_format = "yyyy-mm"
    chart.x_axis.delete = False  # openpyxl 3.1 hides axes unless told
    chart.y_axis.delete = False
    chart.y_axis.title = y_title
    chart.y_axis.number_format = y_format
    chart.legend.position = "b"


def line_chart(sheet: WriteOnlyWorksheet, title: str, columns: dict[str, int], last_row: int,
               y_title: str, y_format: str) -> LineChart:
    """Cumulative lines over the months of column A (rows 2..``last_row``), one series per
    ``columns`` entry (header name → column number; the header is the series title)."""
    chart = LineChart()
    chart.title = title
    chart.width, chart.height = WIDTH_CM, HEIGHT_CM
    for column in columns.values():
        chart.add_data(Reference(sheet, min_col=column, min_row=1, max_row=last_row),
                       titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last_row))
    _style(chart, list(columns))
    _axes(chart, y_title, y_format)
    chart.display_blanks = "gap"
    return chart


def band_chart(sheet: WriteOnlyWorksheet, title: str, lines: dict[str, int],
               low: int, width: int, last_row: int, y_title: str) -> AreaChart:
    """A shaded band between ``low`` and ``low + width`` (stacked areas, the lower one
    transparent) under the ``lines`` (header name → column number)."""
    area = AreaChart()
    area.grouping = "stacked"
    area.title = title
    area.width, area.height = WIDTH_CM, HEIGHT_CM
    for column in (low, width):
        area.add_data(Reference(sheet, min_col=column, min_row=1, max_row=last_row),
                      titles_from_data=True)
    area.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last_row))
    base, band = area.series
    base.graphicalProperties = GraphicalProperties(noFill=True)
    base.graphicalProperties.line.noFill = True
    band.graphicalProperties = GraphicalProperties(solidFill=BAND_FILL)
    band.graphicalProperties.line.noFill = True
    _axes(area, y_title, "#,##0")
    area.legend.legendEntry = [LegendEntry(idx=0, delete=True)]  # the transparent base
    line = line_chart(sheet, title, lines, last_row, y_title, "#,##0")
    area += line
    return area


def burn_sheet(sheet: WriteOnlyWorksheet, burn: pd.DataFrame, currency: str) -> int:
    """Cumulative planned, actual and forecast cost by month with the burn chart; the
    variance actual − planned is a formula. Returns the last data row."""
    rows = []
    for r, row in enumerate(burn.itertuples(index=False), start=2):
        values = [amount(getattr(row, c), currency) for c in BURN_COLUMNS]
        rows.append([day(row.month), *values,
                     Put(f'=IF(C{r}="","",C{r}-B{r})', shows=values[0])])
    fmt = money(currency)
    last = table(sheet, ["month", *BURN_NAMES, "actual − planned"],
                 [MONTH, fmt, fmt, fmt, fmt, fmt, signed(currency)], rows)
    sheet.add_chart(burn_chart(sheet, burn, currency, last), "I2")
    return last


def burn_chart(sheet: WriteOnlyWorksheet, burn: pd.DataFrame, currency: str,
               last: int) -> LineChart:
    """The burn chart on ``sheet``'s columns (P10/P90 only when the burn has them)."""
    shown = {name: i for i, (name, column) in enumerate(
        zip(BURN_NAMES, BURN_COLUMNS, strict=True), start=2)
        if burn[column].notna().any() or name in ("planned", "actual", "forecast")}
    return line_chart(sheet, f"Cumulative cost ({currency})",
                      shown, last, currency, "#,##0")


def recruitment_sheet(sheet: WriteOnlyWorksheet, frame: pd.DataFrame) -> int:
    """Cumulative randomized: actual, baseline plan and the forecast P10/P50/P90, with the
    recruitment chart (the band's low edge and width are formulas). Returns the last
    data row."""
    rows = []
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        values = [None if missing(v) else float(v)
                  for v in (row.actual, row.planned, row.p10, row.p50, row.p90)]
        both = f"COUNT(D{r},F{r})<2"
        rows.append([day(row.month), *values,
                     Put(f'=IF({both},"",MIN(D{r},F{r}))', shows=values[4]),
                     Put(f'=IF({both},"",ABS(F{r}-D{r}))', shows=values[4])])
    headers = ["month", "randomized", "planned", "P10", "P50", "P90", "band low",
               "P10–P90 band"]
    last = table(sheet, headers, [MONTH, COUNT, "#,##0.0", "#,##0.0", "#,##0.0", "#,##0.0",
                                  "#,##0.0", "#,##0.0"], rows)
    chart = band_chart(sheet, "Recruitment: cumulative randomized",
                       {"randomized": 2, "planned": 3, "P50": 5}, low=7, width=8,
                       last_row=last, y_title="subjects")
    sheet.add_chart(chart, "J2")
    return last


FIGURES = (("bac", "BAC: budget at completion"), ("pv", "PV: planned value"),
           ("ev", "EV: earned value"), ("ac", "AC: actual cost"),
           ("cpi", "CPI: cost performance (EV / AC)"),
           ("spi", "SPI: schedule performance (EV / PV)"),
           ("eac", "EAC: estimate at completion"), ("etc", "ETC: estimate to complete"),
           ("vac", "VAC: variance at completion (BAC − EAC)"))


@dataclass(frozen=True)
class Rows:
    """Rows the Summary refers to on the other sheets."""

    lines_total: int
    site_total: int
    pass_total: int
    change_orders_in_force: int
    recruitment_last: int


def summary_sheet(sheet: WriteOnlyWorksheet, data: ReviewData, at: Rows,
                  chart: LineChart | None = None) -> None:
    """Study, the earned value figures, budget and costs, and the lines (references to
    the other sheets), then ``chart`` (the burn chart)."""
    cur, fmt, c, t = data.currency, money(data.currency), COLUMN, at.lines_total
    total = data.evm[data.evm["service_line"] == TOTAL].iloc[0]
    lines = data.evm[data.evm["service_line"] != TOTAL]

    def line_ref(key: str, row: int) -> str:
        return f"='Service lines'!{c[key]}{row}"

    def shows(key: str, row: pd.Series = total) -> object:
        return row[key] if key in ("cpi", "spi") else amount(row[f"{key}_minor"], cur)

    def fmt_of(key: str) -> str:
        return RATIO if key in ("cpi", "spi") else signed(cur) if key == "vac" else fmt

    rows: list[list[Put]] = [
        [Put(f"Sponsor budget review: {data.study_id}", bold=True)], [],
        [Put("study"), Put(data.study_id)], [Put("title"), Put(data.title)],
        [Put("sponsor"), Put(data.sponsor)], [Put("currency"), Put(cur)],
        [Put("as of"), Put(data.as_of, DATE)], [],
        [Put(f"Earned value ({cur}; formulas on the Service lines sheet)", bold=True)]]
    figure_row = {}
    for key, label in FIGURES:
        figure_row[key] = len(rows) + 1
        rows.append([Put(label), Put(line_ref(key, t), fmt_of(key), shows(key))])
    grants = amount(data.site_payments["reporting_paid_minor"].sum(), cur)
    rows += [[], [Put("Budget and costs", bold=True)],
             [Put("original contract value"), Put(line_ref("original", t), fmt,
                                                  shows("bac"))],
             [Put("change orders in force"),
              Put(f"='Change orders'!M{at.change_orders_in_force}", signed(cur),
                  shows("bac"))],
             [Put("budget in force (BAC)"), Put(f"=B{figure_row['bac']}", fmt, shows("bac"))],
             [Put(f"investigator grants paid ({cur})"),
              Put(f"='Site payments'!H{at.site_total}", fmt, grants)],
             [Put("pass-through costs"), Put(f"='Pass-throughs'!C{at.pass_total}", fmt,
                                             shows("ac"))],
             [Put("subjects randomized to date"),
              Put(f"=MAX(Recruitment!B2:B{max(at.recruitment_last, 2)})", "#,##0", 1000)],
             [], [Put("By service line", bold=True)],
             [Put(h, bold=True) for h in ("service line", "BAC", "EAC", "VAC", "CPI", "SPI")]]
    first = len(rows) + 1
    keys = ("bac", "eac", "vac", "cpi", "spi")
    for i, (_, row) in enumerate(lines.iterrows()):
        rows.append([Put(line_ref("service_line", i + 2), shows=row["service_line"]),
                     *[Put(line_ref(k, i + 2), fmt_of(k), shows(k, row)) for k in keys]])
    rows.append([Put("total", bold=True),
                 *[Put(line_ref(k, t), fmt_of(k), shows(k), bold=True) for k in keys]])
    end = len(rows)
    # the figures size the columns; the study's texts (a long title) may run over
    sized = widths([""] * 6, rows[figure_row["bac"] - 1:], [None] * 6)
    for i, width in enumerate(sized, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(width, 14)
    sheet.column_dimensions["A"].width = 42
    page_setup(sheet, landscape=False)
    for number, row in enumerate(rows, start=1):
        cells = [cell(sheet, p, None) for p in row]
        if number == 1:
            cells[0].font = Font(name=FONT, bold=True, size=14)
        if number == first - 1:  # the lines' header: amounts are right-aligned
            for out in cells[1:]:
                out.alignment = Alignment(horizontal="right")
        sheet.append(cells)
    eac, bac, cpi = (figure_row[k] for k in ("eac", "bac", "cpi"))
    flag(sheet, f"B{eac}", f"B{eac}>B{bac}")
    flag(sheet, f"B{cpi}", f"AND(ISNUMBER(B{cpi}),B{cpi}<{CPI_ALERT})")
    flag(sheet, f"C{first}:C{end}", f"C{first}>B{first}")
    flag(sheet, f"E{first}:E{end}", f"AND(ISNUMBER(E{first}),E{first}<{CPI_ALERT})")
    if chart is not None:
        chart.width, chart.height = 17.0, 9.0
        sheet.add_chart(chart, f"A{end + 2}")
