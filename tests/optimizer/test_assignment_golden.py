"""Golden file of the built rebalancing model: a change in any constraint family shows up
as a diff of the LP file (regenerate with GOLDEN_UPDATE=1 after checking the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from optimizer.assignment import AssignmentProblem, build_model

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "rebalance_small.lp"


def small_problem() -> AssignmentProblem:
    """2 CRAs, 3 sites of two studies, 2 months; A holds sites 1 and 2 (over capacity in
    month 1), B holds site 3; every family present: assignment, capacity with overload,
    keep-all, move budget, site cap, study spread."""
    pairs = pd.DataFrame({"agent": ["A", "B", "A", "B", "B"],
                          "job": ["s1", "s1", "s2", "s2", "s3"],
                          "cost": [0.0, 250.0, 0.0, 250.0, 0.0],
                          "move": [False, True, False, True, False]})
    hours = {"s1": (40.0, 30.0), "s2": (30.0, 20.0), "s3": (10.0, 10.0)}
    load = pd.DataFrame([(a, j, t, hours[j][t]) for a, j in zip(pairs["agent"], pairs["job"],
                                                                strict=True)
                         for t in (0, 1)], columns=["agent", "job", "period", "amount"])
    load["period"] = load["period"].map({0: "2027-01", 1: "2027-02"})
    capacity = pd.DataFrame([(a, m, 60.0) for a in "AB" for m in ("2027-01", "2027-02")],
                            columns=["agent", "period", "capacity"])
    groups = pd.DataFrame({"job": ["s1", "s2", "s3"], "group": ["S", "S", "T"]})
    return AssignmentProblem(pairs, load, capacity, "min", overload_penalty=1000.0,
                             max_moves=1, max_jobs_per_agent=2, groups=groups,
                             group_penalty=100.0)


def test_the_built_model_matches_its_golden_file(tmp_path: Path) -> None:
    written = tmp_path / "model.lp"
    build_model(small_problem()).write(str(written),
                                       io_options={"symbolic_solver_labels": True})
    text = written.read_text()
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
