"""Portfolio frames: declared columns and dtypes, one-study loading, the data cut."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from planner.frames import SCHEMAS, frame_names, load_portfolio
from planner.importing.run import import_files
from planner.store import transaction
from tests.conftest import PILOT

DATA = Path(__file__).resolve().parents[1] / "data"


def _load(engine) -> None:  # noqa: ANN001
    with transaction(engine, "tester") as session:
        for kind in ("studies", "staff", "sites", "milestones", "leave", "drivers"):
            import_files(session, kind, [DATA / f"{kind}.csv"], "tester")
        import_files(session, "sdtm", [PILOT / f"{d}.xpt" for d in ("dm", "sv", "tv", "ts")],
                     "tester")


def test_every_frame_has_exactly_its_declared_columns_and_dtypes(store) -> None:  # noqa: ANN001
    _load(store)
    with transaction(store, "tester") as session:
        portfolio = load_portfolio(session)
    assert [s.name for s in SCHEMAS] == frame_names()
    for schema in SCHEMAS:
        frame = getattr(portfolio, schema.name)
        assert list(frame.columns) == schema.names, schema.name
        for col in schema.columns:
            assert str(frame[col.name].dtype) == col.dtype, (schema.name, col.name)
        assert len(frame) > 0, schema.name
        assert all(c.description for c in schema.columns)


def test_one_study_only(store) -> None:  # noqa: ANN001
    _load(store)
    with transaction(store, "tester") as session:
        pilot = load_portfolio(session, "CDISCPILOT01")
        onc = load_portfolio(session, "ONC-301")
    assert set(pilot.studies["study_id"]) == {"CDISCPILOT01"}
    assert len(pilot.visits) == 3559 and len(pilot.subjects) == 306
    assert set(onc.sites["site_id"]) == {"1001", "1002", "2001"}
    assert onc.visits.empty and onc.subjects.empty
    assert len(onc.milestones) == 2
    # staff and countries are portfolio-wide
    assert len(onc.staff) == len(pilot.staff) == 3


def test_data_cut_is_the_latest_recorded_event(store) -> None:  # noqa: ANN001
    _load(store)
    with transaction(store, "tester") as session:
        pilot = load_portfolio(session, "CDISCPILOT01")
    assert pilot.as_of == pilot.visits["visit_date"].max().date() == dt.date(2015, 3, 5)
