"""Benchmark: time-to-target simulations for a 500-site study with staggered openings.

Compares planner.recruitment.simulate.time_to_target (all simulations at once)
with a straightforward loop that simulates one trial at a time, and prints the
ratio. Target (issue 3): 10,000 simulations of a 500-site study <= 1 s.

    .venv/bin/python benchmarks/forecast_sims.py [--sites 500] [--sims 10000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.recruitment.simulate import time_to_target  # noqa: E402

TARGET_SECONDS = 1.0


def loop_baseline(shape: np.ndarray, rate: np.ndarray, opens: np.ndarray, remaining: int,
                  sims: int, rng: np.random.Generator) -> np.ndarray:
    """One simulated trial at a time: draw rates and the arrival, walk the openings."""
    order = np.argsort(opens)
    out = np.empty(sims)
    for n in range(sims):
        lam = rng.gamma(shape[order], 1.0 / rate[order])
        need = rng.gamma(remaining, 1.0)
        count, total, when = 0.0, 0.0, opens[order][0]
        for j, start in enumerate(opens[order]):
            if total > 0 and count + total * (start - when) >= need:
                break
            count += total * (start - when)
            when = start
            total += lam[j]
        out[n] = when + (need - count) / total
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--sims", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    opens = np.sort(rng.uniform(0, 9, args.sites))  # openings over nine months
    shape, rate = np.full(args.sites, 1.5), np.full(args.sites, 3.75)
    remaining = int(0.4 * args.sites * 12)

    start = time.perf_counter()
    fast = time_to_target(shape, rate, opens, remaining, args.sims, np.random.default_rng(1))
    vectorized = time.perf_counter() - start
    loop_sims = min(args.sims, 1_000)
    start = time.perf_counter()
    slow = loop_baseline(shape, rate, opens, remaining, loop_sims, np.random.default_rng(1))
    per_sim_loop = (time.perf_counter() - start) / loop_sims * args.sims

    print(f"{args.sites} sites opening over 9 months, {remaining} subjects to go, "
          f"{args.sims:,} simulations")
    print(f"{'method':<34}{'seconds':>10}{'ratio':>9}  target")
    print(f"{'per-simulation Python loop':<34}{per_sim_loop:>10.2f}{1.0:>9.1f}  "
          f"(timed on {loop_sims:,} sims, scaled)")
    verdict = "PASS" if vectorized <= TARGET_SECONDS else "FAIL"
    print(f"{'time_to_target (vectorized)':<34}{vectorized:>10.3f}"
          f"{per_sim_loop / vectorized:>8.0f}x  <= {TARGET_SECONDS:g} s {verdict}")
    print(f"median months: vectorized {np.median(fast):.2f}, loop {np.median(slow):.2f}")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}")


if __name__ == "__main__":
    main()
