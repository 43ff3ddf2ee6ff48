"""`trialplan budget`, `export sponsor-review` and `change-order` on the demo portfolio:
the workbook's formulas recalculated by LibreOffice equal `budget --json` to the cent,
and an edited workbook comes back as a change order with the EAC it should give; what
the review shows agrees with the budget (site payments, pass-throughs and their AC; the
recruitment fan through the forecast's milestones)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from contracts import budget_units
from contracts.budget_lines import BudgetError
from contracts.review_sheets import LINE_HEADERS
from contracts.sponsor_budget import sponsor_budget
from contracts.sponsor_review import (
    pass_through_months,
    review_data,
    site_payment_totals,
)
from planner.recruitment_curve import _fan, milestone_bands
from planner.store import make_engine
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
    assert again.exit_code == 2  # an id is never rewritten: the same file needs a new id
    assert ("CO-09 is already a change order of HLX-CV-302 (from 2026-10-01): choose a new "
            "id") in again.output
    assert budget_rows(demo_copy) == after


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


@pytest.fixture
def fresh(demo_template: Path, tmp_path: Path) -> str:
    """A private copy of the demo for a test that changes it."""
    folder = tmp_path / "store"
    folder.mkdir()
    return copy_store(demo_template, folder)


def export(url: str, path: Path, *more: str) -> Path:
    result = trialplan(url, "export", "sponsor-review", STUDY, "-o", str(path), *more)
    assert result.exit_code == 0, result.output
    return path


def edit(path: Path, line: str, **values: float) -> int:
    """Set the Service lines cells of ``line`` (keys of LINE_HEADERS); its sheet row."""
    book = openpyxl.load_workbook(path)
    sheet = book["Service lines"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in range(2, sheet.max_row + 1)
               if sheet.cell(r, header.index(LINE_HEADERS["service_line"]) + 1).value == line)
    for key, value in values.items():
        sheet.cell(row, header.index(LINE_HEADERS[key]) + 1).value = value
    book.save(path)
    return row


def change_order(url: str, path: Path, order: str, effective: str) -> object:
    return trialplan(url, "change-order", STUDY, str(path), "--id", order, "--effective",
                     effective, "--reason", "test")


def test_budget_counts_change_orders_not_lines(fresh: str) -> None:
    result = trialplan(fresh, "budget", STUDY)
    assert result.exit_code == 0, result.output
    # CO-01 amends two lines (site management, regulatory), CO-02 one
    assert "(USD; 2 change orders in force)" in result.output


def test_a_stored_change_order_id_is_refused(fresh: str, tmp_path: Path) -> None:
    before = budget_rows(fresh)
    path = export(fresh, tmp_path / "review.xlsx")
    edit(path, "data_management", units=60_000)
    result = change_order(fresh, path, "CO-01", "2026-10-01")
    assert result.exit_code == 2, result.output
    assert ("CO-01 is already a change order of HLX-CV-302 (from 2026-04-30): choose a new "
            "id") in result.output
    assert budget_rows(fresh) == before  # CO-01 was not rewritten


def test_an_older_export_does_not_revert_later_change_orders(fresh: str,
                                                              tmp_path: Path) -> None:
    # as of 2026-03-31: before CO-01 (2026-04-30: 1,908 visits, 75 sites) and CO-02
    # (2026-07-31: project management at 18,900.00 a month)
    path = export(fresh, tmp_path / "march.xlsx", "--as-of", "2026-03-31")
    edit(path, "site_management", unit_price=2500)  # was 2,400.00 × 1,848 visits
    edit(path, "project_management", units=48)  # was 44 months × 18,000.00
    result = change_order(fresh, path, "CO-10", "2026-10-01")
    assert result.exit_code == 0, result.output
    rows = budget_rows(fresh)
    assert rows["site_management"]["bac"] == "4770000.00"  # 1,908 (CO-01) × 2,500.00
    assert rows["project_management"]["bac"] == "907200.00"  # 48 × 18,900.00 (CO-02)
    assert rows["regulatory"]["bac"] == "262500.00"  # not edited: CO-01's 75 sites stay
    assert "2 service lines" in result.output


def test_change_order_messages_give_the_sheet_rows(fresh: str, tmp_path: Path) -> None:
    path = export(fresh, tmp_path / "review.xlsx")
    row = edit(path, "regulatory", units=80)
    assert row != 2  # the first data row: what the messages said for any line
    result = change_order(fresh, path, "CO-11", "2026-04-30")  # CO-01's date
    assert result.exit_code == 2, result.output
    assert (f"review.xlsx (Service lines), row {row}, column effective_from: value "
            "'2026-04-30'") in result.output
    assert "CO-01 also takes effect on 2026-04-30" in result.output


def test_an_unreadable_workbook_is_named_once(fresh: str, tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_text("not a workbook")
    result = change_order(fresh, path, "CO-12", "2026-10-01")
    assert result.exit_code == 2
    assert f"{path}: not a readable .xlsx workbook" in result.output
    assert result.output.count("notes.xlsx") == 1


def test_a_study_whose_currency_changed_is_refused(fresh: str, tmp_path: Path) -> None:
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id,sponsor,phase,therapeutic_area,target_randomized,currency,"
                       "treatment_weeks\nHLX-CV-302,Helix Therapeutics,III,cardiology,600,EUR,"
                       "52\n")
    assert trialplan(fresh, "import", "studies", str(studies)).exit_code == 0
    for args in (["budget", STUDY], ["export", "sponsor-review", STUDY, "-o",
                                     str(tmp_path / "review.xlsx")]):
        result = trialplan(fresh, *args)
        assert result.exit_code == 2, result.output
        assert "the work order is in USD, but the study's reporting currency is EUR" in (
            result.output)
        assert "re-import the work order in EUR" in result.output
    assert not (tmp_path / "review.xlsx").exists()


def test_export_refuses_a_folder_before_computing(fresh: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed the budget for an output it cannot write")

    monkeypatch.setattr("trialplan.budget_cli.sponsor_budget", never)
    folder = tmp_path / "reviews.xlsx"
    folder.mkdir()
    for output in (folder, tmp_path):
        result = trialplan(fresh, "export", "sponsor-review", STUDY, "-o", str(output))
        assert result.exit_code == 2, result.output
        assert f"-o {output}: is a folder" in result.output


def test_export_replaces_the_file_whole(fresh: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "review.xlsx"
    path.write_text("the previous review")

    def broken(data: object, target: Path) -> Path:
        Path(target).write_bytes(b"PK half a workbook")
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("trialplan.budget_cli.write_review", broken)
        result = trialplan(fresh, "export", "sponsor-review", STUDY, "-o", str(path))
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert path.read_text() == "the previous review"  # untouched
    assert [p.name for p in folder.iterdir()] == ["review.xlsx"]  # no temporary file left
    export(fresh, path)
    assert "Service lines" in openpyxl.load_workbook(path).sheetnames
    assert [p.name for p in folder.iterdir()] == ["review.xlsx"]


def test_export_budget_errors_exit_2(fresh: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise BudgetError("review data: evm needs exactly one total row")

    monkeypatch.setattr("trialplan.budget_cli.review_data", refuse)
    result = trialplan(fresh, "export", "sponsor-review", STUDY, "-o",
                       str(tmp_path / "review.xlsx"))
    assert result.exit_code == 2, result.output
    assert f"{STUDY}: review data: evm needs exactly one total row" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("as_of", ["2026-03-15", "2026-06-30", None])
def test_site_payments_and_pass_throughs_are_the_pass_through_ac(demo_copy: str,
                                                                  as_of: str | None) -> None:
    """One reader of approved payments: a line counts once its run's through date is by
    the as-of date, on the Site payments sheet as in AC (2026-03-15: lines of March
    paid by a run through the end of March count on neither)."""
    cut = dt.date.fromisoformat(as_of) if as_of else None
    with Session(make_engine(demo_copy)) as session:
        budget = sponsor_budget(session, STUDY, cut)
        sites = site_payment_totals(session, budget)
    ac = int(budget.evm.set_index("service_line").at["pass_through", "ac_minor"])
    assert int(sites["reporting_paid_minor"].sum()) == ac
    assert int(pass_through_months(budget)["amount_minor"].sum()) == ac
    if as_of is None:
        assert ac > 0


def test_the_review_shows_the_forecast_and_the_assumptions(demo_copy: str) -> None:
    with Session(make_engine(demo_copy)) as session:
        budget = sponsor_budget(session, STUDY)
        forecast = milestone_bands(budget.portfolio, budget.study_id, budget.as_of)
        data = review_data(session, budget)
    assert forecast is not None
    assert {"enrolled_25", "enrolled_50", "enrolled_75", "lpi", "lplv", "csr_final"} <= set(
        forecast)
    # the fan passes through the forecast's 50 % point (P10, P50 and P90 alike)
    cut = pd.Timestamp(budget.as_of)
    randomized = budget.portfolio.subjects["randomized"].dropna()
    now = int((randomized <= cut).sum())
    assert now < 300  # 50 % of 600 is still ahead at the cut
    for position in range(3):
        when = pd.Timestamp(forecast["enrolled_50"][position])
        assert when > cut
        fan = _fan(pd.DatetimeIndex([when]), cut, now, 600, forecast, position)
        assert int(fan[0]) == 300, (position, when, fan)
    shown = {name: value for name, value, _ in data.assumptions}
    assert shown["CRF pages per visit"] == str(budget_units.PAGES_PER_VISIT)
    assert int(data.site_payments["reporting_paid_minor"].sum()) == int(
        data.pass_throughs["amount_minor"].sum())
