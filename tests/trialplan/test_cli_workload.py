"""`trialplan workload` on the demo portfolio: invariants recomputed from the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_store
from tests.trialplan.cli_runner import trialplan


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One copy of the demo store for this module's tests."""
    return copy_store(demo_template, tmp_path_factory.mktemp("workload"))


def test_workload_json_adds_up(demo_url: str) -> None:
    result = trialplan(demo_url, "workload", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["as_of"] == "2026-10-31" and len(doc["months"]) == 12
    assert doc["months"][0] == "2026-10" and doc["months"][-1] == "2027-09"
    rows = doc["utilization"]
    for row in rows:
        if row["capacity"]:
            assert row["utilization"] == pytest.approx(row["hours"] / row["capacity"], abs=5e-4)
    # every monitoring hour lands on exactly one CRA (or "unassigned"); both sides are
    # sums of values rounded to 0.01 h, so they may differ by half a hundredth a row
    rounding = 0.005 * (len(rows) + len(doc["by_study"]))
    assert sum(r["hours"] for r in rows) == pytest.approx(
        sum(s["hours"] for s in doc["by_study"]), abs=rounding)
    # the demo has overloaded CRAs (DESIGN: some overloaded) and idle capacity elsewhere
    assert any(r["utilization"] and r["utilization"] > 1 for r in rows)
    assert any(r["utilization"] is not None and r["utilization"] < 0.5 for r in rows)


def test_workload_of_one_study_and_unknown_study(demo_url: str) -> None:
    one = json.loads(trialplan(demo_url, "workload", "--study", "HLX-CV-302", "--json").stdout)
    assert {s["study_id"] for s in one["by_study"]} == {"HLX-CV-302"}
    unknown = trialplan(demo_url, "workload", "--study", "NOPE")
    assert unknown.exit_code == 2 and "not in the store" in unknown.stderr
    text = trialplan(demo_url, "workload", "--months", "3")
    assert text.exit_code == 0 and "CRAs over capacity" in text.stdout
