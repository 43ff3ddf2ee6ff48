"""`trialplan forecast` end to end on the demo portfolio: document, storage, what-if, errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from planner.frames import load_portfolio
from planner.recruitment.forecast import ExtraSites, forecast_recruitment
from planner.recruitment.history import history_at
from planner.recruitment.models import Model
from planner.store import transaction
from planner.tables import AuditEntry, ForecastRun, Milestone, Study
from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan
from trialplan.demo import build_demo

OPEN_STUDY = "HLX-CV-302"  # 223 of 600 randomized at the demo's cut
NAMES = ["25%", "50%", "75%", "LPI", "LPLV", "DBL", "CSR"]


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A copy of the session's demo store (built once by `trialplan demo`)."""
    yield copy_store(demo_template, Path(tmp_path_factory.mktemp("forecast")))


def forecast_json(url: str, *args: str) -> dict:
    result = trialplan(url, "forecast", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def day(text: str | None) -> dt.date:
    return dt.date.fromisoformat(text) if text else dt.date.max


def test_document_is_monotone_and_consistent(demo_url: str) -> None:
    doc = forecast_json(demo_url, OPEN_STUDY, "--sims", "4000")
    assert {"study_id", "as_of", "model", "params", "milestones", "by_country"} <= set(doc)
    assert doc["study_id"] == OPEN_STUDY and doc["as_of"] == "2026-10-31"
    assert [m["name"] for m in doc["milestones"]] == NAMES
    for m in doc["milestones"]:
        assert day(m["p10"]) <= day(m["p50"]) <= day(m["p90"]), m
    for q in ("p10", "p50", "p90"):
        dates = [day(m[q]) for m in doc["milestones"]]
        assert dates == sorted(dates), q
    cut = dt.date.fromisoformat(doc["as_of"])
    for m in doc["milestones"]:
        assert (day(m["p50"]) <= cut) == m["reached"]
    countries = doc["by_country"]
    assert sum(c["randomized"] for c in countries) == doc["randomized"] == 223
    for c in countries:
        assert c["randomized"] <= c["at_lpi_p10"] <= c["at_lpi_p50"] <= c["at_lpi_p90"]
        # demo sites all have targets: each country has its own 25/50/75/100 % dates
        assert [m["name"] for m in c["milestones"]] == NAMES[:4]
        for share, m in zip((0.25, 0.5, 0.75, 1.0), c["milestones"], strict=True):
            assert m["reached"] == (c["randomized"] >= -(-c["target"] * share // 1))
            assert day(m["p10"]) <= day(m["p50"]) <= day(m["p90"])
        for q in ("p10", "p50", "p90"):
            dates = [day(m[q]) for m in c["milestones"]]
            assert dates == sorted(dates)
    # LPLV is LPI plus the study's treatment and follow-up (read from the store)
    with Session(create_engine(demo_url)) as session:
        study = session.scalars(select(Study).where(Study.study_id == OPEN_STUDY)).one()
        duration = study.treatment_weeks + (study.followup_weeks or 0)
    lpi, lplv = doc["milestones"][3], doc["milestones"][4]
    weeks = (day(lplv["p50"]) - day(lpi["p50"])).days / 7
    assert weeks == pytest.approx(duration, abs=1)
    assert doc["conversion"]["remaining_randomized"] == 600 - 223


def test_stored_run_sets_milestone_forecasts_once(demo_url: str) -> None:
    first = forecast_json(demo_url, OPEN_STUDY, "--sims", "3000", "--seed", "5")
    again = forecast_json(demo_url, OPEN_STUDY, "--sims", "3000", "--seed", "5")
    assert first["forecast_run_id"] == again["forecast_run_id"] is not None
    assert first["milestones"] == again["milestones"]
    other = forecast_json(demo_url, OPEN_STUDY, "--sims", "3000", "--seed", "6")
    assert other["forecast_run_id"] != first["forecast_run_id"]
    with Session(create_engine(demo_url)) as session:
        run = session.get(ForecastRun, other["forecast_run_id"])
        assert run.actor == "tester" and run.sims == 3000 and run.seed == 6
        assert run.inputs_sha256 == other["inputs_sha256"]
        assert run.result["milestones"] == other["milestones"]
        stored = {m.kind.value: m for m in session.scalars(
            select(Milestone).join(Study).where(Study.study_id == OPEN_STUDY))}
        for m in other["milestones"]:
            if not m["reached"]:
                assert stored[m["kind"]].forecast_date == day(m["p50"])
                assert stored[m["kind"]].forecast_run_pk == run.id
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "milestone", AuditEntry.actor == "tester",
            AuditEntry.action == "update")).all()
        moved = [a for a in audited if a.after.get("forecast_run_pk") == run.id]
        assert moved and all(a.before["forecast_run_pk"] != run.id for a in moved)


def test_a_reused_run_sets_milestone_dates_again(demo_url: str, tmp_path: Path) -> None:
    """An import changes the LPI forecast (and clears its run); forecasting again with the
    same inputs reuses the run and puts its dates back."""
    first = forecast_json(demo_url, "NRV-NEU-201", "--sims", "1000", "--seed", "2")
    lpi = first["milestones"][3]
    csv = tmp_path / "milestones.csv"
    csv.write_text("study_id,milestone,baseline,forecast,actual\n"
                   "NRV-NEU-201,lpi,2027-01-15,2030-01-01,\n")
    assert trialplan(demo_url, "import", "milestones", str(csv)).exit_code == 0

    def stored_lpi() -> Milestone:
        with Session(create_engine(demo_url)) as session:
            return session.scalars(select(Milestone).join(Study).where(
                Study.study_id == "NRV-NEU-201", Milestone.kind == "lpi")).one()

    assert (stored_lpi().forecast_date, stored_lpi().forecast_run_pk) == (dt.date(2030, 1, 1),
                                                                          None)
    again = trialplan(demo_url, "forecast", "NRV-NEU-201", "--sims", "1000", "--seed", "2")
    assert "reused" in again.stdout
    assert stored_lpi().forecast_date == day(lpi["p50"])
    assert stored_lpi().forecast_run_pk == first["forecast_run_id"]


def test_back_dated_cut_is_not_stored(demo_url: str) -> None:
    doc = forecast_json(demo_url, OPEN_STUDY, "--cut", "2026-06-30", "--sims", "2000")
    assert doc["as_of"] == "2026-06-30" and doc["forecast_run_id"] is None
    assert doc["randomized"] < 223


def test_same_seed_same_numbers(demo_url: str) -> None:
    a = forecast_json(demo_url, "KST-IMM-202", "--sims", "2000", "--seed", "3", "--cut",
                      "2026-10-30")
    b = forecast_json(demo_url, "KST-IMM-202", "--sims", "2000", "--seed", "3", "--cut",
                      "2026-10-30")
    c = forecast_json(demo_url, "KST-IMM-202", "--sims", "2000", "--seed", "4", "--cut",
                      "2026-10-30")
    assert a["milestones"] == b["milestones"]
    assert a["milestones"] != c["milestones"]


def test_what_if_sites_bring_lpi_forward(demo_url: str) -> None:
    base = forecast_json(demo_url, OPEN_STUDY, "--sims", "3000", "--cut", "2026-10-31")
    more = forecast_json(demo_url, OPEN_STUDY, "--sims", "3000", "--what-if-sites", "15",
                         "--country", "de", "--month", "2027-02")
    assert more["what_if"] == [{"country": "DE", "sites": 15, "opens": "2027-02-01"}]
    assert more["forecast_run_id"] is None
    de = next(c for c in more["by_country"] if c["country"] == "DE")
    assert de["sites_added"] == 15
    for q in ("p10", "p50", "p90"):
        assert day(more["milestones"][3][q]) <= day(base["milestones"][3][q])
    assert day(more["milestones"][3]["p50"]) < day(base["milestones"][3]["p50"])


def test_sites_needed_is_the_smallest_that_works(demo_url: str) -> None:
    result = trialplan(demo_url, "forecast", OPEN_STUDY, "--target-date", "2027-10-31",
                       "--probability", "0.7", "--country", "PL", "--month", "2027-01",
                       "--sims", "2000", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    n = answer["sites_needed"]
    assert n is not None and n > 0 and answer["achieved_probability"] >= 0.7
    # checked independently: n sites reach the date with probability p, n - 1 do not
    engine = create_engine(demo_url)
    with Session(engine) as session:
        history = history_at(load_portfolio(session, OPEN_STUDY), OPEN_STUDY)
    limit = (dt.date(2027, 10, 31) - history.cut).days / (365.25 / 12)
    opens = (dt.date(2027, 1, 1) - history.cut).days / (365.25 / 12)

    def chance(sites: int) -> float:
        forecast = forecast_recruitment(history, 2000, 0, Model(answer["model"]),
                                        [ExtraSites("PL", sites, opens)])
        return float(np.mean(forecast.lpi_months() <= limit))

    assert chance(n) >= 0.7 > chance(n - 1)


@pytest.mark.parametrize(("args", "message"), [
    (["NO-SUCH-STUDY"], "not in the store (studies: AUR-ONC-301"),
    (["AUR-ONC-301"], "already reached"),
    ([OPEN_STUDY, "--cut", "2020-01-01"], "cut 2020-01-01 is before the first site opened"),
    ([OPEN_STUDY, "--cut", "31/12/2026"], "expected an ISO date"),
    ([OPEN_STUDY, "--what-if-sites", "3"], "needs N >= 1, --country and --month"),
    ([OPEN_STUDY, "--what-if-sites", "3", "--country", "DE", "--month", "2026-05"],
     "must start after the data cut"),
    ([OPEN_STUDY, "--target-date", "2027-01-01"], "go together"),
    ([OPEN_STUDY, "--target-date", "2027-01-01", "--probability", "1.5"],
     "probability must be between 0 and 1"),
    ([OPEN_STUDY, "--model", "magic"], "expected one of auto"),
    ([OPEN_STUDY, "--sims", "10"], "greater than or equal to 100"),
    ([OPEN_STUDY, "--seed", "-1"], "greater than or equal to 0"),
    ([OPEN_STUDY, "--cut", "2027-01-01"], "after the store's data cut 2026-10-31"),
    ([OPEN_STUDY, "--what-if-sites", "2", "--country", "ZZ", "--month", "2027-01"],
     "expected an ISO 3166 country code"),
    ([OPEN_STUDY, "--what-if-sites", "2", "--country", "DE", "--month", "2027-01",
      "--target-date", "2027-06-01", "--probability", "0.5"], "separate questions"),
])
def test_bad_input_exits_2_with_the_reason(demo_url: str, args: list[str],
                                           message: str) -> None:
    result = trialplan(demo_url, "forecast", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_text_report(demo_url: str) -> None:
    result = trialplan(demo_url, "forecast", "NRV-NEU-201", "--sims", "2000", "--cut",
                       "2026-10-31")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("study NRV-NEU-201   data cut 2026-10-31   randomized 134 of 180")
    assert any(line.startswith("LPI ") for line in lines)
    assert any(line.startswith("50%") and "reached" in line for line in lines)


def test_forecast_run_round_trips_on_both_databases(store_url: str) -> None:
    # the demo's data through the importers (the whole `trialplan demo` runs in test_cli)
    assert trialplan(store_url, "init").exit_code == 0
    with transaction(create_engine(store_url), "tester") as session:
        build_demo(session, "tester")
    doc = forecast_json(store_url, "NRV-NEU-201", "--sims", "1000", "--seed", "9")
    with Session(create_engine(store_url)) as session:
        run = session.get(ForecastRun, doc["forecast_run_id"])
        assert run.result == json.loads(json.dumps(doc))
        assert run.as_of == dt.date(2026, 10, 31)
        lpi = session.scalars(select(Milestone).join(Study).where(
            Study.study_id == "NRV-NEU-201", Milestone.kind == "lpi")).one()
        assert lpi.forecast_date == day(doc["milestones"][3]["p50"])
