"""The review workbook's Service lines read back as a change order
(contracts/review_import.py, docs/SPONSOR_BUDGET.md "The sponsor review workbook"):
of an edited line, only the edited field comes from the sheet, the other from the
row in force on the change order's date, so an older export never reverts a later
change order; rows keep their sheet row numbers; messages name cells, not files.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from contracts.budget_lines import budget_in_force
from contracts.review_import import WorkbookError, change_order_from_workbook
from contracts.review_workbook import LINE_HEADERS

EFFECTIVE = dt.date(2026, 11, 1)
KEYS = ("service_line", "driver", "units", "unit_price", "currency", "units_exported",
        "price_exported")


def work_order(currency: str = "EUR", factor: int = 100) -> pd.DataFrame:
    """Three lines; CO-01 (2026-05-01) raised site_management's units and
    project_management's price after the export below was made."""
    rows = [("project_management", "months", "36", 1_250_000, "2025-01-01", None),
            ("project_management", "months", "36", 1_300_000, "2026-05-01", "CO-01"),
            ("site_management", "monitoring_visits", "1200", 145_050, "2025-01-01", None),
            ("site_management", "monitoring_visits", "1350", 145_050, "2026-05-01", "CO-01"),
            ("data_management", "crf_pages", "48000.50", 235, "2025-01-01", None)]
    return pd.DataFrame({
        "study_id": "S1", "service_line": [r[0] for r in rows],
        "driver": [r[1] for r in rows], "units": [Decimal(r[2]) for r in rows],
        "unit_price_minor": pd.array([r[3] * factor // 100 for r in rows], dtype="int64"),
        "currency": currency,
        "effective_from": pd.to_datetime([r[4] for r in rows]).astype("datetime64[s]"),
        "change_order": pd.array([r[5] for r in rows], dtype="string"),
        "reason": pd.array([None] * len(rows), dtype="string")})


def sheet(path: Path, lines: list[tuple], study: str = "S1") -> Path:
    """A review workbook as exported before CO-01 (units and prices of the originals in
    the visible and the hidden columns), then ``lines`` (one tuple per key of KEYS)."""
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(("study", study))
    lines_sheet = book.create_sheet("Service lines")
    lines_sheet.append([LINE_HEADERS[k] for k in KEYS])
    for line in lines:
        lines_sheet.append(list(line))
    lines_sheet.append(["total", None, None, None, None, None, None])
    book.save(path)
    return path


EXPORTED = [("project_management", "months", 36, 12500.0, "EUR", 36, 12500.0),
            ("site_management", "monitoring_visits", 1200, 1450.5, "EUR", 1200, 1450.5),
            ("data_management", "crf_pages", 48000.5, 2.35, "EUR", 48000.5, 2.35)]


def edited(**changes: tuple) -> list[tuple]:
    return [changes.get(line[0], line) for line in EXPORTED]


def read(path: Path, in_force: pd.DataFrame | None) -> pd.DataFrame:
    return change_order_from_workbook(path, "S1", "CO-02", EFFECTIVE, "more", in_force=in_force)


@pytest.fixture
def in_force() -> pd.DataFrame:
    return budget_in_force(work_order(), EFFECTIVE)


def test_an_edited_price_keeps_the_units_in_force(tmp_path: Path,
                                                  in_force: pd.DataFrame) -> None:
    path = sheet(tmp_path / "review.xlsx", edited(site_management=(
        "site_management", "monitoring_visits", 1200, 1500, "EUR", 1200, 1450.5)))
    rows = read(path, in_force)
    # CO-01's 1,350 visits stay: the export's 1,200 would revert them
    assert rows[["service_line", "units", "unit_price"]].values.tolist() == [
        ["site_management", "1350.00", "1500.00"]]
    assert rows.index.tolist() == [3]  # the row on the Service lines sheet


def test_edited_units_keep_the_price_in_force(tmp_path: Path, in_force: pd.DataFrame) -> None:
    path = sheet(tmp_path / "review.xlsx", edited(project_management=(
        "project_management", "months", 42, 12500.0, "EUR", 36, 12500.0)))
    rows = read(path, in_force)
    assert rows[["service_line", "units", "unit_price"]].values.tolist() == [
        ["project_management", "42.00", "13000.00"]]  # CO-01's price, not the export's
    assert rows.index.tolist() == [2]


def test_both_edited_come_from_the_sheet(tmp_path: Path, in_force: pd.DataFrame) -> None:
    path = sheet(tmp_path / "review.xlsx", edited(
        site_management=("site_management", "monitoring_visits", 1300, 1400, "EUR", 1200,
                         1450.5),
        data_management=("data_management", "crf_pages", 58000.5, 2.35, "EUR", 48000.5,
                         2.35)))
    rows = read(path, in_force)
    assert rows[["service_line", "units", "unit_price"]].values.tolist() == [
        ["site_management", "1300.00", "1400.00"], ["data_management", "58000.50", "2.35"]]
    assert rows.index.tolist() == [3, 4]


def test_unedited_lines_are_not_restated(tmp_path: Path, in_force: pd.DataFrame) -> None:
    path = sheet(tmp_path / "review.xlsx", EXPORTED)  # the old values differ from in force
    assert read(path, in_force).empty


def test_without_in_force_or_for_an_added_line_the_sheet_gives_both(
        tmp_path: Path, in_force: pd.DataFrame) -> None:
    lines = [*edited(site_management=(
        "site_management", "monitoring_visits", 1200, 1500, "EUR", 1200, 1450.5)),
        ("regulatory", "deliverables", 2, 4500.5, "EUR", None, None)]
    path = sheet(tmp_path / "review.xlsx", lines)
    assert read(path, None)[["units", "unit_price"]].values.tolist() == [
        ["1200.00", "1500.00"], ["2.00", "4500.50"]]
    rows = read(path, in_force)
    assert rows[["service_line", "units", "unit_price"]].values.tolist() == [
        ["site_management", "1350.00", "1500.00"], ["regulatory", "2.00", "4500.50"]]
    assert rows.index.tolist() == [3, 5]


def test_a_price_in_force_in_yen_has_no_decimals(tmp_path: Path) -> None:
    in_force = budget_in_force(work_order("JPY", factor=1), EFFECTIVE)
    path = sheet(tmp_path / "review.xlsx", [
        ("project_management", "months", 40, 12500, "JPY", 36, 12500)])
    rows = read(path, in_force)
    assert rows[["units", "unit_price", "currency"]].values.tolist() == [
        ["40.00", "13000", "JPY"]]


def test_a_sheet_in_another_currency_than_the_work_order_is_refused(
        tmp_path: Path, in_force: pd.DataFrame) -> None:
    path = sheet(tmp_path / "review.xlsx", [
        ("project_management", "months", 40, 12500, "USD", 36, 12500)])
    with pytest.raises(WorkbookError, match=r"Service lines!E2: the sheet is in USD, the "
                                            r"work order in force in EUR"):
        read(path, in_force)


def test_messages_name_the_cell_never_the_file(tmp_path: Path) -> None:
    """The CLI says which file; the library saying it too gave 'x.xlsx: x.xlsx: ...'."""
    other = sheet(tmp_path / "other-study.xlsx", EXPORTED, study="S2")
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    bad = sheet(tmp_path / "bad-cell.xlsx", edited(site_management=(
        "site_management", "monitoring_visits", "lots", 1450.5, "EUR", 1200, 1450.5)))
    empty = tmp_path / "no-lines.xlsx"
    Workbook().save(empty)
    for path, message in ((other, "the workbook is the review of study S2, not S1"),
                          (text, "not a readable .xlsx workbook"),
                          (bad, "Service lines!C3: units 'lots' is not a number"),
                          (empty, "the workbook has no sheet 'Service lines'")):
        with pytest.raises(WorkbookError) as refused:
            read(path, None)
        assert message in str(refused.value)
        assert path.name not in str(refused.value) and str(tmp_path) not in str(refused.value)
