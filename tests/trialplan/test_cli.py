"""The command line end to end: init, demo, status --json, import."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PILOT
from tests.trialplan.cli_runner import trialplan


@pytest.mark.heavy(60)  # the whole demo on PostgreSQL: a parallel run starts it first
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_demo_then_status_json(store_url: str) -> None:
    result = trialplan(store_url, "demo")
    assert result.exit_code == 0, result.output
    _status_of_the_demo(store_url)


def test_status_json_of_the_demo_on_sqlite(demo_url: str) -> None:
    # the session fixture demo_template has run this very `trialplan demo` on SQLite (the
    # run fails if it fails): check status on a copy rather than build it again
    _status_of_the_demo(demo_url)


def _status_of_the_demo(store_url: str) -> None:
    status = trialplan(store_url, "status", "--json")
    assert status.exit_code == 0, status.output
    document = json.loads(status.stdout)
    assert set(document) == {"as_of", "studies", "staff", "assignments"}
    assert document["as_of"] == "2026-10-31"
    assert len(document["studies"]) >= 5
    assert sum(s["sites"] for s in document["studies"]) >= 200
    assert document["staff"] >= 30
    assert document["assignments"] > 0
    pilot = next(s for s in document["studies"] if s["study_id"] == "CDISCPILOT01")
    assert pilot == {"study_id": "CDISCPILOT01", "sites": 17, "subjects_screened": 306,
                     "subjects_randomized": 254, "screen_failures": 52, "visits": 3559,
                     "planned_visits": 18}
    for study in document["studies"]:
        assert study["subjects_randomized"] + study["screen_failures"] <= \
            study["subjects_screened"]


def test_commands_before_init_exit_2_with_advice(store_url) -> None:  # noqa: ANN001
    result = trialplan(store_url, "status")
    assert result.exit_code == 2
    assert "trialplan init" in result.stderr


def test_init_import_status(store_url) -> None:  # noqa: ANN001
    assert trialplan(store_url, "init").exit_code == 0
    files = [str(PILOT / f"{d}.xpt") for d in ("dm", "ds", "sv", "tv", "ts", "ta")]
    result = trialplan(store_url, "import", "sdtm", *files)
    assert result.exit_code == 0, result.output
    assert "subject_visit" in result.stdout and "3559 new" in result.stdout
    assert "ta.xpt: domain TA is not imported" in result.stdout
    again = trialplan(store_url, "import", "sdtm", *files)
    assert "3559 unchanged" in again.stdout
    status = json.loads(trialplan(store_url, "status", "--json").stdout)
    assert [s["study_id"] for s in status["studies"]] == ["CDISCPILOT01"]


def test_unknown_kind_and_missing_file_exit_2(store_url) -> None:  # noqa: ANN001
    assert trialplan(store_url, "init").exit_code == 0
    unknown = trialplan(store_url, "import", "recipes", "x.csv")
    assert unknown.exit_code == 2 and "unknown kind 'recipes'" in unknown.stderr
    missing = trialplan(store_url, "import", "sites", "/nonexistent/sites.csv")
    assert missing.exit_code == 2 and "expected an existing file" in missing.stderr
