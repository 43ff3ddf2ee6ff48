"""Broken SDTM input: every problem located, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.importing.issues import ImportRejected
from planner.importing.run import import_files
from planner.store import transaction
from tests.conftest import snapshot

DM_HEADER = "STUDYID,DOMAIN,USUBJID,SITEID,ARMCD,ARM,COUNTRY,RFSTDTC,RFICDTC,DMDTC\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(engine, paths: list[Path]) -> list[str]:  # noqa: ANN001
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as caught, transaction(engine, "tester") as session:
        import_files(session, "sdtm", paths, "tester")
    assert snapshot(engine) == before
    return [str(issue) for issue in caught.value.issues]


def test_bad_dates_duplicate_subjects_and_missing_variables(store, tmp_path) -> None:  # noqa: ANN001
    dm = write(tmp_path, "dm.csv", DM_HEADER
               + "S1,DM,S1-001,01,A,Arm A,USA,2024-13-45,,2024-01-01\n"
               + "S1,DM,S1-002,01,A,Arm A,USA,2024-02-01,,2024-01-20\n"
               + "S1,DM,S1-002,01,A,Arm A,USA,2024-02-01,,2024-01-20\n")
    issues = refused(store, [dm])
    assert any("dm.csv, row 2, column RFSTDTC: value '2024-13-45'" in i for i in issues)
    sv = write(tmp_path, "sv.csv", "STUDYID,DOMAIN,USUBJID,SVSTDTC\nS1,SV,S1-001,2024-02-01\n")
    issues = refused(store, [sv])
    assert issues == ["sv.csv, row 1, column VISITNUM: expected a column named 'VISITNUM' "
                      "(columns found: STUDYID, DOMAIN, USUBJID, SVSTDTC)"]


def test_duplicate_subject_in_dm(store, tmp_path) -> None:  # noqa: ANN001
    dm = write(tmp_path, "dm.csv", DM_HEADER
               + "S1,DM,S1-002,01,A,Arm A,USA,2024-02-01,,2024-01-20\n"
               + "S1,DM,S1-002,01,A,Arm A,USA,2024-02-01,,2024-01-20\n")
    assert refused(store, [dm]) == [
        "dm.csv, row 3, column USUBJID: value 'S1-002': expected a key that appears only once "
        "in the file"]


def test_two_studies_in_one_import(store, tmp_path) -> None:  # noqa: ANN001
    dm = write(tmp_path, "dm.csv", DM_HEADER + "S1,DM,S1-001,01,A,Arm A,USA,,,2024-01-01\n")
    tv = write(tmp_path, "tv.csv", "STUDYID,DOMAIN,VISITNUM,VISIT\nS2,TV,1,SCREENING\n")
    issues = refused(store, [dm, tv])
    assert any("one study per import (found S1, S2)" in i for i in issues)


def test_ds_needs_dm(store, tmp_path) -> None:  # noqa: ANN001
    ds = write(tmp_path, "ds.csv", "STUDYID,DOMAIN,USUBJID,DSDECOD,DSCAT,DSSTDTC\n"
               "S1,DS,S1-001,COMPLETED,DISPOSITION EVENT,2024-05-01\n")
    assert any("DM in the same import" in i for i in refused(store, [ds]))


def test_unknown_country_for_a_new_site(store, tmp_path) -> None:  # noqa: ANN001
    dm = write(tmp_path, "dm.csv", DM_HEADER + "S1,DM,S1-001,01,A,Arm A,ATL,,,2024-01-01\n")
    assert any("column COUNTRY: value 'ATL': expected an ISO 3166 country for new site 01" in i
               for i in refused(store, [dm]))


def test_garbage_transport_file(store, tmp_path) -> None:  # noqa: ANN001
    xpt = tmp_path / "dm.xpt"
    xpt.write_bytes(b"HEADER RECORD*******garbage" * 40)
    issues = refused(store, [xpt])
    assert issues[0].startswith("dm.xpt: expected a SAS transport (.xpt) file")
