"""`trialplan staffing` on the demo portfolio: invariants recomputed from the JSON."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from planner.frames import load_portfolio
from planner.store import transaction
from planner.tables import StaffingRun
from planner.workload.drivers import DEFAULT_DRIVERS
from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan

NAMED_EXCLUDED = {"hire", "contractor", "unmet"}


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One copy of the demo store for this module's tests."""
    return copy_store(demo_template, tmp_path_factory.mktemp("staffing"))


@pytest.fixture(scope="module")
def plan(demo_url: str) -> dict:
    result = trialplan(demo_url, "staffing", "--months", "6", "--time-limit", "120", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_demand_hour_has_a_source(plan: dict) -> None:
    met: dict[tuple, float] = defaultdict(float)
    sources: dict[tuple, int] = defaultdict(int)
    for row in plan["plan"]:
        key = (row["role"], row["study_id"], row["month"])
        met[key] += row["hours"]
        sources[key] += 1
    wanted = {(d["role"], d["study_id"], d["month"]): d["hours"] for d in plan["demand"]}
    assert set(met) == set(wanted)
    for key, hours in wanted.items():  # each printed value is rounded to 0.01 h
        assert met[key] == pytest.approx(hours, abs=0.005 * (sources[key] + 1))
    assert {d["month"] for d in plan["demand"]} == {
        "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03"}
    assert {d["role"] for d in plan["demand"]} == {"CRA", "PM", "CTA", "DM", "BIOSTAT", "MW"}


def capacity_from_store(url: str, months: list[str]
                        ) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """staff_id → capacity hours a month × FTE × target, and (staff_id, month) → that
    less the month's leave (never below 0), recomputed from the stored staff and leave."""
    with transaction(create_engine(url), "tester") as session:
        p = load_portfolio(session)
    target = DEFAULT_DRIVERS.utilization_target
    base = {str(r.staff_id): r.capacity_hours_month * r.fte * target
            for r in p.staff.itertuples()}
    leave: dict[tuple[str, str], float] = defaultdict(float)
    for r in p.leave.itertuples():
        leave[str(r.staff_id), r.month.strftime("%Y-%m")] += r.hours
    return base, {(s, m): max(c - leave[s, m], 0.0) for s, c in base.items() for m in months}


def test_nobody_over_capacity_out_of_role_or_on_too_many_studies(plan: dict,
                                                                 demo_url: str) -> None:
    """Each person's hours a month stay within that month's capacity, leave taken off;
    the demo's year-end leave falls in the horizon and lowers some capacities."""
    staff = {s["staff_id"]: s for s in plan["staff"]}
    months = sorted({d["month"] for d in plan["demand"]})
    base, capacity = capacity_from_store(demo_url, months)
    covers = {(c["role"], c["covers"]) for c in plan["coverage"]}
    load: dict[tuple, float] = defaultdict(float)
    studies: dict[tuple, set] = defaultdict(set)
    for row in plan["plan"]:
        if row["source"] in NAMED_EXCLUDED:
            continue
        person = staff[row["source"]]
        assert row["role"] == person["role"] or (person["role"], row["role"]) in covers
        load[row["source"], row["month"]] += row["hours"]
        studies[row["source"], row["month"]].add(row["study_id"])
    assert load, "named staff do most of the work"
    for (person, month), hours in load.items():
        assert hours <= capacity[person, month] + 0.05
    for person, row in staff.items():  # the plan's month without leave
        assert row["capacity"] == pytest.approx(base[person], abs=0.005)
    lowered = {(r["staff_id"], r["month"]): r["capacity"] for r in plan["capacity"]}
    assert lowered, "the demo's year-end leave is in the horizon"
    assert lowered == pytest.approx({k: capacity[k] for k in lowered}, abs=0.005)
    assert set(lowered) == {(p, m) for p, m in capacity
                            if p in staff and capacity[p, m] < base[p] - 1e-9}
    assert max(len(s) for s in studies.values()) <= plan["max_studies"]


def test_the_objective_is_recomputed_from_the_plan(plan: dict) -> None:
    """Named hours × rate + hired FTE × rate × paid hours × months left + contractor
    hours × rate + unmet hours × penalty; hires start after their lead time."""
    assert plan["status"] in {"optimal", "time_limit"} and plan["gap"] <= 0.01
    assert plan["currency"] == "USD" and plan["fx_date"]
    months = sorted({d["month"] for d in plan["demand"]})
    rate = {s["staff_id"]: s["rate"] for s in plan["staff"]}
    hire = {h["role"]: h for h in plan["hire_options"]}
    contract = {c["role"]: c["rate"] for c in plan["contractor_options"]}
    total = 0.0
    for row in plan["plan"]:
        if row["source"] == "contractor":
            total += row["hours"] * contract[row["role"]]
        elif row["source"] == "unmet":
            total += row["hours"] * plan["unmet_penalty"]
        elif row["source"] != "hire":
            total += row["hours"] * rate[row["source"]]
    for h in plan["hires"]:
        option = hire[h["role"]]
        assert months.index(h["month"]) >= option["lead_months"]
        total += h["fte"] * option["rate"] * option["hours"] * (len(months)
                                                               - months.index(h["month"]))
    assert total == pytest.approx(plan["objective"], rel=1e-5)
    hired = sum(r["hours"] for r in plan["plan"] if r["source"] == "hire")
    assert hired == 0 or plan["hires"]
    unmet = [r for r in plan["plan"] if r["source"] == "unmet"]
    assert len(unmet) == len(plan["unmet"]) and len(plan["explanation"]) <= len(unmet)


def test_text_output(demo_url: str) -> None:
    result = trialplan(demo_url, "staffing", "--months", "2", "--staff-cost", "sunk")
    assert result.exit_code == 0, result.output
    shown = re.search(r"^staffing run (\d+): ", result.stdout, re.MULTILINE)
    assert shown, result.stdout
    assert stored_runs(demo_url)[int(shown[1])].options["staff_cost"] == "sunk"
    assert "staffing plan 2026-10 to 2026-11 in USD" in result.stdout
    assert "(sunk: not minimized)" in result.stdout and "hires:" in result.stdout
    bad = trialplan(demo_url, "staffing", "--months", "0")
    assert bad.exit_code == 2


def stored_runs(url: str) -> dict[int, StaffingRun]:
    with transaction(create_engine(url), "tester") as session:  # writes nothing
        return {run.id: run for run in session.scalars(select(StaffingRun))}


def test_the_run_is_stored_with_its_document_and_inputs_hash(plan: dict,
                                                             demo_url: str) -> None:
    run = stored_runs(demo_url)[plan["run"]]
    assert run.result == {k: v for k, v in plan.items() if k != "run"}
    assert re.fullmatch(r"[0-9a-f]{64}", run.inputs_sha256)
    assert run.actor == "tester" and run.as_of.strftime("%Y-%m") == "2026-10"  # the cut
    assert (run.status, run.objective, run.gap) == (plan["status"], plan["objective"],
                                                    plan["gap"])
    assert run.bound == plan["bound"] and run.bound <= run.objective + 1e-6
    assert run.timings == {"build": plan["build_seconds"], "solve": plan["solve_seconds"]}
    assert run.options["months"] == 6 and run.options["time_limit"] == 120
    assert run.options["horizon"] == sorted({d["month"] for d in plan["demand"]})


def test_same_inputs_same_hash_other_months_other_hash(demo_url: str) -> None:
    """Every run is stored, a repeated one too; the hash changes with the inputs."""
    def run(months: str) -> StaffingRun:
        result = trialplan(demo_url, "staffing", "--months", months, "--json")
        assert result.exit_code == 0, result.output
        return stored_runs(demo_url)[json.loads(result.stdout)["run"]]

    first, second, other = run("2"), run("2"), run("3")
    assert len({first.id, second.id, other.id}) == 3
    assert first.inputs_sha256 == second.inputs_sha256
    assert other.inputs_sha256 != first.inputs_sha256
    assert first.result["demand"] == second.result["demand"]
