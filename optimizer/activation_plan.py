"""The activation plan at a confidence p: raise the required expected count until the
plan's exact probability of reaching the target by D is at least p (docs/ACTIVATION.md).

1. If the open sites alone reach the target with probability p, nothing is needed.
2. The plan with the most expected randomizations (same constraints, max Σ r·τ·z)
   bounds what any plan can do: if even it stays below p, the target cannot be
   met; the answer says by how much and from which date it could be.
3. Solve for the cheapest plan with expected new randomizations μ₀ = R (mean on
   target). While its P(N ≥ R) < p: with A the count it reaches with probability p
   (the largest n with P(N ≥ n) ≥ p, A < R) set μ ← max(μ, plan's expected) + (R − A)
   and solve again. μ grows by at least one subject a step and step 2 caps it, so
   this ends; more mean brings more variance, so the p-quantile moves by a little
   less than the mean and it takes a few steps.
4. Bisect μ between the last failing and the first passing value (to 0.25 of a
   subject), keeping the cheapest plan that passes: its cost only falls as μ does.
P(N ≥ R) is not monotone in μ across different plans, so the result is the
cheapest plan found that meets p, not a proof that no cheaper plan does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from optimizer.activation import (
    ActivationPlan,
    ActivationProblem,
    SolveOutcome,
    candidate_pairs,
    plan_frame,
    solve_model,
)
from optimizer.activation_probability import (
    assured_count,
    count_law,
    law_assured,
    law_at_least,
    probability_at_least,
)
from planner.recruitment.history import DAYS_PER_MONTH

MAX_SOLVES = 40
TOLERANCE = 0.25  # subjects: stop bisecting the required mean below this
LATEST_SEARCH_MONTHS = 120  # the reachable date is looked for within ten years


def law_sites(problem: ActivationProblem, chosen: pd.DataFrame,
              target_date: dt.date | None = None) -> pd.DataFrame:
    """shape, mean, never of each open site and each chosen (site, month) pair: the input
    of :func:`optimizer.activation_probability.count_law`."""
    horizon = ((target_date or problem.target_date) - problem.cut).days / DAYS_PER_MONTH
    opened = pd.DataFrame({"shape": problem.open_sites["shape"].astype(float),
                           "mean": problem.open_sites["rate"].astype(float) * horizon,
                           "never": 0.0})
    never = chosen["never"].astype(float) if len(chosen) else pd.Series(dtype=float)
    planned = pd.DataFrame({"shape": chosen["shape"].astype(float),
                            "mean": chosen["expected"].astype(float) / (1.0 - never),
                            "never": never})
    return pd.concat([opened, planned], ignore_index=True)


def _result(problem: ActivationProblem, solve: SolveOutcome, status: str,
            required: float | None,
            chance: float, spent: list[float], iterations: list[dict],
            explanation: list[str] | None = None) -> ActivationPlan:
    plan, totals = plan_frame(solve.chosen, problem.currency)
    expected = problem.open_expected + float(solve.chosen["expected"].sum())
    return ActivationPlan(plan, totals, problem.currency, status, problem.remaining,
                          required, expected, problem.probability, chance, solve.gap,
                          spent[0], spent[1], iterations, explanation or [])


def plan_activation(problem: ActivationProblem, time_limit: float = 60.0,
                    accept_incumbent: bool = False) -> ActivationPlan:
    """The cheapest plan found whose P(new randomizations by D ≥ remaining) ≥ p."""
    pairs = candidate_pairs(problem)
    need, p = problem.remaining, problem.probability
    spent = [0.0, 0.0]
    iterations: list[dict] = []

    def solve(required: float | None) -> SolveOutcome:
        answer = solve_model(pairs, problem, required, time_limit, accept_incumbent)
        spent[0] += answer.build_seconds
        spent[1] += answer.solve_seconds
        return answer

    def chance(chosen: pd.DataFrame) -> float:
        return probability_at_least(law_sites(problem, chosen), need)

    nothing = SolveOutcome(pairs.iloc[:0], "optimal", 0.0, 0.0, 0.0)
    alone = chance(nothing.chosen)
    if alone >= p:
        return _result(problem, nothing, "not_needed", None, alone, spent, iterations)
    best = solve(None)
    best_chance = chance(best.chosen)
    if best_chance < p:
        return _result(problem, best, "infeasible", None, best_chance, spent, iterations,
                       explain_infeasible(problem, best, best_chance, time_limit,
                                          accept_incumbent))
    opened = problem.open_expected
    required = max(need - opened, 0.0)
    passed: tuple[float, SolveOutcome, float] | None = None
    failed: float | None = None
    while passed is None and len(iterations) < MAX_SOLVES:
        answer = solve(required)
        if answer.chosen is None:  # asks for more than any plan gives: the best plan passes
            passed = (required, best, best_chance)
            break
        law = count_law(law_sites(problem, answer.chosen), need)  # need ≥ 1 (else returned)
        reached = law_at_least(law)
        expected = float(answer.chosen["expected"].sum())
        iterations.append({"required": round(opened + required, 4),
                           "expected": round(opened + expected, 4),
                           "probability": round(reached, 6)})
        if reached >= p:
            passed = (required, answer, reached)
            break
        failed = required
        required = max(required, expected) + (need - law_assured(law, p))
    if passed is None:  # not expected: each step adds a subject and the best plan caps it
        passed = (required, best, best_chance)
    while failed is not None and passed[0] - failed > TOLERANCE and len(iterations) < MAX_SOLVES:
        middle = (failed + passed[0]) / 2
        answer = solve(middle)
        reached = chance(answer.chosen) if answer.chosen is not None else 0.0
        iterations.append({"required": round(opened + middle, 4),
                           "expected": round(opened + float(answer.chosen["expected"].sum()), 4)
                           if answer.chosen is not None else None,
                           "probability": round(reached, 6)})
        if answer.chosen is not None and reached >= p:
            if answer.chosen["cost"].sum() <= passed[1].chosen["cost"].sum() + 1e-9:
                passed = (middle, answer, reached)
            else:
                passed = (middle, passed[1], passed[2])
        else:
            failed = middle
    required, answer, reached = passed
    return _result(problem, answer, answer.status, opened + required, reached, spent,
                   iterations)


def _best_by(problem: ActivationProblem, day: dt.date, time_limit: float,
             accept_incumbent: bool) -> tuple[pd.DataFrame, float]:
    """The plan with the most expected randomizations by ``day`` and its probability."""
    moved = dataclasses.replace(problem, target_date=day)
    chosen = solve_model(candidate_pairs(moved), moved, None, time_limit,
                         accept_incumbent).chosen
    return chosen, probability_at_least(law_sites(moved, chosen, day), problem.remaining)


def earliest_reachable(problem: ActivationProblem, time_limit: float = 60.0,
                       accept_incumbent: bool = False) -> dt.date | None:
    """The first day by which some plan reaches the target with probability p (bisection
    on days, within ten years after the target date), None when not even then."""
    low, high = problem.target_date, problem.target_date + dt.timedelta(
        days=round(LATEST_SEARCH_MONTHS * DAYS_PER_MONTH))
    if _best_by(problem, high, time_limit, accept_incumbent)[1] < problem.probability:
        return None
    while (high - low).days > 1:
        middle = low + dt.timedelta(days=(high - low).days // 2)
        if _best_by(problem, middle, time_limit, accept_incumbent)[1] >= problem.probability:
            high = middle
        else:
            low = middle
    return high


def explain_infeasible(problem: ActivationProblem, best: SolveOutcome, chance: float,
                       time_limit: float = 60.0, accept_incumbent: bool = False) -> list[str]:
    """What is missing, in words: expected and assured counts of the best plan, the best
    probability, and the earliest date the target can be reached with probability p."""
    need, p = problem.remaining, problem.probability
    expected = problem.open_expected + float(best.chosen["expected"].sum())
    assured = assured_count(law_sites(problem, best.chosen), need, p)
    limits = "start-up capacity allows" if problem.quarter_budget is None else (
        "start-up capacity and the quarterly grant budgets allow")
    lines = [
        f"even with all {len(problem.candidates)} candidate sites activated as early as "
        f"the {limits} ({len(best.chosen)} can start before {problem.target_date}), "
        f"{expected:.1f} more randomizations are expected by {problem.target_date} of the "
        f"{need} still needed" + (f" ({need - expected:.1f} missing on average)"
                                  if expected < need else " (enough on average only)"),
        f"with probability {p:.0%} only {assured} of the {need} are randomized by then: "
        f"{need - assured} missing",
        f"the best probability of reaching the target by {problem.target_date} is "
        f"{chance:.1%} (asked {p:.0%})",
    ]
    day = earliest_reachable(problem, time_limit, accept_incumbent)
    lines.append(f"the target can be reached with probability {p:.0%} by {day} at the "
                 "earliest" if day else
                 f"the target cannot be reached with probability {p:.0%} within "
                 f"{LATEST_SEARCH_MONTHS // 12} years with these candidates")
    return lines
