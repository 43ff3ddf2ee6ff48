"""Rebalancing on a hand-checkable case: the cheapest way to remove an overload."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.rebalance import MOVE_PENALTY, OVERLOAD_PENALTY, rebalance

MONTHS = ["2026-11", "2026-12"]


def case() -> tuple[pd.DataFrame, ...]:
    """CRA A (DE) holds sites 1, 2, 3 needing 40 + 30 + 20 = 90 h a month against 60 h;
    CRA B (DE) holds site 4 (10 h) with 60 h; CRA C is in FR (not eligible for DE sites).
    Removing the 30 h overload takes moving site 2 (30 h) alone, or sites 1 (40 h);
    moving 2 leaves A at 60/60 and B at 40/60; moving 1 leaves B at 50/60: both one move,
    both no overload — the same cost; moving 3 alone leaves 10 h over."""
    sites = pd.DataFrame({"study_id": "S", "site_id": ["1", "2", "3", "4"],
                          "country": "DE", "cra": ["A", "A", "A", "B"]})
    cras = pd.DataFrame({"staff_id": ["A", "B", "C"], "home_country": ["DE", "DE", "FR"]})
    per_site = {"1": 40.0, "2": 30.0, "3": 20.0, "4": 10.0}
    hours = pd.DataFrame([{"study_id": "S", "site_id": s, "month": m, "hours": h}
                          for s, h in per_site.items() for m in MONTHS])
    capacity = pd.DataFrame([{"staff_id": c, "month": m, "capacity": 60.0}
                             for c in "ABC" for m in MONTHS])
    return sites, cras, hours, capacity


def test_one_move_removes_the_overload() -> None:
    sites, cras, hours, capacity = case()
    result = rebalance(sites, cras, hours, capacity, max_moves=3, time_limit=30)
    moves = result.moves
    assert len(moves) == 1 and moves["from"].tolist() == ["A"] and moves["to"].tolist() == ["B"]
    assert moves["site_id"].iloc[0] in {"1", "2"}
    assert moves["reason"].tolist() == ["overload removed"]
    assert result.result.objective == pytest.approx(MOVE_PENALTY)
    # invariants recomputed: every site once, nobody over capacity after
    assert sorted(result.result.assignment["job"]) == ["S/1", "S/2", "S/3", "S/4"]
    assert (result.utilization["after"] <= 1 + 1e-9).all()
    before = result.utilization.set_index(["staff_id", "month"])["before"]
    assert before[("A", "2026-11")] == pytest.approx(1.5)


def test_no_move_allowed_keeps_the_overload_and_says_so() -> None:
    sites, cras, hours, capacity = case()
    result = rebalance(sites, cras, hours, capacity, max_moves=0, time_limit=30)
    assert result.moves.empty
    assert result.result.objective == pytest.approx(OVERLOAD_PENALTY * 30 * len(MONTHS))
    overload = result.result.overload
    assert set(overload["agent"]) == {"A"} and overload["hours"].sum() == pytest.approx(60)


def test_a_country_without_enough_capacity_is_explained() -> None:
    """DE sites need 150 h a month; DE's two CRAs have 120 h (the FR CRA is not eligible):
    whatever the moves, 30 h a month are short in DE, and the explanation says so."""
    sites, cras, hours, capacity = case()
    hours = hours.assign(hours=hours["hours"] * 1.5)
    result = rebalance(sites, cras, hours, capacity, time_limit=30)
    short = result.shortfalls
    assert short["country"].tolist() == ["DE", "DE"]
    assert short["month"].tolist() == MONTHS
    assert short["hours"].tolist() == pytest.approx([30.0, 30.0])
    assert result.explain()[0] == "DE 2026-11: 30.0 hours more than its eligible CRAs can take"
    assert rebalance(*case(), time_limit=30).shortfalls.empty
