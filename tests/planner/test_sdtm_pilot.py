"""The CDISC SDTM pilot study imported for real, on SQLite and PostgreSQL.

Expected figures are the published facts of the pilot (PROVENANCE.md):
306 screened, 254 randomized, 52 screen failures, 17 sites (701-718 without
712), 3,559 SV rows, 18 planned visits in TV.
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import func, select

from planner.frames import load_portfolio
from planner.importing.run import import_files
from planner.store import transaction
from planner.summary import study_status
from planner.tables import AuditEntry, ImportBatch
from tests.conftest import PILOT, snapshot

DOMAIN_FILES = [PILOT / f"{name}.xpt" for name in ("dm", "ds", "sv", "tv", "ts")]


def _import(engine, files=DOMAIN_FILES):  # noqa: ANN001, ANN202
    with transaction(engine, "tester") as session:
        return import_files(session, "sdtm", files, "tester")


def test_pilot_counts_match_the_published_facts(store) -> None:  # noqa: ANN001
    _import(store)
    with transaction(store, "tester") as session:
        portfolio = load_portfolio(session)
    row = study_status(portfolio).set_index("study_id").loc["CDISCPILOT01"]
    assert row["subjects_screened"] == 306
    assert row["subjects_randomized"] == 254
    assert row["screen_failures"] == 52
    assert row["sites"] == 17
    assert row["visits"] == 3559
    assert row["planned_visits"] == 18
    assert type(portfolio.sites["status"].iloc[0]) is str  # plain values, not enum members
    first_visit = portfolio.visits.groupby("subject_id", observed=True)["visit_date"].min()
    screened = portfolio.subjects.set_index("subject_id")["screened"]
    assert (screened <= first_visit.reindex(screened.index)).all()  # consent precedes visits
    expected_sites = {str(n) for n in range(701, 719)} - {"712"}
    assert set(portfolio.sites["site_id"]) == expected_sites
    assert set(portfolio.sites["country"]) == {"US"}


def test_pilot_study_created_from_ts(store) -> None:  # noqa: ANN001
    _import(store)
    with transaction(store, "tester") as session:
        study = load_portfolio(session).studies.iloc[0]
    assert study["study_id"] == "CDISCPILOT01"
    assert study["target_randomized"] == 300  # TS PLANSUB
    assert study["phase"] == "II"  # TS TPHASE "Phase II Trial"
    assert study["treatment_weeks"] == 26  # TS LENGTH "26 weeks"


def test_pilot_subject_derivations_agree_with_the_raw_domains(store) -> None:  # noqa: ANN001
    """Recompute from the raw XPT: randomization = RFSTDTC, arms, disposition dates."""
    import pyreadstat

    _import(store)
    dm, _ = pyreadstat.read_xport(str(PILOT / "dm.xpt"), encoding="cp1252")
    ds, _ = pyreadstat.read_xport(str(PILOT / "ds.xpt"), encoding="cp1252")
    with transaction(store, "tester") as session:
        subjects = load_portfolio(session).subjects.set_index("subject_id")
    dm = dm.set_index("USUBJID")
    randomized = dm[dm["ARMCD"] != "Scrnfail"]
    got = subjects.loc[randomized.index, "randomized"].dt.strftime("%Y-%m-%d")
    assert (got == randomized["RFSTDTC"]).all()
    assert (subjects.loc[dm.index, "arm"] == dm["ARM"]).all()
    completed = ds[(ds["DSCAT"] == "DISPOSITION EVENT") & (ds["DSDECOD"] == "COMPLETED")]
    assert subjects["completed"].notna().sum() == len(completed) == 110
    early = ds[(ds["DSCAT"] == "DISPOSITION EVENT")
               & ~ds["DSDECOD"].isin(["COMPLETED", "SCREEN FAILURE"])]
    assert subjects["discontinued"].notna().sum() == len(early)
    # the one repeated VISITNUM of the pilot (01-711-1143, 9.2) is kept as two visits
    with transaction(store, "tester") as session:
        visits = load_portfolio(session).visits
    repeat = visits[(visits["subject_id"] == "01-711-1143") & (visits["visit_num"] == 9.2)]
    assert sorted(repeat["visit_seq"]) == [1, 2]
    assert list(repeat.sort_values("visit_seq")["visit_date"]) == [
        pd.Timestamp("2013-06-22"), pd.Timestamp("2013-09-22")]


def test_reimport_changes_nothing(store) -> None:  # noqa: ANN001
    first = _import(store)
    assert first.changed == 1 + 1 + 17 + 306 + 3559 + 21
    before = snapshot(store)
    second = _import(store)
    assert second.changed == 0
    assert second.batch_pk is None
    assert snapshot(store) == before


def test_every_imported_row_is_audited(store) -> None:  # noqa: ANN001
    result = _import(store)
    with transaction(store, "tester") as session:
        audited = dict(session.execute(
            select(AuditEntry.entity, func.count()).where(AuditEntry.batch_pk == result.batch_pk)
            .group_by(AuditEntry.entity)).all())
        batch = session.get(ImportBatch, result.batch_pk)
        sample = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "subject_visit").order_by(AuditEntry.id).limit(1)).one()
    assert audited == {entity: counts["insert"] for entity, counts in result.counts.items()}
    assert batch.inserted == sum(audited.values())
    assert batch.actor == "tester"
    assert sample.actor == "tester"
    assert sample.source.startswith("sv.xpt, row ")
    assert json.loads(json.dumps(sample.entity_key))["study_id"] == "CDISCPILOT01"
    assert sample.after["visit_date"] is not None


def test_sv_alone_updates_existing_subjects_visits(store, tmp_path) -> None:  # noqa: ANN001
    """A corrected SV file re-imported alone updates the visit, audited with before/after."""
    import pyreadstat

    _import(store)
    sv, _ = pyreadstat.read_xport(str(PILOT / "sv.xpt"), encoding="cp1252")
    sv.loc[0, "SVSTDTC"] = "2013-12-27"
    corrected = tmp_path / "sv.csv"
    sv.to_csv(corrected, index=False)
    result = _import(store, [corrected])
    assert result.counts["subject_visit"] == {"insert": 0, "update": 1, "unchanged": 3558,
                                              "delete": 0}
    with transaction(store, "tester") as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk)).one()
    assert entry.action == "update"
    assert entry.before["visit_date"] == "2013-12-26"
    assert entry.after["visit_date"] == "2013-12-27"
