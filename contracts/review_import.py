"""The round trip of the review workbook: the Service lines sheet, edited in a
spreadsheet, read back as a change order (docs/SPONSOR_BUDGET.md, "Work order and
change orders"; issue 6, scope 1).

Each row's units and unit price are compared with the values the workbook was
exported with (the hidden columns "units as exported" and "unit price as
exported"); a row whose units or price changed, or a row the user added, becomes
one work-order row in the DESIGN §7 exchange format, every value as text, so the
``workorders`` importer takes it as a file's rows. Of a changed row, only the
field the user edited comes from the sheet; the other is the line's value in force
on the change order's effective date (``in_force``), so a workbook exported before
a later change order does not put back the units or price that change order
replaced. The rows are indexed by their row number on the sheet, for the
importer's messages.

Numbers are read exactly: openpyxl gives a typed number as the shortest float
that round-trips, so ``Decimal(repr(x))`` is the decimal the user typed; it must
be a whole number of the unit (hundredths of a unit, the currency's minor unit
for prices), else the cell is refused, never rounded. A formula cell counts by
the value the spreadsheet saved with it. Messages name the cell, never the file:
the caller says which file it read.
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
from contracts.minor import from_minor
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


def _study(book: Workbook, study_id: str) -> None:
    if "Summary" not in book.sheetnames:
        return
    for label, value, *_ in book["Summary"].iter_rows(min_row=1, max_row=20, max_col=2,
                                                      values_only=True):
        if label == "study" and value is not None and str(value) != study_id:
            raise WorkbookError(f"the workbook is the review of study {value}, not "
                                f"{study_id}")


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


class _InForce:
    """The units and unit price of each service line in force on the effective date."""

    def __init__(self, in_force: pd.DataFrame | None) -> None:
        self.rows = ({} if in_force is None else
                     {str(r.service_line): r for r in in_force.itertuples(index=False)})

    def merged(self, line: str, currency: str, where: str, edited: tuple[Decimal, Decimal],
               exported: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
        """The edited field from the sheet, the other from the row in force."""
        row = self.rows.get(line)
        if row is None:
            return edited
        if str(row.currency) != currency:
            raise WorkbookError(f"{where}: the sheet is in {currency}, the work order in force "
                                f"in {row.currency}")
        units, price = edited
        if units == exported[0]:
            units = Decimal(row.units).quantize(Decimal(1).scaleb(-UNIT_PLACES))
        if price == exported[1]:
            price = from_minor(int(row.unit_price_minor), currency)
        return units, price


def change_order_from_workbook(path: Path | str, study_id: str, change_order: str,
                               effective_from: dt.date, reason: str, *,
                               in_force: pd.DataFrame | None = None) -> pd.DataFrame:
    """The Service lines whose units or unit price differ from the exported values (and
    lines added to the sheet) as work-order rows of ``change_order`` (columns
    :data:`EXCHANGE`, text, indexed by the sheet's row number); empty when nothing
    changed.

    ``in_force``: the study's budget in force on ``effective_from``
    (``contracts.budget_lines.budget_in_force``: service_line, units,
    unit_price_minor, currency). Of a changed line it has, only the edited field
    (units or unit price) comes from the sheet, the other from the row in force;
    without it (or for a line it lacks) both come from the sheet.
    """
    path = Path(path)
    if _blank(change_order):
        raise WorkbookError("a change order needs an id (change_order)")
    try:
        book = load_workbook(path)
    except (OSError, ValueError, KeyError, BadZipFile, InvalidFileException) as error:
        raise WorkbookError(f"not a readable .xlsx workbook ({error})") from None
    if SHEET not in book.sheetnames:
        raise WorkbookError(f"the workbook has no sheet {SHEET!r}")
    _study(book, study_id)
    rows = book[SHEET].iter_rows(values_only=True)
    cells = _Cells(path, next(rows, ()))
    force = _InForce(in_force)
    day = pd.Timestamp(effective_from).date().isoformat()
    out, numbers, seen, currencies = [], [], {}, set()
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
        if not any(_blank(v) for v in before):
            exported = (exact(before[0], where("units_exported"), "exported units",
                              UNIT_PLACES),
                        exact(before[1], where("price_exported"), "exported unit price",
                              places))
            if (units, price) == exported:
                continue
            units, price = force.merged(line, currency, where("currency"), (units, price),
                                        exported)
        driver = str(value("driver") or "").strip()
        if driver not in DRIVERS:
            raise WorkbookError(f"{where('driver')}: driver {driver!r} of the changed line "
                                f"{line}; expected one of {', '.join(DRIVERS)}")
        numbers.append(number)
        out.append({"study_id": study_id, "service_line": line, "driver": driver,
                    "units": str(units), "unit_price": str(price), "currency": currency,
                    "effective_from": day, "change_order": str(change_order).strip(),
                    "reason": reason or ""})
    return pd.DataFrame(out, columns=EXCHANGE, dtype=object,
                        index=pd.Index(numbers, dtype="int64", name="sheet_row"))
