"""A payment run as a file for the payer: xlsx (Summary and Lines sheets) or csv.

Amounts leave as exact ``Decimal`` built from integer minor units. The csv holds
decimal strings, so it reads back to the cent (:func:`read_lines_csv`). In the
workbook amounts are numbers (Excel sums them) formatted with their currency's
decimals; Excel keeps numbers as binary doubles, which hold every amount below
10^13 to the cent, and the paid amounts are also written as exact text columns.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from contracts.minor import from_minor, to_minor
from contracts.schemas import PAYMENT_LINES
from planner.money import minor_units

LINE_COLUMNS = ["study_id", "site_id", "kind", "subject_id", "item_type", "item_code",
                "item_ref", "occurrence", "service_date", "currency", "gross", "holdback",
                "already_paid", "amount", "fx_rate", "reporting_currency", "reporting_amount"]
LINE_MONEY = {"gross": "currency", "holdback": "currency", "already_paid": "currency",
              "amount": "currency", "reporting_amount": "reporting_currency"}
EXACT_TEXT = {"amount": "amount (exact)", "reporting_amount": "reporting amount (exact)"}
SUMMARY_MONEY = {"gross": "currency", "holdback": "currency", "released": "currency",
                 "already_paid": "currency", "paid_now": "currency",
                 "deferred_amount": "currency", "reporting_amount": "reporting_currency"}
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")


class ExportableRun(Protocol):
    """What an export needs: the run's ``PAYMENT_LINES`` and its ``payment_summary``."""

    lines: pd.DataFrame
    summary: pd.DataFrame


def _text(value: object) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    return str(value)


def lines_table(lines: pd.DataFrame) -> pd.DataFrame:
    """The lines as the payer reads them: ``Decimal`` amounts, ISO dates, plain texts."""
    out = pd.DataFrame({c: lines[c] for c in ("study_id", "site_id", "kind", "subject_id",
                                              "item_type", "item_code", "item_ref",
                                              "occurrence")})
    out["service_date"] = [_text(d) for d in lines["service_date"]]
    out["currency"] = lines["currency"]
    for column, source in (("gross", "gross_minor"), ("holdback", "holdback_minor"),
                           ("already_paid", "already_paid_minor"), ("amount", "amount_minor")):
        out[column] = pd.Series([from_minor(int(v), str(c)) for v, c in
                                 zip(lines[source], lines["currency"], strict=True)],
                                index=lines.index, dtype=object)
    out["fx_rate"] = lines["fx_rate"]
    out["reporting_currency"] = lines["reporting_currency"]
    out["reporting_amount"] = pd.Series(
        [from_minor(int(v), str(c)) for v, c in
         zip(lines["reporting_minor"], lines["reporting_currency"], strict=True)],
        index=lines.index, dtype=object)
    return out[LINE_COLUMNS]


def write_csv(lines: pd.DataFrame, path: Path) -> Path:
    """The lines as csv: one row per line, amounts as exact decimal strings."""
    table = lines_table(lines)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LINE_COLUMNS)
        for row in table.itertuples(index=False):
            writer.writerow([_text(v) for v in row])
    return Path(path)


def read_lines_csv(path: Path) -> pd.DataFrame:
    """A csv written by :func:`write_csv` back as ``PAYMENT_LINES`` (exact minor units)."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    frame = pd.DataFrame(rows, columns=LINE_COLUMNS)

    def blank(column: str) -> list[object]:
        return [v if v != "" else None for v in frame[column]]

    out = pd.DataFrame({c: blank(c) for c in ("study_id", "site_id", "kind", "subject_id",
                                                 "item_type", "item_code", "item_ref",
                                                 "currency", "reporting_currency")})
    out["occurrence"] = pd.array([int(v) if v else None for v in frame["occurrence"]],
                                 dtype="Int64")
    out["service_date"] = pd.to_datetime(pd.Series(blank("service_date")), format="%Y-%m-%d")
    for column, source in (("gross_minor", "gross"), ("holdback_minor", "holdback"),
                           ("already_paid_minor", "already_paid"), ("amount_minor", "amount")):
        out[column] = [to_minor(Decimal(v), c) for v, c in
                       zip(frame[source], frame["currency"], strict=True)]
    out["fx_rate"] = [Decimal(v) for v in frame["fx_rate"]]
    out["reporting_minor"] = [to_minor(Decimal(v), c) for v, c in
                              zip(frame["reporting_amount"], frame["reporting_currency"],
                                  strict=True)]
    return PAYMENT_LINES.conform(out)


def number_format(currency: str) -> str:
    """Thousands separators and the currency's decimals: EUR #,##0.00, JPY #,##0."""
    decimals = minor_units(currency)
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def _sheet(sheet: Worksheet, table: pd.DataFrame, money: dict[str, str],
           exact: dict[str, str]) -> None:
    """Header, rows, currency formats, exact text copies, frozen header, filter, widths."""
    columns = [*table.columns, *exact.values()]
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    widths = [len(str(c)) for c in columns]
    for record in table.to_dict("records"):
        values = [record[c] for c in table.columns]
        row = [v if isinstance(v, Decimal | int) and not isinstance(v, bool) else _text(v)
               for v in values]
        row += [_text(record[c]) for c in exact]
        sheet.append(row)
        for position, column in enumerate(table.columns, start=1):
            if column in money and isinstance(record[column], Decimal):
                currency = _text(record[money[column]])
                if currency:
                    sheet.cell(sheet.max_row, position).number_format = number_format(currency)
        widths = [max(w, len(_text(v))) for w, v in zip(widths, row, strict=True)]
    for position, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = min(max(width + 2, 8), 40)
    sheet.freeze_panes = "A2"
    if sheet.max_row > 1:
        sheet.auto_filter.ref = sheet.dimensions


def write_xlsx(lines: pd.DataFrame, summary: pd.DataFrame, path: Path,
               heading: Iterable[tuple[str, str]] = ()) -> Path:
    """A workbook with a Summary sheet (per site and currency, totals per currency) and a
    Lines sheet; ``heading`` rows (label, value) go on an Info sheet when given."""
    workbook = Workbook()
    summary_sheet = workbook.active
    summary_sheet.title = "Summary"
    shown = summary.copy()
    shown["due_date"] = [_text(d) for d in shown["due_date"]]
    _sheet(summary_sheet, shown, SUMMARY_MONEY, {})
    _sheet(workbook.create_sheet("Lines"), lines_table(lines), LINE_MONEY, EXACT_TEXT)
    info = list(heading)
    if info:
        sheet = workbook.create_sheet("Info")
        for label, value in info:
            sheet.append([label, value])
        sheet.column_dimensions["A"].width = 24
        sheet.column_dimensions["B"].width = 60
    workbook.save(path)
    return Path(path)


def write_run(run: ExportableRun, path: Path) -> Path:
    """The run as ``path``'s kind: .xlsx (summary and lines) or .csv (the lines)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_csv(run.lines, path)
    if suffix == ".xlsx":
        heading = [(k, _text(getattr(run, k))) for k in ("study_id", "run_id", "through",
                                                           "reporting_currency", "actor", "at")
                   if getattr(run, k, None) is not None]
        return write_xlsx(run.lines, run.summary, path, heading)
    raise ValueError(f"{path}: a payment run is written as .xlsx or .csv")
