"""Bad input through the real command line: exit 2, every problem located, store untouched.

Each case takes a copy of a store holding a valid portfolio (studies, staff, sites,
loaded by the command line once per database), snapshots every table, runs
`trialplan import` on a broken file and checks the message names the file, row and
column, and that no row anywhere changed.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from planner.store import make_engine
from tests.conftest import database_copy, initialised_url, snapshot
from tests.trialplan.cli_runner import trialplan

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portfolio_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A store with the valid portfolio loaded by `trialplan import`, once per database."""
    for url in initialised_url(request, request.param, tmp_path_factory.mktemp("portfolio")):
        for kind in ("studies", "staff", "sites"):
            result = trialplan(url, "import", kind, str(DATA / f"{kind}.csv"))
            assert result.exit_code == 0, result.output
        gc.collect()  # the commands' engines: PostgreSQL copies only a database nobody uses
        yield url


@pytest.fixture
def loaded(portfolio_url: str, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """A private copy of the loaded store: its engine and URL."""
    for url in database_copy(portfolio_url, tmp_path):
        engine = make_engine(url)
        yield engine, url
        engine.dispose()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def rejected(loaded, kind: str, path: Path) -> str:  # noqa: ANN001
    engine, url = loaded
    before = snapshot(engine)
    result = trialplan(url, "import", kind, str(path))
    assert result.exit_code == 2, result.output
    assert snapshot(engine) == before
    return result.stderr


SITES_HEADER = ("study_id,site_id,country,investigator,status,planned_activation,"
                "actual_activation,target_randomized,cra_id\n")
STAFF_HEADER = ("staff_id,name,role,home_country,languages,fte,capacity_hours_month,cost_rate,"
                "currency\n")


def test_missing_column(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sites.csv", SITES_HEADER.replace(",cra_id", "")
                 + "ONC-301,1003,DE,Dr. X,selected,2026-05-01,,5\n")
    message = rejected(loaded, "sites", path)
    assert "sites.csv, row 1, column cra_id: expected a column named 'cra_id'" in message


def test_wrong_type_and_negative_values_are_all_reported(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "staff.csv", STAFF_HEADER
                 + "CRA-009,A,CRA,DE,de,-0.5,143,90.00,EUR\n"
                 + "CRA-010,B,CRA,DE,de,1,lots,90.00,EUR\n"
                 + "CRA-011,C,CRA,DE,de,1,143,ninety,EUR\n"
                 + "CRA-012,D,CRA,DE,de,1,143,90.00,EURO\n"
                 + "CRA-013,E,ASSISTANT,XX,de,1,143,90.00,EUR\n")
    message = rejected(loaded, "staff", path)
    assert "staff.csv, row 2, column fte: value '-0.5': expected a number from 0 to 1.5" in message
    assert "row 3, column capacity_hours_month: value 'lots'" in message
    assert "row 4, column cost_rate: value 'ninety': expected a decimal amount" in message
    assert "row 5, column currency: value 'EURO': expected an ISO 4217 currency code" in message
    assert "row 6, column role: value 'ASSISTANT': expected one of CRA, PM" in message
    assert "row 6, column home_country: value 'XX': expected an ISO 3166" in message


def test_negative_target(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sites.csv", SITES_HEADER
                 + "ONC-301,1003,DE,Dr. X,selected,2026-05-01,,-4,\n")
    message = rejected(loaded, "sites", path)
    assert "row 2, column target_randomized: value '-4': expected a whole number >= 0" in message


def test_unknown_study_and_unknown_cra(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sites.csv", SITES_HEADER
                 + "NOPE-1,1,DE,Dr. X,selected,2026-05-01,,4,\n"
                 + "ONC-301,1004,DE,Dr. Y,selected,2026-05-01,,4,CRA-404\n"
                 + "ONC-301,1005,DE,Dr. Z,selected,2026-05-01,,4,PM-001\n")
    message = rejected(loaded, "sites", path)
    assert "row 2, column study_id: value 'NOPE-1': expected a study_id already" in message
    assert "row 3, column cra_id: value 'CRA-404': expected the staff_id of a CRA" in message
    assert "row 4, column cra_id: value 'PM-001'" in message  # a PM is not a CRA


def test_unknown_subject_in_sv(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sv.csv", "STUDYID,DOMAIN,USUBJID,VISITNUM,VISIT,SVSTDTC\n"
                 "ONC-301,SV,ONC-301-0001,1,SCREENING,2026-03-01\n")
    message = rejected(loaded, "sdtm", path)
    assert "sv.csv, row 2, column USUBJID: value 'ONC-301-0001'" in message


def test_duplicate_key(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sites.csv", SITES_HEADER
                 + "ONC-301,1003,DE,Dr. X,selected,2026-05-01,,4,\n"
                 + "ONC-301,1003,DE,Dr. X,selected,2026-06-01,,4,\n")
    message = rejected(loaded, "sites", path)
    assert "row 3, column study_id, site_id: value 'ONC-301/1003': expected a key that " \
           "appears only once" in message


def test_unparseable_dates(loaded, tmp_path) -> None:  # noqa: ANN001
    path = write(tmp_path, "sites.csv", SITES_HEADER
                 + "ONC-301,1003,DE,Dr. X,selected,15/05/2026,,4,\n"
                 + "ONC-301,1004,DE,Dr. X,selected,2026-02-30,,4,\n")
    message = rejected(loaded, "sites", path)
    assert "row 2, column planned_activation: value '15/05/2026': expected an ISO date" in message
    assert "row 3, column planned_activation: value '2026-02-30'" in message


def test_empty_and_header_only_files(loaded, tmp_path) -> None:  # noqa: ANN001
    message = rejected(loaded, "sites", write(tmp_path, "empty.csv", ""))
    assert "empty.csv" in message and "empty" in message
    message = rejected(loaded, "sites", write(tmp_path, "header.csv", SITES_HEADER))
    assert "header.csv" in message and "no data rows" in message


def test_binary_garbage(loaded, tmp_path) -> None:  # noqa: ANN001
    garbage = tmp_path / "sites.csv"
    garbage.write_bytes(os.urandom(4096) + b"\x00")
    assert "binary data" in rejected(loaded, "sites", garbage)
    fake_book = tmp_path / "sites.xlsx"
    fake_book.write_bytes(b"PK\x03\x04" + os.urandom(2048))
    assert "sites.xlsx" in rejected(loaded, "sites", fake_book)


def test_wrong_sheet(loaded, tmp_path) -> None:  # noqa: ANN001
    book = tmp_path / "budget.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"item": ["travel"], "amount": ["10.00"]}).to_excel(
            writer, sheet_name="Budget", index=False)
    message = rejected(loaded, "sites", book)
    assert "budget.xlsx [sheet Budget], row 1, column study_id: expected a column named" \
           in message


def test_one_bad_row_at_the_end_of_50000(loaded, tmp_path) -> None:  # noqa: ANN001
    rows = [f"ONC-301,S{i:05d},DE,Dr. {i},selected,2026-05-01,,3,\n" for i in range(49_999)]
    rows.append("ONC-301,S49999,DE,Dr. Last,selected,2026-05-01,,three,\n")
    path = write(tmp_path, "sites.csv", SITES_HEADER + "".join(rows))
    message = rejected(loaded, "sites", path)
    assert message.count("\n") == 2  # the headline and exactly one problem
    assert "row 50001, column target_randomized: value 'three'" in message


def test_dry_run_writes_nothing_and_says_what_would_change(loaded, tmp_path) -> None:  # noqa: ANN001
    engine, url = loaded
    path = write(tmp_path, "sites.csv", SITES_HEADER
                 + "ONC-301,1003,DE,Dr. X,selected,2026-05-01,,4,\n")
    before = snapshot(engine)
    result = trialplan(url, "import", "sites", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "site" in result.stdout and "1 new" in result.stdout
    assert snapshot(engine) == before


def test_excel_formula_saved_without_its_value(loaded, tmp_path) -> None:  # noqa: ANN001
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "sites"
    sheet.append(SITES_HEADER.strip().split(","))
    sheet.append(["ONC-301", "1030", "DE", "Dr. F", "selected", "2026-05-01", None, "=5*2", None])
    path = tmp_path / "sites.xlsx"
    book.save(path)
    message = rejected(loaded, "sites", path)
    assert "sites.xlsx [sheet sites], row 2, column target_randomized: value '=5*2': " \
           "expected a computed value" in message
