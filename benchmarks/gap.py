"""Solve OR-Library generalized assignment instances with the rebalancing machinery.

    .venv/bin/python -m benchmarks.gap FILE... [--sense min|max] [--time-limit S] [--json]
        [--method search|pyomo] [--no-warm-start]

Each FILE is an OR-Library file in either layout (a multi-problem ``gapN``
file or a single instance such as ``d801600``). Prints, per instance, the
objective, the best bound, the status, the time (greedy start included) and
the deviation from the best-known value (tests/data/orlib-gap/bounds.tsv) when
there is one. ``--method search`` (default): greedy + LP-guided neighbourhood
search with HiGHS sub-MIPs (optimizer.local_search.solve_gap_heuristic);
``pyomo``: HiGHS through Pyomo on the whole model from the greedy start, or
plain (the baseline) with --no-warm-start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.machine_info import machine
from optimizer.assignment import (
    AssignmentError,
    AssignmentProblem,
    AssignmentResult,
    solve_assignment,
)
from optimizer.greedy import greedy_assignment
from optimizer.local_search import solve_gap_heuristic
from optimizer.orlib import InstanceFormatError, as_problem, read_bounds, read_gap_file

BOUNDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "orlib-gap" / "bounds.tsv"


def best_known(bounds: dict, name: str, sense: str) -> float | None:
    low, high = bounds.get((name, sense), (None, None))
    if low is None:
        return None
    return high if sense == "min" else low  # the best solution known


def solve(problem: AssignmentProblem, time_limit: float, method: str = "search",
          warm_start: bool = True) -> AssignmentResult:
    """One instance by the chosen path (the result's build_seconds: model build and
    translation to HiGHS)."""
    if method == "search":
        return solve_gap_heuristic(problem, time_limit=time_limit, threads=1)
    start = greedy_assignment(problem) if warm_start else None
    return solve_assignment(problem, time_limit=time_limit, accept_incumbent=True,
                            start=start, threads=1)


def run(files: list[Path], sense: str, time_limit: float, warm_start: bool = True,
        method: str = "search", echo: bool = False) -> list[dict]:
    """One row per instance; also ``build_seconds`` (left out of --json). ``echo``
    prints each row as it finishes (long runs)."""
    bounds = read_bounds(BOUNDS)
    rows = []
    for path in files:
        for instance in read_gap_file(path):
            started = time.perf_counter()
            problem = as_problem(instance, sense)
            build = None
            try:
                result = solve(problem, time_limit, method, warm_start)
                objective, bound, status = result.objective, result.bound, result.status
                build = result.build_seconds
            except AssignmentError as error:
                objective, bound, status = None, None, str(error)
            seconds = time.perf_counter() - started
            known = best_known(bounds, instance.name, sense)
            worse = None if known is None or objective is None else (
                objective - known if sense == "min" else known - objective)
            deviation = None if worse is None else 100.0 * worse / known + 0.0
            rows.append({"instance": instance.name, "objective": objective, "bound": bound,
                         "status": status, "seconds": round(seconds, 3),
                         "deviation_pct": None if deviation is None else round(deviation, 4),
                         "build_seconds": build})
            if echo:
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--sense", choices=("min", "max"), default="min")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--method", choices=("search", "pyomo"), default="search",
                        help="search: greedy + LP-guided neighbourhood search (default); "
                        "pyomo: HiGHS through Pyomo on the whole model")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="plain HiGHS through Pyomo, without the greedy starting solution "
                        "(implies --method pyomo)")
    args = parser.parse_args()
    method = "pyomo" if args.no_warm_start else args.method
    try:
        rows = run(args.files, args.sense, args.time_limit, not args.no_warm_start, method)
    except (OSError, InstanceFormatError) as error:
        print(f"gap: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "build_seconds"} for r in rows],
                         indent=2))
        return 0
    print(f"{'instance':<12}{'objective':>12}{'bound':>12}  {'status':<12}{'seconds':>9}"
          f"{'dev %':>9}")
    for r in rows:
        objective = "-" if r["objective"] is None else f"{r['objective']:.0f}"
        bound = "-" if r["bound"] is None else f"{r['bound']:.1f}"
        deviation = "-" if r["deviation_pct"] is None else f"{r['deviation_pct']:.3f}"
        print(f"{r['instance']:<12}{objective:>12}{bound:>12}  {r['status'][:12]:<12}"
              f"{r['seconds']:>9.2f}{deviation:>9}")
    known = [r["deviation_pct"] for r in rows if r["deviation_pct"] is not None]
    if known:
        print(f"mean deviation from best known: {sum(known) / len(known):.3f} % "
              f"over {len(known)} instances; total {sum(r['seconds'] for r in rows):.1f} s")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
