"""Site activation plan: small cases with optima worked out by hand, invariants, probability.

The hand cases share one calendar: data cut 2026-12-31, target date D = 2027-07-01.
A site activated at the start of January recruits for τ_Jan = 181 days = 5.9466
months before D, from February τ_Feb = 150 days = 4.9281 months (a month is
365.25/12 days). Three candidates A, B, C each randomize 1 a month (known rates:
Poisson counts), may start from January, and cost only their start-up fees
A 10,000, B 20,000, C 15,000 unless a case says otherwise.

* one site gives at most 5.95 < 11, so an expected 11 needs two sites both in
  January (11.89; January + February is 10.88 < 11): the cheapest pair A + C, 25,000;
* with A and C in one country that starts one site a month, only one of them can
  take January: A (the cheaper) + B, 30,000;
* an expected 10 lets the second site start in February (10.88 ≥ 10): with that
  capacity A + C again, 25,000, one in January and one in February;
* B's fee 5,000 but 2,000 a month while active: A 10,000, C 15,000, B 16,893.22
  (5,000 + 2,000 × 5.9466), so A + C is cheapest; a 2027Q1 grant budget of 20,000
  excludes it (both fees, 25,000, fall in Q1) and A + B (15,000 in Q1) wins at 26,893.22;
* 30 more subjects by D: all three in January expect 17.84; the count is Poisson(17.84),
  so the plan is impossible at 90 % and the answer says how many are missing.

With a confidence instead of a required mean (8 more subjects at 80 %) the months
matter too: see :func:`test_plan_at_a_confidence_picks_months_too`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer.activation import (
    ActivationProblem,
    candidate_pairs,
    month_starts,
    quarter_payments,
    solve_model,
)
from optimizer.activation_plan import law_sites, plan_activation
from optimizer.activation_probability import count_law

CUT, TARGET = dt.date(2026, 12, 31), dt.date(2027, 7, 1)
MONTH = 365.25 / 12
TAU_JAN, TAU_FEB = 181 / MONTH, 150 / MONTH
KNOWN = 1e9  # Gamma shape of a known rate


def problem(rows: list[tuple], remaining: int = 8, probability: float = 0.8,
            **options: object) -> ActivationProblem:
    """rows: site_id, country, startup fee, monthly cost (optional), rate (optional)."""
    frame = pd.DataFrame([{
        "site_id": r[0], "country": r[1], "startup_fee": Decimal(r[2]),
        "monthly_cost": Decimal(r[3] if len(r) > 3 else 0), "monitoring_cost": Decimal(0),
        "per_patient_cost": Decimal(0), "rate": r[4] if len(r) > 4 else 1.0,
        "shape": KNOWN, "never": 0.0, "earliest_month": "2027-01"} for r in rows])
    opened = options.pop("open_sites", pd.DataFrame(columns=["site_id", "rate", "shape"]))
    return ActivationProblem(frame, opened, CUT, TARGET, remaining, probability, "EUR",
                             **options)


ABC = [("A", "DE", 10_000), ("B", "FR", 20_000), ("C", "IT", 15_000)]


def chosen(problem_: ActivationProblem, required: float) -> pd.DataFrame:
    outcome = solve_model(candidate_pairs(problem_), problem_, required)
    assert outcome.status == "optimal"
    check_invariants(problem_, outcome.chosen, required)
    return outcome.chosen


def check_invariants(problem_: ActivationProblem, plan: pd.DataFrame, required: float) -> None:
    """Recomputed from the plan: each site once, not before its earliest month, the
    expected count from the calendar, start-ups per country-month within capacity."""
    assert plan["site_id"].is_unique
    earliest = problem_.candidates.set_index("site_id")["earliest_month"]
    assert (plan["month"] >= plan["site_id"].map(earliest)).all()
    starts = plan["month"].map(lambda m: dt.date.fromisoformat(f"{m}-01"))
    assert (starts > problem_.cut).all() and (starts < problem_.target_date).all()
    rate = plan["site_id"].map(problem_.candidates.set_index("site_id")["rate"])
    expected = sum(r * (problem_.target_date - s).days / MONTH
                   for r, s in zip(rate, starts, strict=True))
    assert expected >= required - 1e-6
    limits = {} if problem_.capacity is None else {
        (c, m): v for c, m, v in problem_.capacity.itertuples(index=False)}
    for (country, month), count in plan.groupby(["country", "month"]).size().items():
        assert count <= limits.get((country, month), problem_.default_capacity)


def test_calendar_and_exposure() -> None:
    months = month_starts(CUT, TARGET)
    assert list(months["month"]) == [f"2027-0{m}" for m in range(1, 7)]
    pairs = candidate_pairs(problem(ABC))
    jan = pairs[(pairs["site_id"] == "A") & (pairs["month"] == "2027-01")].iloc[0]
    assert jan["exposure"] == pytest.approx(TAU_JAN) and jan["cost"] == 10_000


def test_cheapest_pair_both_in_january() -> None:
    plan = chosen(problem(ABC), 11.0)
    assert sorted(plan["site_id"]) == ["A", "C"] and set(plan["month"]) == {"2027-01"}
    assert plan["cost"].sum() == pytest.approx(25_000)


def test_country_startup_capacity_changes_the_choice() -> None:
    one_a_month = problem([("A", "DE", 10_000), ("B", "FR", 20_000), ("C", "DE", 15_000)],
                          default_capacity=1)
    plan = chosen(one_a_month, 11.0)
    assert sorted(plan["site_id"]) == ["A", "B"] and set(plan["month"]) == {"2027-01"}
    assert plan["cost"].sum() == pytest.approx(30_000)
    later = chosen(one_a_month, 10.0)  # a February start is enough for 10
    assert sorted(later["site_id"]) == ["A", "C"]
    assert sorted(later["month"]) == ["2027-01", "2027-02"]
    assert later["cost"].sum() == pytest.approx(25_000)
    assert later["expected"].sum() == pytest.approx(TAU_JAN + TAU_FEB)


def test_capacity_table_overrides_the_default() -> None:
    table = pd.DataFrame({"country": ["DE"], "month": ["2027-01"], "capacity": [1]})
    plan = chosen(problem([("A", "DE", 10_000), ("B", "FR", 20_000), ("C", "DE", 15_000)],
                          capacity=table), 11.0)
    assert sorted(plan["site_id"]) == ["A", "B"]


def test_quarterly_grant_budget_excludes_the_expensive_site() -> None:
    rows = [("A", "DE", 10_000), ("B", "FR", 5_000, 2_000), ("C", "IT", 15_000)]
    free = chosen(problem(rows), 11.0)
    assert sorted(free["site_id"]) == ["A", "C"]
    budget = pd.DataFrame({"quarter": ["2027Q1", "2027Q2"], "budget": [20_000, 20_000]})
    capped = problem(rows, quarter_budget=budget)
    plan = chosen(capped, 11.0)
    assert sorted(plan["site_id"]) == ["A", "B"]
    assert plan["cost"].sum() == pytest.approx(15_000 + 2_000 * TAU_JAN)
    paid = quarter_payments(plan, capped).groupby("quarter")["payment"].sum()
    assert paid["2027Q1"] == pytest.approx(15_000)


def test_quarter_payments_split_per_patient_costs_by_days() -> None:
    """Fee 1,000 in the quarter the site starts (February: Q1), 100 per patient at 2 a
    month: Q1 holds 1 Feb - 1 Apr (59 days), Q2 1 Apr - D (91 days)."""
    one = problem([("S", "DE", 1_000, 0, 2.0)],
                  quarter_budget=pd.DataFrame({"quarter": ["2027Q1", "2027Q2", "2027Q3"],
                                               "budget": [1e9] * 3}))
    one.candidates["per_patient_cost"] = Decimal(100)
    pairs = candidate_pairs(one)
    paid = quarter_payments(pairs[pairs["month"] == "2027-02"], one).set_index("quarter")
    assert paid.loc["2027Q1", "payment"] == pytest.approx(1_000 + 100 * 2 * 59 / MONTH)
    assert paid.loc["2027Q2", "payment"] == pytest.approx(100 * 2 * 91 / MONTH)
    assert "2027Q3" not in paid.index


def test_plan_at_a_confidence_reports_exact_costs() -> None:
    """8 more at 80 %: one site (Poisson(5.95) ≥ 8: 25 %) is not enough, any pair from
    January or February is (Poisson(9.86) ≥ 8: 77 % is not, 10.88: 84 % is); the
    cheapest pair is A + C at 25,000.00."""
    result = plan_activation(problem(ABC))
    assert result.status == "optimal"
    assert sorted(result.plan["site_id"]) == ["A", "C"]
    assert result.cost["total"] == Decimal("25000.00") == result.plan["cost"].sum()
    assert result.cost["startup"] == Decimal("25000.00")
    mean = float(result.plan["expected_randomized"].sum())
    assert result.achieved_probability == pytest.approx(stats.poisson.sf(7, mean))
    assert result.achieved_probability >= 0.8 > stats.poisson.sf(7, 2 * TAU_FEB)
    assert result.expected_randomized == pytest.approx(mean)


def test_plan_at_a_confidence_picks_months_too() -> None:
    """B at 5,000 + 2,000 a month, 8 more at 80 %: A in January + B in February expect
    10.88 (P = 0.849) for 10,000 + 5,000 + 2,000 × 4.9281 = 24,856.26, less than A + C
    (25,000); B a month later expects 9.95 (P = 0.776 < 0.8). Checked against every
    plan (each site off or in one of the six months)."""
    rows = [("A", "DE", 10_000), ("B", "FR", 5_000, 2_000), ("C", "IT", 15_000)]
    result = plan_activation(problem(rows))
    plan = result.plan.set_index("site_id")["activation_month"].to_dict()
    assert plan == {"A": "2027-01", "B": "2027-02"}
    assert result.cost["site_monthly"] == Decimal("9856.26")
    assert result.cost["total"] == Decimal("24856.26") == result.plan["cost"].sum()
    assert all(isinstance(v, Decimal) for v in result.cost.values())
    months = [None, *(dt.date(2027, m, 1) for m in range(1, 7))]
    fee, monthly = {"A": 10_000, "B": 5_000, "C": 15_000}, {"A": 0, "B": 2_000, "C": 0}
    best = min(
        sum(fee[s] + monthly[s] * (TARGET - d).days / MONTH
            for s, d in zip("ABC", choice, strict=True) if d)
        for choice in itertools.product(months, repeat=3)
        if stats.poisson.sf(7, sum((TARGET - d).days / MONTH for d in choice if d)) >= 0.8)
    assert float(result.cost["total"]) == pytest.approx(best, abs=0.01)


def test_impossible_target_is_explained_with_the_missing_count() -> None:
    result = plan_activation(problem(ABC, remaining=30, probability=0.9))
    assert result.status == "infeasible"
    expected = 3 * TAU_JAN
    assert result.expected_randomized == pytest.approx(expected)
    assured = max(n for n in range(31) if stats.poisson.sf(n - 1, expected) >= 0.9)
    text = "\n".join(result.explanation)
    assert f"{expected:.1f} more randomizations are expected" in text
    assert f"{30 - expected:.1f} missing on average" in text
    assert f"only {assured} of the 30" in text and f"{30 - assured} missing" in text
    assert f"{stats.poisson.sf(29, expected):.1%}" in text
    day = dt.date.fromisoformat(text.split("by ")[-1].split(" ")[0])
    reach = lambda d: stats.poisson.sf(29, 3 * (d - dt.date(2027, 1, 1)).days / MONTH)  # noqa: E731
    assert reach(day) >= 0.9 > reach(day - dt.timedelta(days=1))
    assert "HiGHS" not in text and "infeasible" not in text


def test_open_sites_alone_need_no_plan() -> None:
    opened = pd.DataFrame({"site_id": ["X"], "rate": [3.0], "shape": [KNOWN]})
    result = plan_activation(problem(ABC, remaining=8, open_sites=opened))
    assert result.status == "not_needed" and result.plan.empty
    assert result.cost["total"] == 0
    assert result.achieved_probability == pytest.approx(stats.poisson.sf(7, 3 * 182 / MONTH))


def test_count_law_has_the_mixture_moments() -> None:
    """Mean Σ m_i(1 − q_i), variance Σ of each site's μ + Var(λ)τ² (with never-enroll q)."""
    sites = pd.DataFrame({"shape": [0.8, 2.0, 2.0, 5.0], "mean": [3.0, 4.0, 4.0, 1.5],
                          "never": [0.0, 0.2, 0.2, 0.0]})
    law = count_law(sites, 400)
    k = np.arange(400)
    assert law.sum() == pytest.approx(1.0, abs=1e-9)
    q, m, a = sites["never"], sites["mean"], sites["shape"]
    mean = float(((1 - q) * m).sum())
    second = (1 - q) * (m + m**2 / a + m**2)  # E[N_i²] of a site
    variance = float((second - ((1 - q) * m) ** 2).sum())
    assert (k * law).sum() == pytest.approx(mean, rel=1e-9)
    assert ((k - mean) ** 2 * law).sum() == pytest.approx(variance, rel=1e-7)


def test_achieved_probability_holds_in_an_independent_simulation() -> None:
    """Uncertain rates (Gamma shapes 1.5), a never-enroll share, open sites: the plan's
    P(N ≥ R) recomputed by a plain Monte Carlo loop is at least p (within noise)."""
    rng = np.random.default_rng(42)
    rows = [(f"S{i}", ("DE", "FR", "PL")[i % 3], 5_000 + 1_000 * (i % 4), 300 * (i % 3),
             0.4 + 0.1 * (i % 5)) for i in range(12)]
    base = problem(rows, remaining=25, probability=0.8, default_capacity=1,
                   open_sites=pd.DataFrame({"site_id": ["O1", "O2"], "rate": [0.9, 0.6],
                                            "shape": [6.0, 3.5]}))
    base.candidates["shape"] = 1.5
    base.candidates["never"] = 0.1
    result = plan_activation(base)
    assert result.status == "optimal" and result.achieved_probability >= 0.8
    pairs = candidate_pairs(base)
    plan = pairs.merge(result.plan[["site_id", "activation_month"]],
                       left_on=["site_id", "month"], right_on=["site_id", "activation_month"])
    check_invariants(base, plan, result.required_expected - base.open_expected)
    sims = 40_000  # each site's count drawn for every simulation at once
    total = np.zeros(sims)
    for row in base.open_sites.itertuples():
        rates = rng.gamma(row.shape, row.rate / row.shape, sims)
        total += rng.poisson(rates * base.horizon)
    for row in plan.itertuples():
        enrolls = rng.random(sims) >= row.never
        rates = rng.gamma(row.shape, row.rate / (1 - row.never) / row.shape, sims)
        total += enrolls * rng.poisson(rates * row.exposure)
    hits = int((total >= 25).sum())
    simulated = hits / sims
    assert simulated >= 0.8 - 0.015
    assert simulated == pytest.approx(result.achieved_probability, abs=0.015)
    assert law_sites(base, plan)["mean"].sum() > 0
