"""Reading user files (CSV, .xlsx, SAS transport) into tables of text cells.

Everything is read as text first and typed afterwards by :mod:`fields`, so
that a bad cell becomes an issue naming its row and column instead of a
crash or a silently coerced value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.importing.issues import HEADER_ROW, ImportIssue, ImportRejected

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_BLANK = np.zeros(256, bool)
_BLANK[[ord(" "), ord("\t"), ord("\v"), ord("\f")]] = True
_ENDS_CELL = np.zeros(256, bool)
_ENDS_CELL[[ord(","), ord('"'), ord("\n"), ord("\r")]] = True
_STARTS_CELL = np.zeros(256, bool)
_STARTS_CELL[[ord(","), ord('"'), ord("\n")]] = True


def _may_have_padding(data: bytes) -> bool:
    """Whether some cell may start or end with a blank (vectorized over the bytes; any
    non-ASCII text counts as maybe, for Unicode blanks)."""
    if not data.isascii():
        return True
    text = np.frombuffer(data, dtype=np.uint8)
    blanks = np.flatnonzero(_BLANK[text])
    if blanks.size == 0:
        return False
    if blanks[0] == 0 or blanks[-1] == len(text) - 1:
        return True
    return bool((_ENDS_CELL[text[blanks + 1]] | _STARTS_CELL[text[blanks - 1]]).any())


@dataclass(frozen=True)
class RawTable:
    """Text cells of one table; ``rows`` holds the spreadsheet row number of each line."""

    source: str
    frame: pd.DataFrame
    rows: pd.Series

    @classmethod
    def from_frame(cls, source: str, frame: pd.DataFrame) -> RawTable:
        """Wrap an in-memory frame (demo, tests) as if it were a file's text cells."""
        text = frame.astype(object).where(frame.notna(), "").map(_cell_text)
        text = text.reset_index(drop=True)
        return cls(source, text, pd.Series(range(2, len(text) + 2), dtype="int64"))


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _reject(source: str, expected: str, value: str | None = None) -> ImportRejected:
    return ImportRejected([ImportIssue(source, None, None, value, expected)])


def _from_cells(source: str, header: list[str], body: list[list[str]],
                numbers: list[int] | None = None) -> RawTable:
    """A raw table from rows of cells; ``numbers`` are their line numbers (default 2, 3 ...)."""
    width = len(header)
    rows = [list(r[:width]) + [""] * (width - len(r)) for r in body]
    frame = pd.DataFrame(rows, columns=range(width), dtype=object)
    return _named(source, header, frame,
                  np.asarray(numbers if numbers is not None else range(2, len(rows) + 2)))


def _named(source: str, header: list[str], frame: pd.DataFrame,
           numbers: np.ndarray) -> RawTable:
    """Name the columns after the header, drop blank rows, refuse a table without data."""
    names = [str(h).strip() for h in header]
    seen: set[str] = set()
    issues = []
    for name in names:
        if name and name in seen:
            issues.append(ImportIssue(source, HEADER_ROW, name, name, "each column name once"))
        seen.add(name)
    if issues:
        raise ImportRejected(issues)
    frame = frame.set_axis(names, axis=1)
    keep = (frame != "").any(axis=1).to_numpy() if names else np.zeros(len(frame), bool)
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise _reject(source, "a header row and at least one data row (the file has no data rows)")
    return RawTable(source, frame, pd.Series(numbers[keep], dtype="int64"))


def _pandas_cells(text: str, padded: bool) -> pd.DataFrame | None:
    """All cells via pandas' C parser (fast), or None when a row is longer than the
    first one: the csv module then reads the file and names each long row."""
    try:
        cells = pd.read_csv(io.StringIO(text), header=None, dtype=object, na_filter=False,
                            keep_default_na=False, skip_blank_lines=False, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    cells = cells.fillna("")
    if padded:  # else no cell starts or ends with a blank: nothing to strip
        cells = cells.apply(lambda column: column.str.strip())
    return cells


def read_csv(path: Path) -> RawTable:
    """A CSV file in UTF-8 (a BOM is fine); blank lines are skipped."""
    source = path.name
    data = path.read_bytes()
    if not data.strip():
        raise _reject(source, "a CSV file with a header row and data rows (the file is empty)")
    if b"\x00" in data[:65536]:
        raise _reject(source, "a CSV text file (this file holds binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _reject(source, f"UTF-8 text (undecodable byte at offset {exc.start})") from exc
    if not text.strip():
        raise _reject(source, "a CSV file with a header row and data rows (the file is empty)")
    cells = _pandas_cells(text, _may_have_padding(data))
    if cells is not None:
        filled = (cells != "").any(axis=1).to_numpy()
        first = int(np.argmax(filled))  # the header: the first line with any cell
        numbers = np.arange(1, len(cells) + 1)
        return _named(source, list(cells.iloc[first]),
                      cells.iloc[first + 1:].reset_index(drop=True), numbers[first + 1:])
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _reject(source, f"well-formed CSV ({exc})") from exc
    numbered = [(number, [cell.strip() for cell in line])
                for number, line in enumerate(lines, start=1)]
    numbered = [(n, cells) for n, cells in numbered if any(cells)]  # blank lines don't count
    (_, header), body = numbered[0], numbered[1:]
    ragged = [ImportIssue(source, n, None, ",".join(cells[len(header):]),
                          f"at most {len(header)} cells, as many as the header has")
              for n, cells in body if len(cells) > len(header) and any(cells[len(header):])]
    if ragged:
        raise ImportRejected(ragged[:1000])
    return _from_cells(source, header, [cells for _, cells in body],
                       [n for n, _ in body])


def _sheet_matches(sheet: str, kind: str) -> bool:
    wanted = kind.lower().replace("_", " ").rstrip("s")
    return sheet.strip().lower().replace("_", " ").rstrip("s") == wanted


def read_excel(path: Path, kind: str) -> RawTable:
    """The sheet named like the kind (``sites``, ``Site``), else the first sheet."""
    from openpyxl import load_workbook

    source = path.name
    if not zipfile.is_zipfile(path):
        raise _reject(source, "an Excel workbook (.xlsx); this file is not one")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise _reject(source, f"a readable Excel workbook ({type(exc).__name__}: {exc})") from exc
    try:
        names = book.sheetnames
        chosen = next((n for n in names if _sheet_matches(n, kind)), names[0])
        cells = [["" if v is None else _cell_text(v) for v in row]
                 for row in book[chosen].iter_rows(values_only=True)]
    finally:
        book.close()
    label = f"{source} [sheet {chosen}]"
    if not cells:
        raise _reject(label, f"a sheet with a header row and {kind} rows (sheet is empty; "
                             f"sheets: {', '.join(names)})")
    if any(cell == "" for row in cells for cell in row):
        _refuse_uncalculated_formulas(path, chosen, label, cells)
    return _from_cells(label, cells[0], cells[1:])


def _refuse_uncalculated_formulas(path: Path, sheet: str, label: str,
                                  values: list[list[str]]) -> None:
    """A formula cell saved without its computed value reads as empty: refuse it rather
    than import a blank (workbooks written by scripts are often never calculated)."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    book = load_workbook(path, read_only=True, data_only=False)
    try:
        issues = [
            ImportIssue(label, r, values[0][c] if c < len(values[0]) else get_column_letter(c + 1),
                        formula, "a computed value (the workbook was saved without calculating "
                        "this formula: open and save it in Excel or LibreOffice)")
            for r, row in enumerate(book[sheet].iter_rows(values_only=True), start=1)
            for c, formula in enumerate(row)
            if isinstance(formula, str) and formula.startswith("=")
            and r <= len(values) and c < len(values[r - 1]) and values[r - 1][c] == ""
        ]
    finally:
        book.close()
    if issues:
        raise ImportRejected(issues[:1000])


def read_table(path: Path, kind: str) -> RawTable:
    """Read a user's file by its suffix: CSV, or Excel (sheet chosen by kind)."""
    if not path.is_file():
        raise _reject(str(path), "an existing file")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return read_excel(path, kind)
    return read_csv(path)


def read_xport(path: Path) -> RawTable:
    """A SAS transport file (CDISC SDTM), cp1252 encoded, as text cells."""
    import pyreadstat

    source = path.name
    try:
        frame, _meta = pyreadstat.read_xport(str(path), encoding="cp1252")
    except Exception as exc:  # pyreadstat raises its own error types
        raise _reject(source, f"a SAS transport (.xpt) file ({exc})") from exc
    text = frame.astype(object).where(frame.notna(), "").map(_cell_text)
    return RawTable(source, text.reset_index(drop=True),
                    pd.Series(range(2, len(text) + 2), dtype="int64"))
