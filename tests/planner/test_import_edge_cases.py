"""Edge cases found in review: each one reproduced, then pinned here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text

from planner.frames import load_portfolio
from planner.importing.issues import ImportRejected
from planner.importing.run import import_files
from planner.store import transaction
from planner.tables import AuditEntry
from tests.conftest import PILOT, snapshot

DATA = Path(__file__).resolve().parents[1] / "data"
STAFF_HEADER = ("staff_id,name,role,home_country,languages,fte,capacity_hours_month,cost_rate,"
                "currency\n")
SITE_HEADER = ("study_id,site_id,country,investigator,status,planned_activation,"
               "actual_activation,target_randomized,cra_id\n")


def run(engine, kind: str, *paths: Path, effective: dt.date | None = None):  # noqa: ANN001, ANN201
    with transaction(engine, "tester") as session:
        return import_files(session, kind, list(paths), "tester", effective)


def refused(engine, kind: str, *paths: Path) -> list[str]:  # noqa: ANN001
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as caught:
        run(engine, kind, *paths)
    assert snapshot(engine) == before
    return [str(issue) for issue in caught.value.issues]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def load_base(engine) -> None:  # noqa: ANN001
    for kind in ("studies", "staff", "sites"):
        run(engine, kind, DATA / f"{kind}.csv")


def test_amounts_are_normalised_and_limited(store, tmp_path) -> None:  # noqa: ANN001
    staff = write(tmp_path, "staff.csv", STAFF_HEADER + "C9,N,CRA,DE,de,1,143,85.5,EUR\n")
    run(store, "staff", staff)
    assert run(store, "staff", staff).changed == 0
    with transaction(store, "t") as session:
        rate = load_portfolio(session).staff.set_index("staff_id").loc["C9", "cost_rate"]
    assert str(rate) == "85.50"
    for bad in ("85.505", "1e3", "12345678901234567.00", "Infinity"):
        path = write(tmp_path, "bad.csv", STAFF_HEADER + f"C9,N,CRA,DE,de,1,143,{bad},EUR\n")
        assert any(f"column cost_rate: value '{bad}'" in i for i in refused(store, "staff", path))


def test_lengths_and_integer_ranges_are_checked_before_the_database(store, tmp_path) -> None:  # noqa: ANN001
    studies = write(tmp_path, "studies.csv",
                    "study_id,sponsor,phase,therapeutic_area,target_randomized,currency,"
                    f"treatment_weeks\n{'S' * 65},Acme,III,Onc,100,EUR,52\n"
                    "S2,Acme,III,Onc,3000000000,EUR,52\nS3,Acme,III,Onc,100,EUR,inf\n")
    issues = refused(store, "studies", studies)
    assert any("row 2, column study_id" in i and "at most 64 characters" in i for i in issues)
    assert any("row 3, column target_randomized: value '3000000000'" in i for i in issues)
    assert any("row 4, column treatment_weeks: value 'inf'" in i for i in issues)


def test_absent_optional_columns_leave_stored_values(store, tmp_path) -> None:  # noqa: ANN001
    run(store, "studies", DATA / "studies.csv")
    minimal = write(tmp_path, "studies.csv",
                    "study_id,sponsor,phase,therapeutic_area,target_randomized,currency,"
                    "treatment_weeks\nONC-301,Aurora Oncology,III,oncology,650,EUR,52\n")
    result = run(store, "studies", minimal)
    assert result.counts["study"]["update"] == 1
    with transaction(store, "t") as session:
        study = load_portfolio(session).studies.set_index("study_id").loc["ONC-301"]
    assert study["target_randomized"] == 650
    assert study["title"] == "A phase III trial" and study["planned_sf_rate"] == 0.30


def test_new_cra_after_a_gap_keeps_the_old_assignment(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    sites = (DATA / "sites.csv").read_text()
    blank = write(tmp_path, "blank.csv", sites.replace("2026-02-01,12,CRA-001", "2026-02-01,12,"))
    other = write(tmp_path, "other.csv",
                  sites.replace("2026-02-01,12,CRA-001", "2026-02-01,12,CRA-002"))
    run(store, "sites", blank, effective=dt.date(2026, 5, 1))
    run(store, "sites", other, effective=dt.date(2026, 6, 1))
    with transaction(store, "t") as session:
        history = load_portfolio(session).assignments
    site = history[history["site_id"] == "1001"].sort_values("effective_from")
    assert list(zip(site["staff_id"], site["effective_from"], strict=True)) == [
        ("CRA-001", dt.datetime(2026, 2, 1)), ("CRA-002", dt.datetime(2026, 6, 1))]
    assert site["effective_to"].iloc[0] == dt.datetime(2026, 5, 1)
    assert site["effective_to"].isna().iloc[1]


def test_csv_oddities(store, tmp_path) -> None:  # noqa: ANN001
    load_base(store)
    assert "empty" in refused(store, "sites", write(tmp_path, "bom.csv", b"\xef\xbb\xbf"))[0]
    leading = write(tmp_path, "lead.csv", "\n" + SITE_HEADER
                    + "ONC-301,1009,DE,Dr. X,selected,2026-05-01,,4,\n")
    assert run(store, "sites", leading).counts["site"]["insert"] == 1
    ragged = write(tmp_path, "ragged.csv", SITE_HEADER
                   + "ONC-301,1010,DE,Dr. X,selected,2026-05-01,,4,,EXTRA\n")
    assert refused(store, "sites", ragged) == [
        "ragged.csv, row 2: value 'EXTRA': expected at most 9 cells, as many as the header has"]


DM = ("STUDYID,DOMAIN,USUBJID,SITEID,ARMCD,ARM,COUNTRY,RFSTDTC,RFICDTC,DMDTC\n"
      "X1,DM,X1-001,01,A,Arm A,USA,2024-01-10,2024-01-02,\n"
      "X1,DM,X1-002,01,A,Arm A,USA,2024-01-12,2024-01-03,\n")
SV = ("STUDYID,DOMAIN,USUBJID,VISITNUM,VISIT,SVSTDTC\n"
      "X1,SV,X1-001,1,SCREENING,2024-01-02\nX1,SV,X1-001,2,BASELINE,2024-01-10\n"
      "X1,SV,X1-002,1,SCREENING,2024-01-03\n")


def test_dm_alone_keeps_dispositions_from_an_earlier_ds(store, tmp_path) -> None:  # noqa: ANN001
    files = [PILOT / f"{d}.xpt" for d in ("dm", "ds", "sv", "tv", "ts")]
    run(store, "sdtm", *files)
    before = snapshot(store)
    assert run(store, "sdtm", PILOT / "dm.xpt").changed == 0
    assert snapshot(store) == before


def test_ds_dates_and_missing_dscat(store, tmp_path) -> None:  # noqa: ANN001
    dm = write(tmp_path, "dm.csv", DM)
    ds = write(tmp_path, "ds.csv", "STUDYID,DOMAIN,USUBJID,DSDECOD,DSSTDTC\n"
               "X1,DS,X1-001,ADVERSE EVENT,2024-03-01\nX1,DS,X1-001,COMPLETED,\n"
               "X1,DS,X1-002,FINAL LAB VISIT,2024-06-01\nX1,DS,X1-002,COMPLETED,2024-05-01\n")
    run(store, "sdtm", dm, ds)
    with transaction(store, "t") as session:
        subjects = load_portfolio(session).subjects.set_index("subject_id")
    assert subjects.loc["X1-001", "disposition"] == "ADVERSE EVENT"  # the dated event wins
    assert subjects.loc["X1-001", "discontinued"] == dt.datetime(2024, 3, 1)
    assert subjects.loc["X1-002", "completed"] == dt.datetime(2024, 5, 1)  # not a lab visit


def test_corrected_sv_transfer_removes_visits_with_audit(store, tmp_path) -> None:  # noqa: ANN001
    run(store, "sdtm", write(tmp_path, "dm.csv", DM), write(tmp_path, "sv.csv", SV))
    corrected = write(tmp_path, "sv2.csv", SV.replace("X1,SV,X1-001,2,BASELINE,2024-01-10\n", ""))
    result = run(store, "sdtm", corrected)
    assert result.counts["subject_visit"] == {"insert": 0, "update": 0, "unchanged": 2,
                                              "delete": 1}
    with transaction(store, "t") as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
        assert len(load_portfolio(session).visits) == 2
    assert entry.entity_key == {"study_id": "X1", "subject_id": "X1-001", "visit_num": 2.0,
                                "visit_seq": 1}
    assert entry.before["visit_date"] == "2024-01-10"
    twice = write(tmp_path, "sv3.csv", SV + "X1,SV,X1-002,1,SCREENING,2024-01-03\n")
    assert any("row 5, column USUBJID, VISITNUM, SVSTDTC" in i
               for i in refused(store, "sdtm", twice))


def test_new_study_from_tv_without_visit_days(store, tmp_path) -> None:  # noqa: ANN001
    tv = write(tmp_path, "tv.csv", "STUDYID,DOMAIN,VISITNUM,VISIT\nX1,TV,1,SCREENING\n"
               "X1,TV,2,BASELINE\n")
    run(store, "sdtm", write(tmp_path, "dm.csv", DM), tv)
    with transaction(store, "t") as session:
        assert load_portfolio(session).studies.loc[0, "treatment_weeks"] == 0


def test_visits_load_whatever_the_server_datestyle(store, tmp_path) -> None:  # noqa: ANN001
    run(store, "sdtm", write(tmp_path, "dm.csv", DM), write(tmp_path, "sv.csv", SV))
    if store.dialect.name == "postgresql":
        with store.connect() as connection:
            name = connection.execute(text("select current_database()")).scalar()
            connection.execute(text(f'ALTER DATABASE "{name}" SET datestyle = \'SQL, DMY\''))
            connection.commit()
        store.dispose()
    with transaction(store, "t") as session:
        visits = load_portfolio(session).visits
    assert sorted(visits["visit_date"]) == [dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3),
                                            dt.datetime(2024, 1, 10)]


def test_awkward_text_survives_the_bulk_paths(store, tmp_path) -> None:  # noqa: ANN001
    """Braces, tabs, backslashes, quotes and line breaks in cells, on both databases."""
    load_base(store)
    name = 'Dr. {0} "Q"\tback\\slash\nnext line {}'
    quoted = '"' + name.replace('"', '""') + '"'
    sites = write(tmp_path, "sites.csv", SITE_HEADER
                  + f"ONC-301,1020,DE,{quoted},selected,2026-05-01,,4,\n")
    run(store, "sites", sites)
    with transaction(store, "t") as session:
        stored = load_portfolio(session).sites.set_index("site_id").loc["1020", "investigator"]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "site")
                                .order_by(AuditEntry.id.desc()).limit(1)).one()
    assert stored == name
    assert entry.after["investigator"] == name
    assert run(store, "sites", sites).changed == 0


def test_partial_sdtm_dates_count_as_unknown_and_date_times_keep_the_day(store, tmp_path) -> None:  # noqa: ANN001, E501
    dm = write(tmp_path, "dm.csv",
               "STUDYID,DOMAIN,USUBJID,SITEID,ARMCD,ARM,COUNTRY,RFSTDTC,RFICDTC,DMDTC\n"
               "X1,DM,X1-001,01,A,Arm A,USA,2024-01-10T09:30,2024-01,2024-01-04\n")
    run(store, "sdtm", dm)
    with transaction(store, "t") as session:
        subject = load_portfolio(session).subjects.iloc[0]
    assert subject["screened"] == dt.datetime(2024, 1, 4)  # RFICDTC partial: DMDTC used
    assert subject["randomized"] == dt.datetime(2024, 1, 10)
