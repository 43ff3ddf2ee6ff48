"""Studies, staff, sites and milestones imported from hand-made files (tests/data)."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from planner.frames import load_portfolio
from planner.importing.run import import_files, import_tables
from planner.store import transaction
from planner.tables import AuditEntry
from tests.conftest import snapshot

DATA = Path(__file__).resolve().parents[1] / "data"


def _import(engine, kind: str, path: Path, actor: str = "tester"):  # noqa: ANN001, ANN202
    with transaction(engine, actor) as session:
        return import_files(session, kind, [path], actor)


def _load_all(engine) -> None:  # noqa: ANN001
    for kind in ("studies", "staff", "sites", "milestones"):
        _import(engine, kind, DATA / f"{kind}.csv")


def test_tables_land_with_their_types(store) -> None:  # noqa: ANN001
    _load_all(store)
    with transaction(store, "tester") as session:
        p = load_portfolio(session)
    onc = p.studies.set_index("study_id").loc["ONC-301"]
    assert (onc["sponsor"], onc["phase"], onc["currency"]) == ("Aurora Oncology", "III", "EUR")
    assert onc["planned_sf_rate"] == 0.30
    staff = p.staff.set_index("staff_id")
    assert staff.loc["CRA-001", "cost_rate"] == Decimal("95.50")
    assert staff.loc["CRA-001", "languages"] == ["de", "en"]
    sites = p.sites.set_index("site_id")
    assert sites.loc["1002", "country"] == "DE"  # alpha-3 DEU normalised
    assert sites.loc["3001", "country"] == "US"  # lower case accepted
    assert sites.loc["1001", "cra_id"] == "CRA-001"
    assert pd.isna(sites.loc["2001", "cra_id"])  # no CRA yet
    fpi = p.milestones.set_index("milestone").loc["fpi"]
    assert fpi["actual"] == dt.datetime(2026, 2, 20)
    # assignments start at the site's activation date
    a = p.assignments.set_index("site_id").loc["1001"]
    assert a["effective_from"] == dt.datetime(2026, 2, 1)
    assert pd.isna(a["effective_to"])


def test_same_files_twice_change_nothing(store) -> None:  # noqa: ANN001
    _load_all(store)
    before = snapshot(store)
    for kind in ("studies", "staff", "sites", "milestones"):
        assert _import(store, kind, DATA / f"{kind}.csv").changed == 0
    assert snapshot(store) == before


def test_excel_file_is_read_from_the_sheet_named_like_the_kind(store, tmp_path) -> None:  # noqa: ANN001
    import pandas as pd

    book = tmp_path / "portfolio.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["read me"]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.read_csv(DATA / "studies.csv", dtype=str).to_excel(writer, sheet_name="Studies",
                                                               index=False)
    result = _import(store, "studies", book)
    assert result.counts["study"]["insert"] == 2


def test_changed_file_updates_and_audits_before_after(store, tmp_path) -> None:  # noqa: ANN001
    _load_all(store)
    changed = tmp_path / "staff.csv"
    text = (DATA / "staff.csv").read_text().replace("95.50,EUR", "99.00,EUR")
    changed.write_text(text)
    result = _import(store, "staff", changed, actor="finance.lead")
    assert result.counts["staff"] == {"insert": 0, "update": 1, "unchanged": 2}
    with transaction(store, "tester") as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk)).one()
    assert (entry.action, entry.actor, entry.entity) == ("update", "finance.lead", "staff")
    assert entry.entity_key == {"staff_id": "CRA-001"}
    assert entry.before["cost_rate"] == "95.50" and entry.after["cost_rate"] == "99.00"
    assert entry.source == "staff.csv, row 2"


def test_reassigning_a_site_keeps_the_history(store, tmp_path) -> None:  # noqa: ANN001
    _load_all(store)
    moved = tmp_path / "sites.csv"
    moved.write_text((DATA / "sites.csv").read_text()
                     .replace("2026-02-01,12,CRA-001", "2026-02-01,12,CRA-002")
                     .replace("2026-03-20,10,CRA-001", "2026-03-20,10,"))
    with transaction(store, "pm") as session:
        result = import_files(session, "sites", [moved], "pm", effective=dt.date(2026, 6, 1))
    # site 1001: old row closed, new row opened; site 1002: its row closed
    assert result.counts["cra_assignment"] == {"insert": 1, "update": 2, "unchanged": 0}
    with transaction(store, "tester") as session:
        history = load_portfolio(session).assignments
    site = history[history["site_id"] == "1001"].sort_values("effective_from")
    assert list(site["staff_id"]) == ["CRA-001", "CRA-002"]
    assert site["effective_to"].iloc[0] == dt.datetime(2026, 6, 1)
    assert site["effective_from"].iloc[1] == dt.datetime(2026, 6, 1)
    assert site["effective_to"].isna().iloc[1]
    unassigned = history[history["site_id"] == "1002"]
    assert list(unassigned["effective_to"]) == [dt.datetime(2026, 6, 1)]
    # the same file again, on a later day, changes nothing
    with transaction(store, "pm") as session:
        again = import_files(session, "sites", [moved], "pm", effective=dt.date(2026, 7, 1))
    assert again.changed == 0


def test_in_memory_frames_use_the_same_path(store) -> None:  # noqa: ANN001
    import pandas as pd

    from planner.importing.readers import RawTable

    frame = pd.read_csv(DATA / "studies.csv", dtype=str, keep_default_na=False)
    with transaction(store, "demo") as session:
        result = import_tables(session, "studies", [RawTable.from_frame("memory", frame)],
                               "demo")
    assert result.counts["study"]["insert"] == 2


def test_copy_of_a_file_under_another_name_is_still_a_no_op(store, tmp_path) -> None:  # noqa: ANN001
    _load_all(store)
    copy = tmp_path / "studies-again.csv"
    shutil.copy(DATA / "studies.csv", copy)
    assert _import(store, "studies", copy).changed == 0


def test_sdtm_subjects_activate_a_site_still_in_start_up(store, tmp_path) -> None:  # noqa: ANN001
    """Site 2001 is 'selected' without activation; DM shows subjects there."""
    _load_all(store)
    dm = tmp_path / "dm.csv"
    dm.write_text("STUDYID,DOMAIN,USUBJID,SITEID,ARMCD,ARM,COUNTRY,RFSTDTC,RFICDTC,DMDTC\n"
                  "ONC-301,DM,ONC-301-2001-01,2001,A,Arm A,USA,2026-12-20,2026-12-05,\n"
                  "ONC-301,DM,ONC-301-2001-02,2001,SCRNFAIL,Screen Failure,USA,,2026-12-09,\n")
    with transaction(store, "tester") as session:
        result = import_files(session, "sdtm", [dm], "tester")
    assert result.counts["site"] == {"insert": 0, "update": 1, "unchanged": 0}
    with transaction(store, "tester") as session:
        site = load_portfolio(session).sites.set_index("site_id").loc["2001"]
    assert site["status"] == "enrolling"
    assert site["actual_activation"] == dt.datetime(2026, 12, 5)
    assert site["planned_activation"] == dt.datetime(2026, 12, 1)  # kept


def test_audit_names_references_by_their_natural_ids(store, tmp_path) -> None:  # noqa: ANN001
    _load_all(store)
    moved = tmp_path / "sites.csv"
    moved.write_text((DATA / "sites.csv").read_text().replace(
        "2026-02-01,12,CRA-001", "2026-02-01,12,CRA-002"))
    with transaction(store, "pm") as session:
        result = import_files(session, "sites", [moved], "pm", effective=dt.date(2026, 6, 1))
    with transaction(store, "tester") as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk).order_by(AuditEntry.id)).all()
        study = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "study").order_by(AuditEntry.id).limit(1)).one()
    closed = next(e for e in entries if e.action == "update")
    opened = next(e for e in entries if e.action == "insert")
    assert closed.before == {"staff_id": "CRA-001", "effective_to": None}
    assert closed.after == {"staff_id": "CRA-001", "effective_to": "2026-06-01"}
    assert opened.after == {"staff_id": "CRA-002", "effective_to": None}
    assert study.after["sponsor"] == "Aurora Oncology"
