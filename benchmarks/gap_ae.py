"""The issue-4 GAP benchmark: every OR-Library a–e instance (minimization) at one time limit.

    .venv/bin/python -m benchmarks.gap_ae [--time-limit 60] [--only REGEX] [--out FILE]
        [--baseline FILE] [--ratio-instance c801600] [--no-ratio]

Solves each instance of ../shared/data/orlib-gap/instances named ``<a-e><agents><jobs>``
with the benchmark path of ``benchmarks.gap`` (greedy + LP-guided search), printing
each row as it finishes and, at the end, a table with the deviation from the best
known value (bounds.tsv ``_Min``), the mean (target ≤ 0.5 %), the worst instances and
the share of model build + translation in the total time (target ≤ 20 %).
``--baseline`` takes the ``--json`` output of ``benchmarks.gap --no-warm-start`` (plain
HiGHS through Pyomo) and adds its deviation per instance. The Pyomo-vs-highspy ratio
builds the same model both ways (Pyomo ``build_model`` + translation by the persistent
HiGHS interface, against ``gap_arrays.highs_model`` from arrays) and solves a small
instance to optimality both ways.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from pyomo.contrib.solver.common.factory import SolverFactory

from benchmarks.gap import run
from benchmarks.machine_info import machine
from optimizer.assignment import build_model, solve_assignment
from optimizer.gap_arrays import from_problem, highs_model
from optimizer.orlib import as_problem, read_gap_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orlib-gap" / "instances"
NAME = re.compile(r"([a-e])(\d\d)(\d+)")


def instances(folder: Path, only: str | None) -> list[Path]:
    """The a–e single-instance files, smallest first (agents × jobs)."""
    found = [p for p in folder.iterdir() if NAME.fullmatch(p.name)
             and (only is None or re.search(only, p.name))]

    def size(path: Path) -> tuple[int, str]:
        _, agents, jobs = NAME.fullmatch(path.name).groups()
        return int(agents) * int(jobs), path.name

    return sorted(found, key=size)


def build_ratio(path: Path) -> dict:
    """Seconds to build the whole model of one instance: Pyomo (build, then translation
    into HiGHS by the persistent interface) and highspy from arrays."""
    problem = as_problem(read_gap_file(path)[0], "min")
    started = time.perf_counter()
    model = build_model(problem)
    built = time.perf_counter()
    SolverFactory("highs").set_instance(model)
    translated = time.perf_counter()
    g = from_problem(problem)
    highs_model(g, np.arange(len(g.cost)), np.arange(len(g.jobs)), g.capacity, True, None)
    direct = time.perf_counter() - translated
    return {"instance": path.name, "pyomo_build": built - started,
            "pyomo_translation": translated - built, "highspy_build": direct,
            "ratio": (translated - started) / direct}


def solve_ratio(path: Path) -> dict:
    """Build + solve to proven optimality of the same MIP: Pyomo + HiGHS against highspy."""
    problem = as_problem(read_gap_file(path)[0], "min")
    started = time.perf_counter()
    pyomo_value = solve_assignment(problem, time_limit=600, threads=1).objective
    middle = time.perf_counter()
    g = from_problem(problem)
    h = highs_model(g, np.arange(len(g.cost)), np.arange(len(g.jobs)), g.capacity, True, None)
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.run()
    direct = time.perf_counter() - middle
    return {"instance": path.name, "pyomo": middle - started, "highspy": direct,
            "ratio": (middle - started) / direct, "same_optimum":
            abs(h.getInfo().objective_function_value - pyomo_value) < 1e-6}


def report(rows: list[dict], baseline: dict[str, float]) -> None:
    print(f"\n{'instance':<10}{'objective':>10}{'bound':>11}  {'status':<11}{'seconds':>8}"
          f"{'build %':>8}{'dev %':>8}{'plain %':>9}")
    for r in rows:
        share = 100 * (r["build_seconds"] or 0) / max(r["seconds"], 1e-9)
        plain = baseline.get(r["instance"])
        print(f"{r['instance']:<10}{r['objective']:>10.0f}{r['bound']:>11.1f}  "
              f"{r['status'][:11]:<11}{r['seconds']:>8.1f}{share:>8.2f}"
              f"{r['deviation_pct']:>8.3f}{'-' if plain is None else f'{plain:.3f}':>9}")
    deviations = [r["deviation_pct"] for r in rows]
    print(f"\nmean deviation from best known: {np.mean(deviations):.3f} % over {len(rows)} "
          f"instances (target <= 0.5 %); optimal proven: "
          f"{sum(r['status'] == 'optimal' for r in rows)}")
    worst = sorted(rows, key=lambda r: -r["deviation_pct"])[:5]
    print("worst: " + ", ".join(f"{r['instance']} {r['deviation_pct']:.3f} %" for r in worst))
    total = sum(r["seconds"] for r in rows)
    build = sum(r["build_seconds"] or 0 for r in rows)
    print(f"build + translation: {build:.1f} s of {total:.1f} s = {100 * build / total:.2f} % "
          "(target <= 20 %)")
    both = [r for r in rows if r["instance"] in baseline]
    if both:
        print(f"plain Pyomo + HiGHS on the same {len(both)} instances: mean deviation "
              f"{np.mean([baseline[r['instance']] for r in both]):.3f} % against "
              f"{np.mean([r['deviation_pct'] for r in both]):.3f} %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DATA)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--only", help="regular expression on the instance names")
    parser.add_argument("--out", type=Path, help="write the rows (JSON) here as they come")
    parser.add_argument("--baseline", type=Path,
                        help="--json output of benchmarks.gap --no-warm-start")
    parser.add_argument("--ratio-instance", default="c801600")
    parser.add_argument("--solve-ratio-instance", default="c10200")
    parser.add_argument("--no-ratio", action="store_true")
    args = parser.parse_args()
    files = instances(args.folder, args.only)
    if not files:
        print(f"gap_ae: no a–e instances in {args.folder}", file=sys.stderr)
        return 2
    baseline = {}
    if args.baseline:
        baseline = {r["instance"]: r["deviation_pct"] for r in
                    json.loads(args.baseline.read_text()) if r["deviation_pct"] is not None}
    rows = []
    for path in files:
        rows += run([path], "min", args.time_limit, echo=True)
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1))
    report(rows, baseline)
    if not args.no_ratio:
        b = build_ratio(args.folder / args.ratio_instance)
        print(f"model build, {b['instance']}: Pyomo {b['pyomo_build']:.2f} s + translation "
              f"{b['pyomo_translation']:.2f} s against highspy from arrays "
              f"{b['highspy_build']:.3f} s: ratio {b['ratio']:.0f}")
        s = solve_ratio(args.folder / args.solve_ratio_instance)
        print(f"build + solve to optimality, {s['instance']}: Pyomo + HiGHS {s['pyomo']:.2f} s, "
              f"highspy {s['highspy']:.2f} s: ratio {s['ratio']:.2f} "
              f"(same optimum: {s['same_optimum']})")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
