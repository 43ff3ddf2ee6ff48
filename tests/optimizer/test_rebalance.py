"""Rebalancing on hand-checkable cases: the cheapest way to remove an overload, and each
option (pinned sites, site cap, language eligibility, travel, decomposition) at work."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from optimizer.geography import TRIP_COST_PER_KM, distance_km
from optimizer.rebalance import (
    MOVE_PENALTY,
    OVERLOAD_PENALTY,
    STUDY_SPREAD_PENALTY,
    TAIL_SECONDS,
    TAIL_SECONDS_PER_SITE,
    RebalanceInputs,
    RebalanceOptions,
    rebalance,
)

MONTHS = ["2026-11", "2026-12"]


def inputs(sites: pd.DataFrame, cras: pd.DataFrame, per_site: dict[str, float],
           capacity: float = 60.0, trips: dict[str, float] | None = None) -> RebalanceInputs:
    hours = pd.DataFrame([{"study_id": "S", "site_id": s, "month": m, "hours": h}
                          for s, h in per_site.items() for m in MONTHS])
    cap = pd.DataFrame([{"staff_id": c, "month": m, "capacity": capacity}
                        for c in cras["staff_id"] for m in MONTHS])
    trip_rows = pd.DataFrame([{"study_id": "S", "site_id": s, "trips": t}
                              for s, t in (trips or {}).items()],
                             columns=["study_id", "site_id", "trips"])
    return RebalanceInputs(sites, cras, hours, trip_rows, cap)


def case() -> RebalanceInputs:
    """CRA A (DE) holds sites 1, 2, 3 needing 40 + 30 + 20 = 90 h a month against 60 h;
    CRA B (DE) holds site 4 (10 h) with 60 h; CRA C is in FR and speaks no German (not
    eligible for DE sites). Removing the 30 h overload takes moving site 2 (30 h) alone,
    or site 1 (40 h): one move either way, no overload left; A and B stay on study S.
    Cost: one move + two CRAs on the study."""
    sites = pd.DataFrame({"study_id": "S", "site_id": ["1", "2", "3", "4"],
                          "country": "DE", "cra": ["A", "A", "A", "B"]})
    cras = pd.DataFrame({"staff_id": ["A", "B", "C"], "home_country": ["DE", "DE", "FR"],
                         "languages": [["de", "en"], ["de", "en"], ["fr", "en"]]})
    return inputs(sites, cras, {"1": 40.0, "2": 30.0, "3": 20.0, "4": 10.0})


def test_one_move_removes_the_overload() -> None:
    result = rebalance(case(), RebalanceOptions(max_moves=3, time_limit=30))
    moves = result.moves
    assert len(moves) == 1 and moves["from"].tolist() == ["A"] and moves["to"].tolist() == ["B"]
    assert moves["site_id"].iloc[0] in {"1", "2"}
    assert moves["reason"].iloc[0].startswith("overload removed")
    assert result.result.objective == pytest.approx(MOVE_PENALTY + 2 * STUDY_SPREAD_PENALTY)
    # invariants recomputed: every site once, nobody over capacity after
    assert sorted(result.result.assignment["job"]) == sorted(f"S\x1f{s}" for s in "1234")
    assert (result.utilization["after"] <= 1 + 1e-9).all()
    before = result.utilization.set_index(["staff_id", "month"])["before"]
    assert before[("A", "2026-11")] == pytest.approx(1.5)


def test_the_run_says_where_its_time_went() -> None:
    """The solve is allowed the limit less the set-up and the tail kept back for the
    report (0.85 s + 0.075 ms a site: 4 sites here); the three parts add up to no more
    than the wall time around the call."""
    started = time.perf_counter()
    result = rebalance(case(), RebalanceOptions(time_limit=30))
    wall = time.perf_counter() - started
    timings = result.timings
    assert min(timings.set_up, timings.solve, timings.report) > 0.0
    assert timings.solve_allowed == pytest.approx(
        30 - timings.set_up - TAIL_SECONDS - 4 * TAIL_SECONDS_PER_SITE)
    assert timings.set_up + timings.solve + timings.report <= wall


def test_no_move_allowed_keeps_the_overload_and_says_so() -> None:
    result = rebalance(case(), RebalanceOptions(max_moves=0, time_limit=30))
    assert result.moves.empty
    assert result.result.objective == pytest.approx(
        OVERLOAD_PENALTY * 30 * len(MONTHS) + 2 * STUDY_SPREAD_PENALTY)
    overload = result.result.overload
    assert set(overload["agent"]) == {"A"} and overload["hours"].sum() == pytest.approx(60)


def test_a_country_without_enough_capacity_is_explained() -> None:
    """DE sites need 150 h a month; DE's two CRAs have 120 h (the FR CRA is not eligible):
    whatever the moves, 30 h a month are short in DE, and the explanation says so."""
    base = case()
    short_case = RebalanceInputs(base.sites, base.cras,
                                 base.hours.assign(hours=base.hours["hours"] * 1.5),
                                 base.trips, base.capacity)
    result = rebalance(short_case, RebalanceOptions(time_limit=30))
    short = result.shortfalls
    assert short["country"].tolist() == ["DE", "DE"]
    assert short["month"].tolist() == MONTHS
    assert short["hours"].tolist() == pytest.approx([30.0, 30.0])
    assert result.explain()[0] == "DE 2026-11: 30.0 hours more than its eligible CRAs can take"
    assert rebalance(case(), RebalanceOptions(time_limit=30)).shortfalls.empty


def test_pinned_sites_stay() -> None:
    """Sites 1 and 2 pinned to A: only site 3 (20 h) can go, leaving A 10 h over a month."""
    options = RebalanceOptions(pinned=frozenset({("S", "1"), ("S", "2")}), time_limit=30)
    result = rebalance(case(), options)
    assert result.moves[["site_id", "to"]].values.tolist() == [["3", "B"]]
    assert result.result.objective == pytest.approx(
        MOVE_PENALTY + 2 * STUDY_SPREAD_PENALTY + OVERLOAD_PENALTY * 10 * len(MONTHS))


def test_site_cap_per_cra() -> None:
    """At most 2 sites per CRA with 4 sites and two eligible CRAs: 2 + 2. A keeps two of its
    three and B takes one; the cheapest way is still a single move, now capped."""
    result = rebalance(case(), RebalanceOptions(max_sites_per_cra=2, time_limit=30))
    held = result.result.assignment["agent"].value_counts()
    assert held.max() <= 2 and len(result.moves) == 1
    assert (result.utilization["after"] <= 1 + 1e-9).all()


def test_language_decides_who_may_take_a_site_across_the_border() -> None:
    """An NL site with an overloaded Dutch CRA: the German CRA who speaks Dutch may take it
    (Amsterdam–Berlin is within reach), the one who does not may not, however free."""
    sites = pd.DataFrame({"study_id": "S", "site_id": ["1", "2"], "country": "NL",
                          "cra": ["N", "N"]})
    cras = pd.DataFrame({"staff_id": ["N", "D1", "D2"], "home_country": ["NL", "DE", "DE"],
                         "languages": [["nl", "en"], ["de", "en"], ["de", "en", "nl"]]})
    result = rebalance(inputs(sites, cras, {"1": 40.0, "2": 40.0}), RebalanceOptions(
        time_limit=30))
    assert result.moves["to"].tolist() == ["D2"]
    assert "language fit across the border" in result.moves["reason"].iloc[0]


def test_a_move_that_saves_travel_is_worth_its_cost() -> None:
    """A DE site monitored from Paris by a German-speaking French CRA, 12 on-site trips
    ahead: a CRA in Germany with room saves 12 × 0.6 USD/km × Paris–Berlin, more than
    the move's cost; without the travel term nothing moves."""
    sites = pd.DataFrame({"study_id": "S", "site_id": ["1", "2"], "country": "DE",
                          "cra": ["F", "G"]})
    cras = pd.DataFrame({"staff_id": ["F", "G"], "home_country": ["FR", "DE"],
                         "languages": [["fr", "de"], ["de"]]})
    case_ = inputs(sites, cras, {"1": 20.0, "2": 20.0}, trips={"1": 12.0, "2": 12.0})
    result = rebalance(case_, RebalanceOptions(time_limit=30))
    saved = 12 * TRIP_COST_PER_KM * distance_km("FR", "DE")
    assert result.moves[["site_id", "from", "to"]].values.tolist() == [["1", "F", "G"]]
    assert result.travel_before - result.travel_after == pytest.approx(saved)
    assert f"travel saved {saved:,.0f} USD" in result.moves["reason"].iloc[0]
    assert rebalance(case_, RebalanceOptions(travel=False, time_limit=30)).moves.empty


def test_decomposed_solve_equals_the_whole_model() -> None:
    """Two countries (two components): solving each on its own gives the same optimum as
    one model of both, and the merged bound is the sum of the parts' bounds."""
    rng = np.random.default_rng(7)
    rows, owners = [], []
    for country, prefix in (("DE", "D"), ("IT", "I")):
        for number in range(12):
            owners.append(f"{prefix}{number % 3}")
            rows.append({"study_id": "S", "site_id": f"{prefix}{number}", "country": country})
    sites = pd.DataFrame(rows).assign(cra=owners)
    cras = pd.DataFrame({"staff_id": ["D0", "D1", "D2", "D3", "I0", "I1", "I2", "I3"],
                         "home_country": ["DE"] * 4 + ["IT"] * 4,
                         "languages": [["de"]] * 4 + [["it"]] * 4})
    per_site = {s: float(rng.integers(5, 30)) for s in sites["site_id"]}
    case_ = inputs(sites, cras, per_site, capacity=70.0)
    apart = rebalance(case_, RebalanceOptions(time_limit=30))
    whole = rebalance(case_, RebalanceOptions(decompose=False, time_limit=30))
    assert len(apart.subproblems) == 2 and len(whole.subproblems) == 1
    assert apart.result.status == whole.result.status == "optimal"
    assert apart.result.objective == pytest.approx(whole.result.objective)
    assert apart.result.bound == pytest.approx(apart.subproblems["bound"].sum())
    held = apart.result.assignment.assign(hours=apart.result.assignment["job"].map(
        {f"S\x1f{s}": h for s, h in per_site.items()}))
    used = held.groupby("agent")["hours"].sum()
    over = (used - 70.0).clip(lower=0).sum() * len(MONTHS)
    assert over == pytest.approx(apart.result.overload["hours"].sum())


def test_moving_only_sites_with_a_reason_finds_the_same_plan_here() -> None:
    """Only A is over capacity and nobody is monitored from abroad: letting only A's sites
    move (the CRO-scale neighbourhood) loses nothing on this case."""
    everything = rebalance(case(), RebalanceOptions(movable="all", time_limit=30))
    neighbourhood = rebalance(case(), RebalanceOptions(movable="overloaded", time_limit=30))
    assert neighbourhood.movable == "overloaded" and everything.movable == "all"
    assert neighbourhood.result.objective == pytest.approx(everything.result.objective)
    assert set(neighbourhood.moves["from"]) == {"A"}


def test_the_neighbourhood_spreads_candidates_as_room_fills() -> None:
    """A (over capacity) holds sites 1, 2, 3 needing 50, 45, 40 h a month; B has 100 h of
    room, C 90 h. With one candidate each, taken largest first and placed on paper:
    site 1 → B (room left 50), site 2 → C (B would keep 5, C 45), site 3 → B (B would keep
    50 − 40 = 10, C 45 − 40 = 5). Static room would have sent all three to B."""
    from optimizer.neighbourhood import narrow

    pairs = pd.DataFrame({"job": ["1", "2", "3"] * 3,
                          "agent": ["A"] * 3 + ["B"] * 3 + ["C"] * 3,
                          "basis": ["current"] * 3 + ["country"] * 6})
    jobs = pd.DataFrame({"job": ["1", "2", "3"], "country": "DE", "cra": "A"})
    cras = pd.DataFrame({"staff_id": ["A", "B", "C"], "home_country": "DE"})
    hours = pd.DataFrame({"job": ["1", "2", "3"], "period": "2027-01",
                          "amount": [50.0, 45.0, 40.0]})
    capacity = pd.DataFrame({"agent": ["A", "B", "C"], "period": "2027-01",
                             "capacity": [60.0, 100.0, 90.0]})
    kept = narrow(pairs, jobs, cras, hours, capacity, candidates=1)
    moving = kept[kept["basis"] != "current"].set_index("job")["agent"].sort_index()
    assert moving.to_dict() == {"1": "B", "2": "C", "3": "B"}
    assert set(kept.loc[kept["basis"] == "current", "agent"]) == {"A"}


def test_the_neighbourhood_moves_sites_with_a_reason_towards_cras_with_room() -> None:
    """A (60 h) holds sites 1, 2 and 5 (50 + 40 h, site 5 none this year), C (30 h) site 3
    (40 h): both over capacity, so neither receives. D, at home in FR, monitors site 4 in
    DE (10 h) from abroad. B and E (100 h each) have room. One candidate each, largest
    first: 1 → B (tie, B listed first; B keeps 50), 2 → E (60 > 10), 3 → E (20 > 10),
    4 → B (40 > 10); site 5 has no hours to rank by, so it keeps every CRA with room."""
    from optimizer.neighbourhood import narrow

    agents = ["A", "B", "C", "E"]
    pairs = pd.DataFrame({"job": [j for j in "12345" for _ in agents] + ["4"],
                          "agent": agents * 5 + ["D"]})
    holder = {"1": "A", "2": "A", "3": "C", "4": "D", "5": "A"}
    pairs["basis"] = ["current" if holder[j] == a else "country"
                      for j, a in zip(pairs["job"], pairs["agent"], strict=True)]
    jobs = pd.DataFrame({"job": list("12345"), "country": "DE", "cra": list(holder.values())})
    cras = pd.DataFrame({"staff_id": list("ABCDE"),
                         "home_country": ["DE", "DE", "DE", "FR", "DE"]})
    hours = pd.DataFrame({"job": list("1234"), "period": "2027-01",
                          "amount": [50.0, 40.0, 40.0, 10.0]})
    capacity = pd.DataFrame({"agent": list("ABCDE"), "period": "2027-01",
                             "capacity": [60.0, 100.0, 30.0, 100.0, 100.0]})
    kept = narrow(pairs, jobs, cras, hours, capacity, candidates=1)
    current = kept[kept["basis"] == "current"]
    assert sorted(zip(current["job"], current["agent"], strict=True)) == sorted(holder.items())
    moving = kept[kept["basis"] != "current"]
    assert sorted(zip(moving["job"], moving["agent"], strict=True)) == [
        ("1", "B"), ("2", "E"), ("3", "E"), ("4", "B"), ("5", "B"), ("5", "E")]


def _narrow_case(capacity_a: float, hours: pd.DataFrame,
                 capacity: pd.DataFrame | None = None) -> pd.DataFrame:
    from optimizer.neighbourhood import narrow

    pairs = pd.DataFrame({"job": ["1", "1", "1"], "agent": ["A", "B", "C"],
                          "basis": ["current", "country", "country"]})
    jobs = pd.DataFrame({"job": ["1"], "country": "DE", "cra": "A"})
    cras = pd.DataFrame({"staff_id": ["A", "B", "C"], "home_country": "DE"})
    if capacity is None:
        capacity = pd.DataFrame({"agent": ["A", "B", "C"], "period": "2027-01",
                                 "capacity": [capacity_a, 100.0, 100.0]})
    return narrow(pairs, jobs, cras, hours, capacity, candidates=1)


def test_the_neighbourhood_with_nothing_to_move_keeps_the_current_pairs() -> None:
    """A holds site 1 (30 h against 60 h), nobody abroad: nothing moves, nothing fails."""
    hours = pd.DataFrame({"job": ["1"], "period": "2027-01", "amount": [30.0]})
    kept = _narrow_case(60.0, hours)
    assert kept[["job", "agent"]].values.tolist() == [["1", "A"]]


def test_the_neighbourhood_ranks_room_in_the_months_a_site_needs() -> None:
    """Site 1 needs 30 h in January only; B has 100 h free in January but 5 h in
    February, C 50 h in both: B has the most room where it matters."""
    hours = pd.DataFrame({"job": ["1", "1"], "period": ["2027-01", "2027-02"],
                          "amount": [30.0, 0.0]})
    capacity = pd.DataFrame({"agent": ["A", "A", "B", "B", "C", "C"],
                             "period": ["2027-01", "2027-02"] * 3,
                             "capacity": [20.0, 20.0, 100.0, 5.0, 50.0, 50.0]})
    kept = _narrow_case(20.0, hours, capacity)
    assert kept.loc[kept["basis"] != "current", "agent"].tolist() == ["B"]


def test_the_lp_guided_start_and_bound_keep_the_optimum(monkeypatch) -> None:  # noqa: ANN001
    """With the LP-guided start forced on the small case, the plan is the same optimum
    and the LP relaxation's objective is a bound below it. On the golden problem the
    optimum by hand is 550: A is 10 h over in January, so s2 moves to B (250), and A on
    S, B on T, B on S cost 100 each; the LP (HiGHS: 450) moves fractions instead."""
    import optimizer.lp_guided as lp_guided
    from optimizer.assignment import build_for_highs
    from optimizer.highs_bridge import relaxation, solve_compiled
    from tests.optimizer.test_assignment_golden import small_problem

    solved = []  # the relaxations lp_guided_start solved (None: not within its limit)

    def counted(compiled, time_limit: float):  # noqa: ANN001, ANN202
        solved.append(relaxation(compiled, time_limit))
        return solved[-1]

    plain = rebalance(case(), RebalanceOptions(time_limit=30))
    monkeypatch.setattr(lp_guided, "MIN_PAIRS", 0)
    monkeypatch.setattr(lp_guided, "relaxation", counted)
    guided = rebalance(case(), RebalanceOptions(time_limit=30))
    assert solved and all(r is not None for r in solved)  # the LP path ran
    assert guided.result.status == "optimal"
    assert guided.result.objective == pytest.approx(plain.result.objective)
    built = build_for_highs(small_problem())  # its LP relaxation is fractional
    lp = relaxation(built.compiled, 10.0)
    mip = solve_compiled(built.compiled, 10.0, 1e-9)  # a MIP again after the LP
    assert lp is not None and mip.outcome == "optimal"
    assert lp.objective == pytest.approx(450.0) and mip.objective == pytest.approx(550.0)
    assert all(abs(v - round(v)) < 1e-6 for v in (
        mip.values[id(built.model.x[p])] for p in built.model.pairs))



def _portfolio() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sites (job, country, territory, cra), CRAs, hours and capacity: the US in two
    territories, a German CRA who speaks French, an over-capacity US-east CRA (u1), a
    site monitored from abroad (f2, by g1), a site without a CRA (d3), a pinned one."""
    sites = pd.DataFrame({
        "job": ["e1", "e2", "w1", "g0", "f1", "f2", "d3", "p1"],
        "country": ["US", "US", "US", "DE", "FR", "FR", "DE", "US"],
        "territory": ["US-0", "US-0", "US-1", None, None, None, None, "US-0"],
        "cra": ["u1", "u1", "u3", "g1", "f9", "g1", None, "u2"]})
    cras = pd.DataFrame({
        "staff_id": ["u1", "u2", "u3", "g1", "g2", "f9"],
        "home_country": ["US", "US", "US", "DE", "DE", "FR"],
        "territory": ["US-0", "US-0", "US-1", None, None, None],
        "languages": [["en"], ["en"], ["en"], ["de", "fr"], ["de"], ["fr"]]})
    hours = pd.DataFrame({"job": list(sites["job"]), "period": "2027-01",
                          "amount": [60.0, 50.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]})
    capacity = pd.DataFrame({"agent": list(cras["staff_id"]), "period": "2027-01",
                             "capacity": 100.0})
    return sites, cras, hours, capacity


def test_pair_counts_bracket_the_pairs_made() -> None:
    """Counted from groups alone: US-0 sites e1, e2 (and pinned p1) × u1, u2; w1 × u3;
    German g0, d3 × g1, g2; French f1, f2 × f9, and × g1 across the border (he speaks
    French): 4 + 1 + 4 + 4 = 13, plus p1's one current pair = 14; current pairs add at
    most one each (6 sites with a CRA, pinned aside)."""
    from optimizer.eligibility import eligible_pair_count, eligible_pairs

    sites, cras, _, _ = _portfolio()
    made = eligible_pairs(sites, cras, {"p1"})
    assert eligible_pair_count(sites, cras, {"p1"}) == (14, 20)
    assert len(made) == 14  # every current CRA here is eligible anyway (f2: g1 across)
    # w1 (US-1) held by u1 of US-0: its current pair is one more, the counts the same
    across = sites.assign(cra=sites["cra"].mask(sites["job"] == "w1", "u1"))
    assert eligible_pair_count(across, cras, {"p1"}) == (14, 20)
    assert len(eligible_pairs(across, cras, {"p1"})) == 15


def test_the_pairs_made_and_their_basis() -> None:
    """Worked by hand from the portfolio: each site's current CRA ("current"), the CRAs
    of its country and territory ("country"; a site or CRA without a territory matches
    any), and across the border the German g1 for French sites (he speaks French:
    "language"); the strongest basis per pair; p1 pinned keeps u2 alone. Then a US CRA
    without a territory (u4) takes every US site, and a US site without one (n1, no
    CRA) every US CRA."""
    from optimizer.eligibility import eligible_pairs

    sites, cras, _, _ = _portfolio()
    assert eligible_pairs(sites, cras, {"p1"}).values.tolist() == [
        ["d3", "g1", "country"], ["d3", "g2", "country"], ["e1", "u1", "current"],
        ["e1", "u2", "country"], ["e2", "u1", "current"], ["e2", "u2", "country"],
        ["f1", "f9", "current"], ["f1", "g1", "language"], ["f2", "f9", "country"],
        ["f2", "g1", "current"], ["g0", "g1", "current"], ["g0", "g2", "country"],
        ["p1", "u2", "current"], ["w1", "u3", "current"]]
    cras = pd.concat([cras, pd.DataFrame({"staff_id": ["u4"], "home_country": ["US"],
                                          "territory": [None], "languages": [["en"]]})],
                     ignore_index=True)
    sites = pd.concat([sites, pd.DataFrame({"job": ["n1"], "country": ["US"],
                                            "territory": [None], "cra": [None]})],
                      ignore_index=True)
    made = eligible_pairs(sites, cras, {"p1"})
    us = made[made["job"].isin(["e1", "e2", "w1", "n1", "p1"])]
    assert us.values.tolist() == [
        ["e1", "u1", "current"], ["e1", "u2", "country"], ["e1", "u4", "country"],
        ["e2", "u1", "current"], ["e2", "u2", "country"], ["e2", "u4", "country"],
        ["n1", "u1", "country"], ["n1", "u2", "country"], ["n1", "u3", "country"],
        ["n1", "u4", "country"], ["p1", "u2", "current"], ["w1", "u3", "current"],
        ["w1", "u4", "country"]]
    assert len(made) == 14 + 3 + 4


def test_only_the_sites_that_may_move_need_their_pairs() -> None:
    """u1 is over capacity (110 h against 100), g1 monitors f2 from abroad, d3 has no CRA:
    those sites may move. Making the other sites' current pair only, the narrowed
    neighbourhood is the one made from every pair."""
    from optimizer.eligibility import eligible_pairs
    from optimizer.neighbourhood import movable_sites, narrow

    sites, cras, hours, capacity = _portfolio()
    movable = movable_sites(sites, cras, hours, capacity)
    assert movable == {"e1", "e2", "f2", "d3"}
    key = ["job", "agent", "basis"]
    every = narrow(eligible_pairs(sites, cras, {"p1"}), sites, cras, hours, capacity)
    some = narrow(eligible_pairs(sites, cras, {"p1"}, movable), sites, cras, hours, capacity)
    assert some[key].sort_values(key).values.tolist() == every[key].sort_values(
        key).values.tolist()
    assert set(every.loc[every["basis"] != "current", "job"]) == movable


def test_pair_counts_of_sites_without_a_country_are_none() -> None:
    """A site with no country (and no CRA) has no eligible CRA. The counts do not guess
    there (they once failed on the country column's missing values): their bounds are
    wide, and the pairs made settle the scope."""
    from optimizer.eligibility import eligible_pair_count, eligible_pairs

    sites = pd.DataFrame({"job": ["j2"], "country": [None], "cra": [None]})
    cras = pd.DataFrame({"staff_id": ["c1"], "home_country": ["DE"], "languages": [["de"]]})
    assert len(eligible_pairs(sites, cras)) == 0
    least, most = eligible_pair_count(sites, cras)
    assert least == 0 and most >= 1
