"""The round trip of the review workbook: the Service lines sheet, edited in a
spreadsheet, read back as a change order (docs/SPONSOR_BUDGET.md, "Work order and
change orders"; issue 6, scope 1).

Each row's units and unit price are compared with the values the workbook was
exported with (the hidden columns "units as exported" and "unit price as
exported"); a row whose units or price changed, or a row the user added, becomes
one work-order row in the DESIGN §7 exchange format, every value as text, so the
``workorders`` importer takes it as a file's rows.

Numbers are read exactly: openpyxl gives a typed number as the shortest float
that round-trips, so ``Decimal(repr(x))`` is the decimal the user typed; it must
be a whole number of the unit (hundredths of a unit, the currency's minor unit
for prices), else the cell is refused, never rounded. A formula cell counts by
the value the spreadsheet saved with it.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zipfile import BadZipFile

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from contracts.budget_lines import DRIVERS, SERVICE_LINES, TOTAL, BudgetError
from contracts.review_workbook import LINE_HEADERS
from planner.money import is_currency, minor_units

SHEET = "Service lines"
EXCHANGE = ["study_id", "service_line", "driver", "units", "unit_price", "currency",
            "effective_from", "change_order", "reason"]
UNIT_PLACES = 2  # units have at most 2 decimals (docs/SPONSOR_BUDGET.md)
NEEDED = ("service_line", "driver", "units", "unit_price", "currency", "units_exported",
          "price_exported")


class WorkbookError(BudgetError):
    """A review workbook that cannot be read back as a change order."""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def exact(value: object, where: str, what: str, places: int) -> Decimal:
    """``value`` as an exact ``Decimal`` with ``places`` decimals (≥ 0), or a
    :class:`WorkbookError` naming the cell, the value and what was expected."""
    expected = (f"expected a number ≥ 0 with at most {places} decimals"
                if places else "expected a whole number ≥ 0")
    if isinstance(value, bool) or _blank(value):
        raise WorkbookError(f"{where}: {what} is blank; {expected}")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidOperation
            number = Decimal(repr(value))
        else:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        quantized = number.quantize(Decimal(1).scaleb(-places))
    except (InvalidOperation, TypeError, ValueError):
        raise WorkbookError(f"{where}: {what} {value!r} is not a number; {expected}") from None
    if quantized != number or quantized < 0:
        raise WorkbookError(f"{where}: {what} {value!r}: {expected}")
    return quantized


def _columns(header: tuple) -> dict[str, int]:
    """Key → 0-based column of the Service lines headers; refuses a sheet lacking one."""
    position = {str(h).strip(): i for i, h in enumerate(header) if not _blank(h)}
    lacking = [LINE_HEADERS[k] for k in NEEDED if LINE_HEADERS[k] not in position]
    if lacking:
        raise WorkbookError(f"sheet {SHEET!r} lacks the columns {lacking}: is it a review "
                            "workbook written by trialplan export sponsor-review?")
    return {k: position[LINE_HEADERS[k]] for k in NEEDED}


def _study(book: Workbook, study_id: str, path: Path) -> None:
    if "Summary" not in book.sheetnames:
        return
    for label, value, *_ in book["Summary"].iter_rows(min_row=1, max_row=20, max_col=2,
                                                      values_only=True):
        if label == "study" and value is not None and str(value) != study_id:
            raise WorkbookError(f"{path.name} is the review of study {value}, not {study_id}")


class _Cells:
    """The Service lines cells by column key; a formula counts by its saved value."""

    def __init__(self, path: Path, header: tuple) -> None:
        self.path, self.columns, self.saved = path, _columns(header), None

    def where(self, key: str, number: int) -> str:
        return f"{SHEET}!{get_column_letter(self.columns[key] + 1)}{number}"

    def value(self, row: tuple, key: str, number: int) -> object:
        column = self.columns[key]
        got = row[column] if column < len(row) else None
        if isinstance(got, str) and got.startswith("="):
            if self.saved is None:
                self.saved = load_workbook(self.path, data_only=True)[SHEET]
            got = self.saved.cell(number, column + 1).value
            if got is None:
                raise WorkbookError(f"{self.where(key, number)}: a formula without a saved "
                                    "value; open and save the workbook in a spreadsheet or "
                                    "type the number")
        return got


def change_order_from_workbook(path: Path | str, study_id: str, change_order: str,
                               effective_from: dt.date, reason: str) -> pd.DataFrame:
    """The Service lines whose units or unit price differ from the exported values (and
    lines added to the sheet) as work-order rows of ``change_order`` (columns
    :data:`EXCHANGE`, text); empty when nothing changed."""
    path = Path(path)
    if _blank(change_order):
        raise WorkbookError("a change order needs an id (change_order)")
    try:
        book = load_workbook(path)
    except (OSError, ValueError, KeyError, BadZipFile, InvalidFileException) as error:
        raise WorkbookError(f"{path}: not a readable .xlsx workbook ({error})") from None
    if SHEET not in book.sheetnames:
        raise WorkbookError(f"{path.name} has no sheet {SHEET!r}")
    _study(book, study_id, path)
    rows = book[SHEET].iter_rows(values_only=True)
    cells = _Cells(path, next(rows, ()))
    day = pd.Timestamp(effective_from).date().isoformat()
    out, seen, currencies = [], {}, set()
    for number, row in enumerate(rows, start=2):
        def value(key: str, row: tuple = row, number: int = number) -> object:
            return cells.value(row, key, number)

        def where(key: str, number: int = number) -> str:
            return cells.where(key, number)

        line = value("service_line")
        if _blank(line) or str(line).strip() == TOTAL:
            continue
        line = str(line).strip()
        if line not in SERVICE_LINES:
            raise WorkbookError(f"{where('service_line')}: unknown service line {line!r}; "
                                f"expected one of {', '.join(SERVICE_LINES)}")
        if line in seen:
            raise WorkbookError(f"{where('service_line')}: service line {line} is also on row "
                                f"{seen[line]}: one row per line")
        seen[line] = number
        currency = str(value("currency") or "").strip()
        if not is_currency(currency):
            raise WorkbookError(f"{where('currency')}: currency {currency!r} is not an ISO "
                                "4217 code")
        currencies.add(currency)
        if len(currencies) > 1:
            raise WorkbookError(f"{where('currency')}: the sheet mixes currencies "
                                f"{sorted(currencies)}: one currency per study's work order")
        places = minor_units(currency)
        units = exact(value("units"), where("units"), "units", UNIT_PLACES)
        price = exact(value("unit_price"), where("unit_price"), "unit price", places)
        before = (value("units_exported"), value("price_exported"))
        if not any(_blank(v) for v in before) and (units, price) == (
                exact(before[0], where("units_exported"), "exported units", UNIT_PLACES),
                exact(before[1], where("price_exported"), "exported unit price", places)):
            continue
        driver = str(value("driver") or "").strip()
        if driver not in DRIVERS:
            raise WorkbookError(f"{where('driver')}: driver {driver!r} of the changed line "
                                f"{line}; expected one of {', '.join(DRIVERS)}")
        out.append({"study_id": study_id, "service_line": line, "driver": driver,
                    "units": str(units), "unit_price": str(price), "currency": currency,
                    "effective_from": day, "change_order": str(change_order).strip(),
                    "reason": reason or ""})
    return pd.DataFrame(out, columns=EXCHANGE, dtype=object)
