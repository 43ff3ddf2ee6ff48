"""Solve OR-Library generalized assignment instances with the rebalancing machinery.

    .venv/bin/python -m benchmarks.gap FILE... [--sense min|max] [--time-limit S] [--json]

Each FILE is an OR-Library file in either layout (a multi-problem ``gapN``
file or a single instance such as ``d801600``). Prints, per instance, the
objective, the best bound, the status, the time (greedy start included) and
the deviation from the best-known value (tests/data/orlib-gap/bounds.tsv) when
there is one. HiGHS starts from the greedy assignment unless --no-warm-start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.machine_info import machine
from optimizer.assignment import AssignmentError, solve_assignment
from optimizer.greedy import greedy_assignment
from optimizer.orlib import InstanceFormatError, as_problem, read_bounds, read_gap_file

BOUNDS = Path(__file__).resolve().parents[1] / "tests" / "data" / "orlib-gap" / "bounds.tsv"


def best_known(bounds: dict, name: str, sense: str) -> float | None:
    low, high = bounds.get((name, sense), (None, None))
    if low is None:
        return None
    return high if sense == "min" else low  # the best solution known


def run(files: list[Path], sense: str, time_limit: float, warm_start: bool = True
        ) -> list[dict]:
    bounds = read_bounds(BOUNDS)
    rows = []
    for path in files:
        for instance in read_gap_file(path):
            started = time.perf_counter()
            problem = as_problem(instance, sense)
            start = greedy_assignment(problem) if warm_start else None
            try:
                result = solve_assignment(problem, time_limit=time_limit,
                                          accept_incumbent=True, start=start)
                objective, bound, status = result.objective, result.bound, result.status
            except AssignmentError as error:
                objective, bound, status = None, None, str(error)
            seconds = time.perf_counter() - started
            known = best_known(bounds, instance.name, sense)
            worse = None if known is None or objective is None else (
                objective - known if sense == "min" else known - objective)
            deviation = None if worse is None else 100.0 * worse / known + 0.0
            rows.append({"instance": instance.name, "objective": objective, "bound": bound,
                         "status": status, "seconds": round(seconds, 3),
                         "deviation_pct": None if deviation is None else round(deviation, 4)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--sense", choices=("min", "max"), default="min")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="plain HiGHS, without the greedy starting solution")
    args = parser.parse_args()
    try:
        rows = run(args.files, args.sense, args.time_limit, not args.no_warm_start)
    except (OSError, InstanceFormatError) as error:
        print(f"gap: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
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
