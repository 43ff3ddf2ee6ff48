"""`trialplan activation` on the demo portfolio: invariants recomputed from the JSON,
candidates CSV, saving, infeasible targets in words, bad input."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from planner.frames import load_portfolio
from planner.recruitment.history import date_after, history_at
from planner.tables import ForecastRun, Milestone, Study
from planner.workload.rates import expected_site_rates
from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan

MONTH = 365.25 / 12
CANDIDATES = ("site_id,country,earliest_month\nN01,DE,2027-01\nN02,DE,2027-01\n"
              "N03,DE,2027-02\nN04,POL,\nN05,pl,2027-03\nN06,FR,2027-01\n")


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One copy of the demo store for this module's tests."""
    return copy_store(demo_template, tmp_path_factory.mktemp("activation"))


def plan_json(url: str, *args: str) -> dict:
    result = trialplan(url, "activation", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check_plan(url: str, doc: dict, capacity: int = 2) -> None:
    """Invariants from the document and the store: costs add up to the cent, each site
    once and not before it can open, start-ups per country-month within capacity, the
    expected count = randomized + open sites' posterior rates × horizon + the plan's."""
    study = doc["study_id"]
    with Session(create_engine(url)) as session:
        portfolio = load_portfolio(session, study)
    history = history_at(portfolio, study)
    cut, target = history.cut, dt.date.fromisoformat(doc["target_date"])
    assert doc["as_of"] == cut.isoformat() and doc["randomized"] == history.randomized
    plan = doc["plan"]
    parts = ("startup", "site_monthly", "monitoring", "per_patient")
    for row in plan:
        assert sum(Decimal(row[p]) for p in parts) == Decimal(row["cost"])
        assert Decimal(row["cost"]).as_tuple().exponent == -2
    for part in (*parts, "total"):
        key = "cost" if part == "total" else part
        total = sum((Decimal(r[key]) for r in plan), Decimal("0.00"))
        assert total == Decimal(doc["cost"][part])
    assert len({r["site_id"] for r in plan}) == len(plan)
    assert all(n <= capacity for n in Counter((r["country"], r["activation_month"])
                                              for r in plan).values())
    planned = history.sites.set_index("site_id")["opens"]
    for row in plan:
        start = dt.date.fromisoformat(row["activation_month"] + "-01")
        assert cut < start < target
        assert row["months_active"] == pytest.approx((target - start).days / MONTH, abs=1e-4)
        if row["site_id"] in planned.index:  # a site of the store: not before its plan
            assert start >= date_after(cut, float(planned[row["site_id"]]))
    rates = expected_site_rates(portfolio, study, cut)
    horizon = (target - cut).days / MONTH
    expected = (history.randomized + sum(rates.values()) * horizon
                + sum(r["expected_randomized"] for r in plan))
    assert doc["expected_randomized"] == pytest.approx(expected, abs=1e-3)
    if plan:  # new sites share the prior rate
        per_month = [r["expected_randomized"] / r["months_active"] for r in plan]
        assert max(per_month) == pytest.approx(min(per_month), rel=1e-4)
    if doc["status"] in ("optimal", "time_limit"):
        assert doc["expected_randomized"] >= doc["required_expected"] - 1e-3
        assert doc["achieved_probability"] >= doc["probability"]
        assert doc["simulated_probability"] == pytest.approx(doc["achieved_probability"],
                                                             abs=0.05)


def test_plan_meets_the_probability_at_least_cost(demo_url: str) -> None:
    doc = plan_json(demo_url, "KST-IMM-202", "--target-date", "2028-12-31",
                    "--probability", "0.5")
    assert {"study_id", "status", "target", "required_expected", "probability", "cost",
            "plan", "fpi", "lpi"} <= set(doc)
    assert doc["status"] == "optimal" and doc["target"] == 240 and doc["currency"] == "EUR"
    assert doc["plan"] and doc["explanation"] == []
    check_plan(demo_url, doc)
    assert dt.date.fromisoformat(doc["fpi"]) <= dt.date.fromisoformat(doc["as_of"])
    assert doc["lpi"] is not None
    tighter = plan_json(demo_url, "KST-IMM-202", "--target-date", "2028-12-31",
                        "--probability", "0.5", "--startup-capacity", "1")
    check_plan(demo_url, tighter, capacity=1)
    assert Decimal(tighter["cost"]["total"]) >= Decimal(doc["cost"]["total"])


def test_infeasible_target_is_explained_then_candidates_make_it(demo_url: str,
                                                                 tmp_path: Path) -> None:
    args = ("HLX-CV-302", "--target-date", "2027-12-31", "--probability", "0.8")
    short = plan_json(demo_url, *args)
    assert short["status"] == "infeasible" and short["required_expected"] is None
    text = "\n".join(short["explanation"])
    assert "missing" in text and "best probability" in text and "at the earliest" in text
    assert short["achieved_probability"] < 0.8
    check_plan(demo_url, short)
    words = trialplan(demo_url, "activation", *args)
    assert words.exit_code == 0 and "not reachable" in words.stdout
    assert "HiGHS" not in words.stdout
    csv = tmp_path / "candidates.csv"
    csv.write_text(CANDIDATES)
    more = plan_json(demo_url, *args, "--candidates", str(csv))
    assert more["status"] == "optimal" and more["candidates"] == short["candidates"] + 6
    assert any(r["site_id"].startswith("N") for r in more["plan"])
    months = {r["site_id"]: r["activation_month"] for r in more["plan"]}
    assert all(months[s] >= m for s, m in (("N03", "2027-02"), ("N05", "2027-03"))
               if s in months)
    check_plan(demo_url, more)


def test_save_records_a_run_without_touching_milestones(demo_url: str) -> None:
    with Session(create_engine(demo_url)) as session:
        before = sorted((m.kind.value, m.forecast_date, m.forecast_run_pk) for m in
                        session.scalars(select(Milestone).join(Study).where(
                            Study.study_id == "KST-IMM-202")))
    doc = plan_json(demo_url, "KST-IMM-202", "--target-date", "2028-12-31",
                    "--probability", "0.5", "--save")
    with Session(create_engine(demo_url)) as session:
        run = session.get(ForecastRun, doc["forecast_run_id"])
        assert run.model == "activation_plan" and run.actor == "tester"
        assert run.result == doc and run.result["lpi"] == doc["lpi"]
        assert run.params["probability"] == 0.5 and len(run.inputs_sha256) == 64
        after = sorted((m.kind.value, m.forecast_date, m.forecast_run_pk) for m in
                       session.scalars(select(Milestone).join(Study).where(
                           Study.study_id == "KST-IMM-202")))
    assert after == before
    # a saved plan is not the study's forecast of record: the next forecast with the same
    # inputs is still the demo's run again, not a new one
    demo_run = max(pk for _, _, pk in before if pk is not None)
    forecast = trialplan(demo_url, "forecast", "KST-IMM-202", "--json")
    assert forecast.exit_code == 0, forecast.output
    assert json.loads(forecast.stdout)["forecast_run_id"] == demo_run


@pytest.mark.parametrize(("args", "message"), [
    (("NOPE", "--target-date", "2028-01-01", "--probability", "0.5"), "not in the store"),
    (("KST-IMM-202", "--target-date", "2028-01-01", "--probability", "1.5"), "between 0 and 1"),
    (("KST-IMM-202", "--target-date", "2028-01-01", "--probability", "0"), "between 0 and 1"),
    (("KST-IMM-202", "--target-date", "31/12/2028", "--probability", "0.5"), "ISO date"),
    (("KST-IMM-202", "--target-date", "2026-06-30", "--probability", "0.5"), "data cut"),
    (("KST-IMM-202", "--target-date", "2028-01-01", "--probability", "0.5",
      "--quarter-budget", "-5"), "non-negative"),
    (("AUR-ONC-301", "--target-date", "2028-01-01", "--probability", "0.5"), "already reached"),
])
def test_bad_input_exits_2(demo_url: str, args: tuple[str, ...], message: str) -> None:
    result = trialplan(demo_url, "activation", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_bad_candidates_file_names_row_and_column(demo_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("site_id,country,earliest_month\nN1,DE,2027-01\nN2,XX,2027-01\n")
    result = trialplan(demo_url, "activation", "HLX-CV-302", "--target-date", "2027-12-31",
                       "--probability", "0.8", "--candidates", str(csv))
    assert result.exit_code == 2 and "row 3, column country: 'XX'" in result.output
