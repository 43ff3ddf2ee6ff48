"""Staff leave and driver overrides: hand-worked capacity and site hours, and their imports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from planner.frames import DRIVERS, LEAVE, SITES, load_portfolio
from planner.importing.issues import ImportRejected
from planner.importing.run import import_files
from planner.store import transaction
from planner.tables import AuditEntry, DriverOverride
from planner.workload.capacity import cra_capacity
from planner.workload.drivers import WEEKS_PER_MONTH
from planner.workload.monitoring import monitoring_workload
from planner.workload.overrides import site_drivers, study_fte
from tests.conftest import snapshot
from tests.planner.test_workload import AS_OF, MONTHS, portfolio
from tests.trialplan.cli_runner import trialplan

DATA = Path(__file__).resolve().parents[1] / "data"
LEAVE_HEADER = "staff_id,month,hours\n"
DRIVER_HEADER = "study_id,country,site_id,driver,value\n"


def _leave(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return LEAVE.conform(pd.DataFrame(rows, columns=["staff_id", "month", "hours"]).assign(
        month=lambda f: pd.to_datetime(f["month"])))


def _drivers(rows: list[tuple]) -> pd.DataFrame:
    return DRIVERS.conform(pd.DataFrame(rows, columns=DRIVERS.names))


def test_leave_comes_off_capacity_after_fte_and_target() -> None:
    p = portfolio()  # CRA-1: 143 hours a full-time month, 0.5 FTE
    p = type(p)(**{**p.__dict__, "leave": _leave([("CRA-1", "2026-03-01", 40.0),
                                                   ("CRA-1", "2026-04-01", 100.0)])})
    capacity = cra_capacity(p, MONTHS, 0.8).set_index("month")["capacity"]
    assert capacity.tolist() == pytest.approx([143 * 0.5 * 0.8,  # 57.2, no leave
                                               143 * 0.5 * 0.8 - 40,  # 17.2
                                               0.0])  # 100 h of leave: not below 0


def _three_sites() -> pd.DataFrame:
    p = portfolio()
    more = p.sites.iloc[[0, 0]].assign(site_id=["002", "003"], country=["DE", "FR"],
                                       cra_id=pd.NA)
    return SITES.conform(pd.concat([p.sites, more]))


OVERRIDES = [("S", None, None, "imv_weeks", 8.0), ("S", "DE", None, "imv_weeks", 6.0),
             ("S", None, "001", "imv_weeks", 2.0), ("S", "DE", None, "remote_share", 0.5),
             ("S", None, None, "hours.IMV.on_site", 10.0)]


def test_site_beats_country_beats_study_beats_defaults() -> None:
    chosen, sets = site_drivers(_three_sites(), _drivers(OVERRIDES))
    resolved = {site: sets[code] for (_, site), code in chosen.items()}
    assert [resolved[s].imv_weeks for s in ("001", "002", "003")] == [2.0, 6.0, 8.0]
    assert [resolved[s].remote_share for s in ("001", "002", "003")] == [0.5, 0.5, 0.25]
    assert {resolved[s].hours["IMV"].on_site for s in resolved} == {10.0}
    assert resolved["001"].imv_weeks_later == 8.0  # not overridden: the default
    assert len(sets) == 3 and chosen.nunique() == 3
    # sites resolving alike share one drivers object (built per distinct set)
    alike = _three_sites().assign(site_id=["001", "004", "005"], country=["FR"] * 3)
    assert site_drivers(alike, _drivers(OVERRIDES[:1]))[0].nunique() == 1


def test_site_override_hours_by_hand() -> None:
    """Site 001 (DE), one subject on study in February 2026, active since January:
    imv_weeks 2 (site) beats 6 (DE) and 8 (study); remote share 0.5 (DE); IMV on site
    10 h (study): 4 + 6 + 10 + 4 = 24 h a visit, remote 3 + 0 + 5 + 3 = 11 h."""
    p = portfolio()
    p = type(p)(**{**p.__dict__, "drivers": _drivers(OVERRIDES)})
    work = monitoring_workload(p, MONTHS, AS_OF)
    feb = work[work["month"] == pd.Period("2026-02", "M")].set_index("visit_type")
    visits = WEEKS_PER_MONTH / 2.0  # 2.1741 interim visits in the month
    assert feb.loc["IMV", "visits"] == pytest.approx(visits * 0.5)
    assert feb.loc["IMV", "hours"] == pytest.approx(visits * 0.5 * (24 + 0.5))  # 26.633
    assert feb.loc["remote IMV", "hours"] == pytest.approx(visits * 0.5 * (11 + 0.5))
    assert feb["hours"].sum() == pytest.approx(39.134, abs=1e-3)


def test_study_utilization_target_sets_its_fte_not_capacity() -> None:
    p = portfolio()
    overrides = _drivers([("S", None, None, "utilization_target", 0.5)])
    work = monitoring_workload(p, MONTHS, AS_OF)
    fte = study_fte(work, overrides, hours_month=160.0).set_index("month")
    first = fte.iloc[0]
    assert first["fte"] == pytest.approx(first["hours"] / (160.0 * 0.5))
    p = type(p)(**{**p.__dict__, "drivers": overrides})
    assert cra_capacity(p, MONTHS, 0.8)["capacity"].tolist() == pytest.approx([57.2] * 3)


# --- imports -----------------------------------------------------------------------------

def _run(engine, kind: str, path: Path, actor: str = "tester"):  # noqa: ANN001, ANN202
    with transaction(engine, actor) as session:
        return import_files(session, kind, [path], actor)


def _base(engine) -> None:  # noqa: ANN001
    for kind in ("studies", "staff", "sites"):
        _run(engine, kind, DATA / f"{kind}.csv")


def _refused(engine, kind: str, path: Path) -> list[str]:  # noqa: ANN001
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as caught:
        _run(engine, kind, path)
    assert snapshot(engine) == before
    return [str(issue) for issue in caught.value.issues]


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_leave_is_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    _base(store)
    path = _file(tmp_path, "leave.csv", LEAVE_HEADER + "CRA-009,2026-08,40\n"
                 "CRA-001,2026-8,40\nCRA-001,July 2026,40\nCRA-001,2026-09,-8\n"
                 "CRA-001,2026-10,150\nCRA-002,2026-11,16\nCRA-002,2026-11,8\n")
    issues = _refused(store, "leave", path)
    assert issues == [
        "leave.csv, row 3, column month: value '2026-8': expected a month YYYY-MM (required)",
        "leave.csv, row 4, column month: value 'July 2026': expected a month YYYY-MM "
        "(required)",
        "leave.csv, row 5, column hours: value '-8': expected a number from 0 to 744 "
        "(required)",
        "leave.csv, row 8, column staff_id, month: value 'CRA-002/2026-11': "
        "expected a key that appears only once in the file",
        "leave.csv, row 2, column staff_id: value 'CRA-009': expected the staff_id of a "
        "staff member in the store (import staff first)",
        "leave.csv, row 6, column hours: value '150': expected hours from 0 to the staff "
        "member's capacity_hours_month (143, a full-time month)",
    ]


def test_bad_drivers_are_refused_with_where_and_what(store, tmp_path) -> None:  # noqa: ANN001
    _base(store)
    path = _file(tmp_path, "drivers.csv", DRIVER_HEADER + "ONC-301,,,imv_week,3\n"
                 "ONC-301,,,remote_share,1.5\nONC-301,,3001,imv_weeks,2\n"
                 "ONC-301,US,1001,imv_weeks,2\nONC-301,DE,,utilization_target,0.7\n"
                 "XYZ,,,imv_weeks,3\nONC-301,,,step_down_months,2.5\n"
                 "ONC-301,,,imv_weeks,3\nONC-301,,,IMV_WEEKS,4\n")
    issues = _refused(store, "drivers", path)
    assert "drivers.csv, row 2, column driver: value 'imv_week': expected a driver name: " \
        "imv_weeks, imv_weeks_later, step_down_months, remote_share, on_site_per_subject, " \
        "close_out_weeks, utilization_target, or hours.<SQV|SIV|IMV|REMOTE_IMV|COV>." \
        "<preparation|travel|on_site|report>" in issues
    assert ("drivers.csv, row 3, column value: value '1.5': expected a number from 0 to 1 "
            "(share of interim visits) for remote_share") in issues
    assert ("drivers.csv, row 8, column value: value '2.5': expected a whole number from 0 "
            "to 120 months for step_down_months") in issues
    assert ("drivers.csv, row 4, column site_id: value '3001': expected a site_id of "
            "ONC-301 in the store (import sites first), or blank") in issues  # CV-201's site
    assert ("drivers.csv, row 5, column country: value 'US': expected blank or DE, the "
            "country of site 1001") in issues
    assert any(i.startswith("drivers.csv, row 6, column driver: value 'utilization_target'"
                            ": expected a driver that may differ by country or site")
               for i in issues)
    assert ("drivers.csv, row 7, column study_id: value 'XYZ': expected a study_id already "
            "in the store (import studies first)") in issues
    assert ("drivers.csv, row 10, column study_id, country, site_id, driver: value "
            "'ONC-301///IMV_WEEKS': expected a key that appears only once in the file"
            ) in issues  # names are matched in any case; blanks are part of the key
    assert len(issues) == 8


def test_reimport_changes_nothing_and_a_change_is_an_audited_update(store, tmp_path) -> None:  # noqa: ANN001, E501
    _base(store)
    first = {k: _run(store, k, DATA / f"{k}.csv") for k in ("leave", "drivers")}
    assert first["leave"].counts["staff_leave"]["insert"] == 3
    assert first["drivers"].counts["driver_override"]["insert"] == 7
    before = snapshot(store)
    for kind in ("leave", "drivers"):
        assert _run(store, kind, DATA / f"{kind}.csv").changed == 0
    assert snapshot(store) == before
    # a study-wide row (blank country and site: NULL in the key) is updated, not doubled
    text = (DATA / "drivers.csv").read_text().replace("ONC-301,,,imv_weeks,3",
                                                      "ONC-301,,,imv_weeks,5")
    result = _run(store, "drivers", _file(tmp_path, "drivers.csv", text), actor="lead")
    assert result.counts["driver_override"] == {"insert": 0, "update": 1, "unchanged": 6}
    with transaction(store, "tester") as session:
        assert len(session.scalars(select(DriverOverride)).all()) == 7
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk)).one()
        p = load_portfolio(session)
    assert (entry.action, entry.actor, entry.entity) == ("update", "lead", "driver_override")
    assert entry.entity_key == {"study_id": "ONC-301", "country": None, "site_id": None,
                                "driver": "imv_weeks"}
    assert (entry.before, entry.after) == ({"value": 3.0}, {"value": 5.0})
    assert entry.source == "drivers.csv, row 2"
    study = p.drivers[p.drivers["country"].isna() & p.drivers["site_id"].isna()]
    assert study.set_index("driver").loc["imv_weeks", "value"] == 5.0
    leave = p.leave.set_index(["staff_id", "month"])["hours"]
    assert leave[("CRA-001", pd.Timestamp("2026-08-01"))] == 80.0


def test_leave_audit_names_the_staff_and_month(store) -> None:  # noqa: ANN001
    _base(store)
    result = _run(store, "leave", DATA / "leave.csv")
    with transaction(store, "tester") as session:
        keys = [e.entity_key for e in session.scalars(select(AuditEntry).where(
            AuditEntry.batch_pk == result.batch_pk))]
    assert {"staff_id": "CRA-001", "period": "2026-08"} in keys and len(keys) == 3


def test_cli_import_exit_2_and_nothing_stored(store, tmp_path) -> None:  # noqa: ANN001
    _base(store)
    url = store.url.render_as_string(hide_password=False)
    bad = _file(tmp_path, "leave.csv", LEAVE_HEADER + "CRA-001,2026-13,8\n")
    before = snapshot(store)
    result = trialplan(url, "import", "leave", str(bad))
    assert result.exit_code == 2
    assert "leave.csv, row 2, column month: value '2026-13'" in result.output
    assert snapshot(store) == before
    ok = trialplan(url, "import", "drivers", str(DATA / "drivers.csv"))
    assert ok.exit_code == 0, ok.output



@pytest.mark.parametrize(("kind", "text", "column"), [
    ("leave", "staff_id,month\nCRA-001,2026-10\n", "hours"),
    ("drivers", "study_id,country,site_id,driver\nONC-301,,,imv_weeks\n", "value"),
])
def test_a_file_missing_a_required_column_is_refused_not_crashed(
        store, tmp_path, kind: str, text: str, column: str) -> None:  # noqa: ANN001
    _base(store)
    issues = _refused(store, kind, _file(tmp_path, f"{kind}.csv", text))
    assert any(f"column {column}" in issue for issue in issues), issues
