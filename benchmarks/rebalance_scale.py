"""CRA rebalancing at CRO scale: 2,000 CRAs × 20,000 sites × 12 months (issue 4).

    python -m benchmarks.rebalance_scale [--cras N] [--sites N] [--months N]
        [--time-limit S] [--gap G] [--seed K] [--skip-direct] [--parts] [--runs N]

A synthetic portfolio shaped like a large CRO's: CRAs spread over 20 countries
by trial volume, any CRA eligible for any site of its country (the US in two
territories) or, across a border, of a close country of its region whose
language it speaks (75 % speak English): about 10 % of all pairs. Sites are
where the CRAs are (about 64 % utilization on average), active for part of the
horizon, and the current assignment is skewed within teams of about 25 CRAs so
that about one CRA in three is over capacity in some month. Prints the
rebalancing's figures (status, proven gap, time split into build and solve,
overload removed, moves, subproblems) against the current assignment. Then, on
one team's model (25 CRAs and their sites, every pair eligible), it times
building it through Pyomo (build + translation into HiGHS) against building it
directly with highspy from numpy arrays (the product's own builder,
``optimizer.gap_arrays``).
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings

import numpy as np
import pandas as pd
from pyomo.common.gc_manager import PauseGC

from benchmarks.machine_info import machine, warning_summary
from optimizer.assignment import AssignmentProblem, build_model
from optimizer.gap_arrays import from_problem, highs_model
from optimizer.geography import country_places
from optimizer.highs_bridge import compile_model
from optimizer.rebalance import (
    RebalanceInputs,
    RebalanceOptions,
    RebalanceTimings,
    rebalance,
)
from optimizer.repair import repair_start

COUNTRIES = {"US": 24, "DE": 8, "GB": 6, "FR": 6, "ES": 6, "IT": 5, "PL": 5, "CA": 4,
             "JP": 5, "CN": 6, "KR": 3, "AU": 3, "BR": 4, "NL": 3, "BE": 3, "CZ": 2,
             "HU": 2, "IN": 4, "MX": 3, "AR": 2}
CRAS_PER_TEAM = 25
SPLIT_COUNTRIES = {"US"}  # two territories (east, west)
ENGLISH_SPEAKERS = 0.75
CAPACITY = 165.0 * 0.8


def synthetic(cras: int, sites: int, months: int, seed: int) -> RebalanceInputs:
    rng = np.random.default_rng(seed)
    weights = np.array(list(COUNTRIES.values()), dtype=float)
    codes = list(COUNTRIES)
    places = country_places()
    cra_country = rng.choice(codes, size=cras, p=weights / weights.sum())
    staff = pd.DataFrame({"staff_id": [f"C{i:05d}" for i in range(cras)],
                          "home_country": cra_country})
    english = rng.random(cras) < ENGLISH_SPEAKERS
    staff["languages"] = [sorted(places[c].languages | ({"en"} if e else set()))
                          for c, e in zip(cra_country, english, strict=True)]
    staff["territory"] = [f"{c}-{i % 2}" if c in SPLIT_COUNTRIES else None
                          for i, c in enumerate(cra_country)]
    # any CRA of a country (or territory) may take any of its sites; teams of about 25
    # are who handed sites out so far: the current assignment's history
    area = staff["territory"].fillna(staff["home_country"]).to_numpy()
    size = pd.Series(area).value_counts()
    team = np.array([f"{a}-{i % max(1, size[a] // CRAS_PER_TEAM)}"
                     for i, a in enumerate(area)])
    anchor = rng.integers(0, cras, size=sites)  # sites follow the CRAs
    table = pd.DataFrame({"study_id": [f"S{i % 400:03d}" for i in range(sites)],
                          "site_id": [f"{i:05d}" for i in range(sites)],
                          "country": cra_country[anchor],
                          "territory": staff["territory"].to_numpy()[anchor]})
    by_team = pd.Series(staff["staff_id"].to_numpy()).groupby(team).apply(list)
    owners = []
    for name in team[anchor]:  # skewed: the team's first CRAs hold more
        group = by_team[name]
        skew = 1.0 / np.arange(1, len(group) + 1) ** 0.35
        owners.append(group[rng.choice(len(group), p=skew / skew.sum())])
    table["cra"] = owners
    month_names = [str(p) for p in pd.period_range("2027-01", periods=months, freq="M")]
    start = rng.integers(-6, months, size=sites)
    length = rng.integers(6, 30, size=sites)
    level = rng.gamma(4.0, 3.3, size=sites)
    rows = []
    for t, name in enumerate(month_names):
        active = (t >= start) & (t < start + length)
        rows.append(pd.DataFrame({"study_id": table["study_id"][active],
                                  "site_id": table["site_id"][active], "month": name,
                                  "hours": np.round(level[active] * rng.uniform(
                                      0.8, 1.2, size=active.sum()), 1)}))
    hours = pd.concat(rows, ignore_index=True)
    trips = hours.groupby(["study_id", "site_id"])["hours"].sum().div(20).rename(
        "trips").reset_index()
    capacity = pd.DataFrame({"staff_id": np.repeat(staff["staff_id"], months),
                             "month": np.tile(month_names, cras), "capacity": CAPACITY})
    return RebalanceInputs(table, staff, hours, trips, capacity)


def overload_hours(inputs: RebalanceInputs, owner: pd.Series) -> float:
    held = inputs.hours.assign(staff_id=[owner.get((s, t)) for s, t in zip(
        inputs.hours["study_id"], inputs.hours["site_id"], strict=True)])
    used = held.groupby(["staff_id", "month"])["hours"].sum()
    cap = inputs.capacity.set_index(["staff_id", "month"])["capacity"]
    return float((used - cap.reindex(used.index)).clip(lower=0).sum())


def direct_highspy(problem: AssignmentProblem) -> float:
    """Seconds to build the same model directly in highspy from numpy arrays, as the
    product's own searches do (:func:`optimizer.gap_arrays.from_problem`, then
    :func:`optimizer.gap_arrays.highs_model` over every pair: x, overload, assignment and
    capacity rows, objective; no shedding rows, valid inequalities of the Pyomo model)."""
    started = time.perf_counter()
    g = from_problem(problem)
    highs_model(g, np.arange(len(g.cost)), np.arange(len(g.jobs)), g.capacity, True, None)
    return time.perf_counter() - started


def pyomo_build(problem: AssignmentProblem) -> tuple[float, float]:
    """Seconds to build the Pyomo model, and to translate it into HiGHS, as the product
    does (:func:`optimizer.assignment.build_for_highs`: :mod:`optimizer.linear_form`, with
    Python's cyclic collector paused)."""
    with PauseGC():
        started = time.perf_counter()
        model = build_model(problem)
        built = time.perf_counter()
        compile_model(model)
        return built - started, time.perf_counter() - built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cras", type=int, default=2_000)
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gap", type=float, default=0.005,
                        help="relative gap at which each subproblem stops")
    parser.add_argument("--skip-direct", action="store_true")
    parser.add_argument("--parts", action="store_true",
                        help="also print each subproblem's plan, bound and gap (last run)")
    parser.add_argument("--runs", type=int, default=1,
                        help="rebalance this many times (runs differ by a few tenths of "
                             "a point): each run's row, the median and range of the gap")
    args = parser.parse_args()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        inputs = synthetic(args.cras, args.sites, args.months, args.seed)
        generated = time.perf_counter() - started
        current = inputs.sites.set_index(["study_id", "site_id"])["cra"]
        before = overload_hours(inputs, current)
        runs = [_rebalanced(inputs, current, args) for _ in range(args.runs)]
        plan, total, after = runs[-1]
        over_cras = int((plan.utilization.groupby("staff_id")["before"].max() > 1).sum())
        subs = plan.subproblems
        print(f"machine: {machine()}")
        print(f"instance: {args.cras} CRAs × {args.sites} sites × {args.months} months "
              f"(seed {args.seed}; generated in {generated:.1f} s); {over_cras} CRAs over "
              f"capacity; scope: {plan.movable}; {len(subs)} subproblems, largest "
              f"{int(subs['sites'].max()) if len(subs) else 0} sites")
        print()
        print("| plan | overload hours | vs current | moves | objective | status | gap | "
              "build s | solve s | total s |")
        print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
        print(f"| current assignment | {before:,.0f} | 1.00 | 0 | | | | | | |")
        for number, (run, seconds, hours) in enumerate(runs, start=1):
            result = run.result
            name = "rebalance (this)" if len(runs) == 1 else f"rebalance, run {number}"
            print(f"| {name} | {hours:,.0f} | {hours / before if before else 0:.3f} | "
                  f"{len(run.moves)} | {result.objective:,.0f} | {result.status} | "
                  f"{result.gap:.3%} | {result.build_seconds:.1f} | "
                  f"{result.solve_seconds:.1f} | {seconds:.1f} |")
        for number, (run, seconds, _) in enumerate(runs, start=1):
            print(_time_split(run.timings, seconds, args.time_limit,
                              "" if len(runs) == 1 else f"run {number}: "))
        shares = [run.result.build_seconds / seconds for run, seconds, _ in runs]
        print(f"\nbuild share of total: {_spread(shares, '.1%')} (the rest: eligibility, "
              "repair start, solve, report)")
        if len(runs) > 1:
            print(f"proven gap over {len(runs)} runs: "
                  f"{_spread([run.result.gap for run, _, _ in runs], '.3%')}")
        if args.parts and len(subs):
            _print_parts(subs)
        if not args.skip_direct and len(subs):
            _compare_builders(inputs, plan)
    print(f"\nwarnings: {warning_summary(caught)}")


def _rebalanced(inputs: RebalanceInputs, current: pd.Series, args: argparse.Namespace
                ) -> tuple[object, float, float]:
    """One rebalance of the portfolio: the proposal, its seconds and the overload hours
    left after its moves."""
    gc.collect()  # the previous run's models (cycles) go before this one is timed
    started = time.perf_counter()
    plan = rebalance(inputs, RebalanceOptions(time_limit=args.time_limit, rel_gap=args.gap))
    total = time.perf_counter() - started
    after_owner = current.copy()
    for move in plan.moves.itertuples():
        after_owner[(move.study_id, move.site_id)] = move.to
    return plan, total, overload_hours(inputs, after_owner)


def _time_split(timings: RebalanceTimings, seconds: float, limit: float, label: str) -> str:
    """Where a run's time went; a run past the limit says by how much and where."""
    line = (f"{label}time split: set-up {timings.set_up:.2f} s, solve {timings.solve:.2f} s "
            f"(allowed {timings.solve_allowed:.2f} s), report {timings.report:.2f} s, "
            f"after the report {seconds - timings.total:.2f} s")
    if seconds <= limit:
        return line
    return line + (f"; OVER THE LIMIT by {seconds - limit:.2f} s, the solve "
                   f"{timings.solve - timings.solve_allowed:.2f} s past its allowance")


def _spread(values: list[float], spec: str) -> str:
    """One value, or the median and range of several."""
    if len(values) == 1:
        return format(values[0], spec)
    return (f"median {format(float(np.median(values)), spec)}, range "
            f"{format(min(values), spec)}–{format(max(values), spec)}")


def _print_parts(subs: pd.DataFrame) -> None:
    """Where the gap is: each subproblem's plan against its bound, largest gap first."""
    table = subs.assign(gap=subs["objective"] - subs["bound"]).sort_values(
        "gap", ascending=False, kind="stable")
    print("\n| part | sites | CRAs | status | objective | bound | gap | seconds |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in table.itertuples():
        print(f"| {r.component} | {r.sites} | {r.cras} | {r.status} | {r.objective:,.0f} | "
              f"{r.bound:,.0f} | {r.gap:,.0f} | {r.seconds:.1f} |")


def _compare_builders(inputs: RebalanceInputs, plan: object) -> None:
    """Pyomo vs direct highspy on one team's model: 25 CRAs of the largest country and
    the sites they hold, every pair eligible."""
    country = inputs.cras["home_country"].value_counts().index[0]
    cras = inputs.cras[inputs.cras["home_country"] == country].head(CRAS_PER_TEAM)
    part = inputs.sites[inputs.sites["cra"].isin(set(cras["staff_id"]))]
    territory = f"{country} ({len(cras)} CRAs' sites)"
    pairs = part[["study_id", "site_id", "cra"]].merge(
        cras[["staff_id"]], how="cross").rename(columns={"staff_id": "agent"})
    pairs["job"] = pairs["study_id"] + "/" + pairs["site_id"]
    pairs["move"] = pairs["agent"] != pairs["cra"]
    pairs["cost"] = pairs["move"] * 250.0
    hours = inputs.hours.assign(job=inputs.hours["study_id"] + "/" + inputs.hours["site_id"])
    load = pairs[["agent", "job"]].merge(hours[["job", "month", "hours"]], on="job").rename(
        columns={"month": "period", "hours": "amount"})
    capacity = inputs.capacity[inputs.capacity["staff_id"].isin(cras["staff_id"])].rename(
        columns={"staff_id": "agent", "month": "period"})
    problem = AssignmentProblem(pairs[["agent", "job", "cost", "move"]], load, capacity,
                                "min", 1000.0)
    current = part.assign(job=part["study_id"] + "/" + part["site_id"])[["job", "cra"]]
    started = time.perf_counter()
    repair_start(problem, current.rename(columns={"cra": "agent"}))
    repair = time.perf_counter() - started
    build, translate = pyomo_build(problem)
    direct = direct_highspy(problem)
    print(f"\nbuilders on {territory} ({len(part)} sites × {len(cras)} CRAs, every "
          f"pair eligible: {len(pairs):,} pairs, {len(load):,} load terms):")
    print("| builder | seconds | ratio to direct highspy |")
    print("|---|---:|---:|")
    print(f"| Pyomo build | {build:.2f} | {build / direct:.1f} |")
    print(f"| Pyomo → HiGHS translation | {translate:.2f} | {translate / direct:.1f} |")
    print(f"| Pyomo total | {build + translate:.2f} | {(build + translate) / direct:.1f} |")
    print(f"| direct highspy (numpy arrays, gap_arrays) | {direct:.2f} | 1.0 |")
    print(f"| greedy repair start | {repair:.2f} | {repair / direct:.1f} |")


if __name__ == "__main__":
    main()
