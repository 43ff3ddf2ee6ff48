"""`trialplan budget`, `export sponsor-review` and `change-order` on the demo portfolio:
the workbook's formulas recalculated by LibreOffice equal `budget --json` to the cent,
and an edited workbook comes back as a change order with the EAC it should give."""

from __future__ import annotations

import json
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest

from contracts.review_sheets import LINE_HEADERS
from tests.conftest import copy_store
from tests.contracts.libreoffice import recalculate, to_pdf, to_png
from tests.trialplan.cli_runner import trialplan

STUDY = "HLX-CV-302"
MONEY = ("bac", "pv", "ev", "ac", "eac", "etc", "vac")
needs_libreoffice = pytest.mark.skipif(shutil.which("soffice") is None,
                                       reason="LibreOffice (soffice) is not installed; "
                                       ".ci/run installs libreoffice-calc")


@pytest.fixture(scope="module")
def demo_copy(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return copy_store(demo_template, tmp_path_factory.mktemp("budget"))


def budget_rows(url: str, study: str = STUDY) -> dict[str, dict]:
    result = trialplan(url, "budget", study, "--json")
    assert result.exit_code == 0, result.output
    return {row["service_line"]: row for row in json.loads(result.stdout)}


def test_the_figures_hold_together(demo_copy: str) -> None:
    rows = budget_rows(demo_copy)
    lines = [r for k, r in rows.items() if k != "total"]
    for row in rows.values():
        assert Decimal(row["etc"]) == Decimal(row["eac"]) - Decimal(row["ac"])
        assert Decimal(row["vac"]) == Decimal(row["bac"]) - Decimal(row["eac"])
        if row["cpi"] is not None:
            exact = Decimal(row["ev"]) / Decimal(row["ac"])
            assert Decimal(row["cpi"]) == exact.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    for key in MONEY:
        assert sum(Decimal(r[key]) for r in lines) == Decimal(rows["total"][key]), key
    # site management is priced per monitoring visit: EV = delivered visits × price ≤ BAC
    assert 0 < Decimal(rows["site_management"]["ev"]) <= Decimal(rows["site_management"]["bac"])


@needs_libreoffice
def test_the_workbook_recalculated_equals_budget_json(demo_copy: str, tmp_path: Path) -> None:
    path = tmp_path / "review.xlsx"
    result = trialplan(demo_copy, "export", "sponsor-review", STUDY, "-o", str(path))
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(recalculate(path, tmp_path / "out"), data_only=True)
    sheet = book["Service lines"]
    header = [c.value for c in sheet[1]]
    shown = {r[header.index(LINE_HEADERS["service_line"])]: r
             for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] is not None}
    expected = budget_rows(demo_copy)
    assert set(shown) == set(expected)
    for line, want in expected.items():
        for key in MONEY:
            value = shown[line][header.index(LINE_HEADERS[key])]
            assert Decimal(repr(float(value))).quantize(Decimal("0.01")) == Decimal(want[key]), (
                line, key, value, want[key])
    pdf = to_pdf(path, tmp_path / "pdf")
    assert pdf.stat().st_size > 0
    png = to_png(pdf, tmp_path / "png")
    assert Path(png).stat().st_size > 0


def test_an_edited_workbook_comes_back_as_a_change_order(demo_copy: str,
                                                          tmp_path: Path) -> None:
    before = budget_rows(demo_copy)
    path = tmp_path / "review.xlsx"
    assert trialplan(demo_copy, "export", "sponsor-review", STUDY, "-o", str(path)).exit_code == 0
    book = openpyxl.load_workbook(path)
    sheet = book["Service lines"]
    header = [c.value for c in sheet[1]]
    line_col = header.index(LINE_HEADERS["service_line"]) + 1
    units_col = header.index(LINE_HEADERS["units"]) + 1
    row = next(r for r in range(2, sheet.max_row + 1)
               if sheet.cell(r, line_col).value == "data_management")
    old_units = Decimal(repr(sheet.cell(row, units_col).value))
    sheet.cell(row, units_col).value = float(old_units + 10_000)  # 10,000 more CRF pages
    book.save(path)
    result = trialplan(demo_copy, "change-order", STUDY, str(path), "--id", "CO-09",
                       "--effective", "2026-10-01", "--reason", "extension study pages")
    assert result.exit_code == 0, result.output
    assert "data_management" in result.output
    after = budget_rows(demo_copy)
    was, now = before["data_management"], after["data_management"]
    assert now["ev"] == was["ev"] and now["ac"] == was["ac"]  # only the budget moved
    price = (Decimal(now["bac"]) - Decimal(was["bac"])) / 10_000  # whole units × cents
    assert price > 0 and price == price.quantize(Decimal("0.01"))
    ev, ac, bac = Decimal(now["ev"]), Decimal(now["ac"]), Decimal(now["bac"])
    eac = (ac + (bac - ev) * ac / ev).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(now["eac"]) == eac  # EAC = AC + (BAC − EV) / CPI with the new BAC
    again = trialplan(demo_copy, "change-order", STUDY, str(path), "--id", "CO-09",
                      "--effective", "2026-10-01", "--reason", "extension study pages")
    assert again.exit_code == 0 and "changed 0 rows" in again.output  # same file, same rows


@pytest.mark.parametrize("args, message", [
    (["budget", "NOPE-1"], "not in the store"),
    (["budget", STUDY, "--as-of", "2026-02-30"], "ISO date"),
    (["export", "sponsor-review", STUDY, "-o", "review.pdf"], ".xlsx"),
    (["change-order", STUDY, "no-such.xlsx", "--id", "CO-1", "--effective", "2026-10-01",
      "--reason", "x"], "no such file"),
])
def test_bad_requests_exit_2(demo_copy: str, args: list[str], message: str) -> None:
    result = trialplan(demo_copy, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_study_without_a_work_order_is_refused(demo_copy: str, tmp_path: Path) -> None:
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id,sponsor,phase,therapeutic_area,target_randomized,currency,"
                       "treatment_weeks\nNEW-001,Acme,II,oncology,100,EUR,24\n")
    assert trialplan(demo_copy, "import", "studies", str(studies)).exit_code == 0
    result = trialplan(demo_copy, "budget", "NEW-001")
    assert result.exit_code == 2 and "has no work order" in result.output
