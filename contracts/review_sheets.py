"""Layout of the sponsor review workbook's table sheets (docs/SPONSOR_BUDGET.md).

Writes what :class:`contracts.review_workbook.ReviewData` holds; computes
nothing: totals and variances are spreadsheet formulas. Every sheet is written
row by row (openpyxl write-only mode): column widths, frozen panes and page
setup are set before the first row, cells carry their own number format.

A formula cell is a :class:`Put` whose ``shows`` is the figure the formula is
expected to show (from the Python computation): it only sizes the column, so
that no number shows as ``###``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from contracts.minor import from_minor
from contracts.payment_export import number_format

HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
BAD_FILL = PatternFill("solid", fgColor="FFC7CE")
BAD_FONT = Font(color="9C0006")
FONT = "Calibri"  # openpyxl's default; a Font without a name prints in a serif font
BOLD = Font(name=FONT, bold=True)
LINE_HEIGHT = 15  # points per line of a wrapped header
DATE = "yyyy-mm-dd"
MONTH = "yyyy-mm"
UNITS = "#,##0.00"
RATIO = "0.0000"
SHARE = "0.00%"
COUNT = "#,##0"
CPI_ALERT = 0.95  # CPI below this is flagged (an overrun), docs/SPONSOR_BUDGET.md


EXACT_PLACES = 2  # units (2 decimals) × a price of the currency's decimals: exact to 2 more
FRACTION_PLACES = 6  # × a fraction (PV's planned share, EAC's AC / EV): 6 more


def rounded(expression: str, places: int, exact: int) -> str:
    """``ROUND(ROUND(expression, places + exact), places)``: the figure rounded half up to
    the currency's ``places`` as the exact Python figure is.

    A spreadsheet multiplies in binary floating point: 4.35 × 110 is
    478.49999999999994, which LibreOffice's ROUND(…, 0) rounds down to 478 (Python's
    exact half up gives 479; with decimals LibreOffice corrects such noise, with 0 it
    does not). The exact product has at most ``places + exact`` decimals (units ×
    price: 2 more than the price), so rounding there first removes the noise and
    keeps an exact half a half. For a product with an exact fraction (PV: × a planned
    share n/d) ``exact`` = :data:`FRACTION_PLACES` leaves a figure that is no half at
    least 1/(100·d) of a minor unit from a half (d < 20,000: a span of days under 54
    years), more than the 0.5·10⁻⁶ the inner ROUND moves it. EAC's (BAC − EV) × AC / EV
    uses it too; its denominator EV can be large, so a figure within 0.5·10⁻⁶ of a
    minor unit from a half without being one would round up here and down in Python
    (not met in fuzzing; exact halves, which are, round as in Python).
    """
    return f"ROUND(ROUND({expression},{places + exact}),{places})"


def money(currency: str) -> str:
    """The currency's number format (EUR ``#,##0.00``, JPY ``#,##0``)."""
    return number_format(currency)


def signed(currency: str) -> str:
    """Money with negative amounts in red (variances)."""
    fmt = money(currency)
    return f"{fmt};[Red]-{fmt}"


def missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def amount(minor: object, currency: str) -> Decimal | None:
    """Exact ``Decimal`` of integer minor units (None when missing): what a cell holds."""
    return None if missing(minor) else from_minor(int(minor), currency)


def day(value: object) -> dt.date | None:
    return None if missing(value) else pd.Timestamp(value).date()


@dataclass(frozen=True, slots=True)
class Put:
    """One cell: a value or a formula (``=…``), its number format (None: the column's),
    the value a formula shows (sizes the column only), bold or not."""

    value: object
    fmt: str | None = None
    shows: object = None
    bold: bool = False


def _places(fmt: str) -> int:
    match = re.search(r"\.(0+)", fmt.split(";")[0])
    return len(match.group(1)) if match else 0


def shown_text(value: object, fmt: str | None) -> str:
    """Roughly the text a spreadsheet shows for ``value`` in ``fmt`` (for widths)."""
    if missing(value):
        return ""
    if isinstance(value, dt.date | pd.Timestamp):
        return "0000-00-00" if fmt is None else fmt.replace("yyyy", "0000")
    if isinstance(value, str | bool):
        return str(value)
    if isinstance(value, int | float | Decimal | Fraction):
        number = Decimal(repr(float(value))) if isinstance(value, float | Fraction) else value
        if fmt and "%" in fmt:
            return f"{Decimal(number) * 100:,.{_places(fmt)}f}%"
        places = _places(fmt) if fmt else 4
        return f"-{abs(Decimal(number)):,.{places}f}"
    return str(value)


def cell(sheet: WriteOnlyWorksheet, put: Put, fmt: str | None) -> WriteOnlyCell:
    out = WriteOnlyCell(sheet, None if missing(put.value) else put.value)
    chosen = put.fmt or fmt
    if chosen:
        out.number_format = chosen
    if put.bold:
        out.font = BOLD
    return out


def widths(headers: Sequence[str], rows: Sequence[Sequence[Put]],
           formats: Sequence[str | None], most: int = 60) -> list[float]:
    """Per column: the longest shown text (a header may wrap at its spaces) + padding."""
    out = [max(len(w) for w in h.split()) if h else 0 for h in headers]
    for row in rows:
        for i, put in enumerate(row):
            value = put.shows if isinstance(put.value, str) and put.value.startswith("=") \
                else put.value
            out[i] = max(out[i], len(shown_text(value, put.fmt or formats[i])))
    return [min(max(w + 3, 8), most) for w in out]


def page_setup(sheet: WriteOnlyWorksheet, landscape: bool = True) -> None:
    """One page wide, as many pages tall as needed; the sheet's name in the header."""
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddHeader.center.text = "&A"
    sheet.oddFooter.center.text = "Page &P of &N"


def table(sheet: WriteOnlyWorksheet, headers: Sequence[str], formats: Sequence[str | None],
          rows: Sequence[Sequence[object]], after: Iterable[Sequence[object]] = (),
          freeze: str = "A2", hidden: Iterable[int] = (), filtered: bool = True) -> int:
    """Header, rows (filtered and frozen), then ``after`` rows (totals, outside the
    filter); returns the last data row's number (1 when there are none)."""
    body = [[p if isinstance(p, Put) else Put(p) for p in row] for row in rows]
    tail = [[p if isinstance(p, Put) else Put(p) for p in row] for row in after]
    sized = widths(headers, body + tail, formats)
    for i, width in enumerate(sized, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    lines = max((math.ceil(len(h) / max(w - 2, 1)) for h, w in zip(headers, sized,
                                                                   strict=True)), default=1)
    sheet.row_dimensions[1].height = LINE_HEIGHT * max(lines, 1)
    for i in hidden:
        sheet.column_dimensions[get_column_letter(i)].hidden = True
    sheet.freeze_panes = freeze
    sheet.print_title_rows = "1:1"
    page_setup(sheet)
    last = len(body) + 1
    if filtered:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{last}"
    head = []
    for text, fmt in zip(headers, formats, strict=True):
        out = WriteOnlyCell(sheet, text)
        out.font, out.fill = BOLD, HEADER_FILL
        numeric = fmt is not None and fmt not in (DATE, MONTH)
        out.alignment = Alignment(wrap_text=True, vertical="top",
                                  horizontal="right" if numeric else None)
        head.append(out)
    sheet.append(head)
    for row in body:
        sheet.append([cell(sheet, p, formats[i]) for i, p in enumerate(row)])
    for row in tail:
        cells = [cell(sheet, p, formats[i]) for i, p in enumerate(row)]
        for out in cells:
            out.fill = TOTAL_FILL
        sheet.append(cells)
    return last


def flag(sheet: WriteOnlyWorksheet, ref: str, formula: str) -> None:
    """Red fill where ``formula`` (relative to the range's first cell) is true."""
    sheet.conditional_formatting.add(ref, FormulaRule(formula=[formula], fill=BAD_FILL,
                                                      font=BAD_FONT))


def total_of(function: str, column: str, last: int, *args: str) -> str:
    """``=FUNCTION(args…, column2:columnLAST)``, or 0 when there are no data rows (the
    range would otherwise reach the total's own cell)."""
    if last < 2:
        return "=0"
    return f"={function}({','.join([*args, f'{column}2:{column}{last}'])})"


def letters(keys: Sequence[str]) -> dict[str, str]:
    return {k: get_column_letter(i) for i, k in enumerate(keys, start=1)}


def site_payments_sheet(sheet: WriteOnlyWorksheet, frame: pd.DataFrame, currency: str) -> int:
    """Investigator grants by country and site, each in its contract currency, and what
    was paid in the study currency; returns the row of the study-currency total. Below
    it, totals per contract currency (SUMIF: two currencies are never added)."""
    headers = ["country", "site", "currency", "earned", "invoiced", "paid",
               "earned − paid", f"paid ({currency})"]
    last = len(frame) + 1
    rows = []
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        cur = str(row.currency)
        fmt = money(cur)
        rows.append([row.country, row.site_id, cur,
                     Put(amount(row.earned_minor, cur), fmt),
                     Put(amount(row.invoiced_minor, cur), fmt),
                     Put(amount(row.paid_minor, cur), fmt),
                     Put(f"=D{r}-F{r}", signed(cur),
                         amount(row.earned_minor, cur)),
                     amount(row.reporting_paid_minor, currency)])
    total = len(frame) + 2
    largest = amount(frame["reporting_paid_minor"].sum(), currency) if len(frame) else 0
    after = [["total", None, currency, None, None, None, None,
              Put(total_of("SUBTOTAL", "H", last, "9"), shows=largest, bold=True)],
             [], [Put("by contract currency", bold=True)]]
    for cur in sorted(set(frame["currency"].astype(str))):
        r = total + len(after)
        own = frame[frame["currency"].astype(str) == cur]
        sums = [Put(f"=SUMIF($C$2:$C${last},$C{r},{c}$2:{c}${last})", money(cur),
                    amount(own[column].sum(), cur))
                for c, column in zip("DEF", ("earned_minor", "invoiced_minor", "paid_minor"),
                                     strict=True)]
        after.append([f"total {cur}", None, cur, *sums,
                      Put(f"=D{r}-F{r}", signed(cur), sums[0].shows)])
    formats = [None, None, None, None, None, None, None, money(currency)]
    table(sheet, headers, formats, rows, after)
    return total


def pass_throughs_sheet(sheet: WriteOnlyWorksheet, frame: pd.DataFrame, currency: str) -> int:
    """Pass-through costs by month and item; returns the total's row."""
    rows = [[day(row.month), row.item, amount(row.amount_minor, currency)]
            for row in frame.itertuples(index=False)]
    last = len(rows) + 1
    total = amount(frame["amount_minor"].sum(), currency) if len(frame) else 0
    after = [["total", None, Put(total_of("SUM", "C", last), shows=total, bold=True)]]
    table(sheet, ["month", "item", f"amount ({currency})"], [MONTH, None, money(currency)],
          rows, after)
    return last + 1


def change_orders_sheet(sheet: WriteOnlyWorksheet, frame: pd.DataFrame, currency: str,
                        places: int) -> int:
    """The change order log; budgets and values are formulas (units × unit price rounded
    half up once, :func:`rounded`; value = budget − the budget it replaced). Returns the
    row of the total of the change orders in force (the row after it totals all)."""
    headers = ["change order", "service line", "driver", "effective from", "in force",
               "reason", "units before", "units", "unit price before", "unit price",
               "budget before", "budget", "value"]
    fmt, var = money(currency), signed(currency)
    rows = []
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        rows.append([
            row.change_order, row.service_line, row.driver, day(row.effective_from),
            "yes" if row.effective else "no", row.reason, row.units_before, row.units,
            amount(row.unit_price_before_minor, currency),
            amount(row.unit_price_minor, currency),
            Put(f'=IF(G{r}="",0,{rounded(f"G{r}*I{r}", places, EXACT_PLACES)})',
                shows=amount(row.budget_before_minor, currency)),
            Put(f"={rounded(f'H{r}*J{r}', places, EXACT_PLACES)}",
                shows=amount(row.budget_minor, currency)),
            Put(f"=L{r}-K{r}", shows=amount(row.value_minor, currency))])
    last = len(rows) + 1
    largest = amount(frame["value_minor"].abs().sum(), currency) if len(frame) else 0
    after = [["in force", *[None] * 11,
              Put(f'=SUMIF(E2:E{last},"yes",M2:M{last})' if last > 1 else "=0",
                  shows=largest, bold=True)],
             ["all", *[None] * 11, Put(total_of("SUM", "M", last), shows=largest, bold=True)]]
    formats = [None, None, None, DATE, None, None, UNITS, UNITS, fmt, fmt, fmt, fmt, var]
    table(sheet, headers, formats, rows, after)
    return last + 1


def assumptions_sheet(sheet: WriteOnlyWorksheet, assumptions: Iterable[tuple[str, str, str]],
                      method: Iterable[tuple[str, str, str]]) -> None:
    rows = [[name, value, note] for name, value, note in assumptions]
    rows += [[name, value, note] for name, value, note in method]
    table(sheet, ["assumption", "value", "note"], [None, None, None], rows, filtered=False)
    for letter in "BC":
        sheet.column_dimensions[letter].width = min(sheet.column_dimensions[letter].width, 70)


# Service lines columns: key → header (review_import finds the columns by header)
LINE_HEADERS = {
    "service_line": "service line", "driver": "driver", "units": "units",
    "unit_price": "unit price", "delivered": "delivered units", "share": "planned share",
    "planned": "planned units", "bac": "BAC", "pv": "PV", "ev": "EV", "ac": "AC",
    "cpi": "CPI", "spi": "SPI", "eac": "EAC", "etc": "ETC", "vac": "VAC",
    "original": "original budget", "change_order": "change order in force",
    "currency": "currency", "units_exported": "units as exported",
    "price_exported": "unit price as exported"}
COLUMN = letters(list(LINE_HEADERS))
