"""Calibration: do the recruitment models' 80 % LPI intervals hold 80 % of synthetic truths?

Draws N synthetic trials (``planner.recruitment.synthetic``, cycling through
its KINDS: constant, declining, late_opening, closures, never_enroll) from one
seeded generator, cuts each at the date it reached 50 % of its target, and
back-tests the LPI forecast of every model (the automatic choice, plug-in,
Poisson-Gamma with parameter uncertainty, declining) against the trial's known
LPI with ``planner.recruitment.backtest.backtest`` (the same P10/P50/P90, PIT
and inside-80 % as the CDISC pilot back-test).

A calibrated model has coverage 0.80 and mean PIT 0.50 (below: forecasts too
late; above: too early). The plug-in model ignores the uncertainty of its
fitted parameters, so its intervals are too narrow: its coverage falls short.

    .venv/bin/python benchmarks/recruitment_calibration.py [--trials 300] [--sims 2000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from machine_info import machine, warning_summary  # noqa: E402

from planner.recruitment.backtest import AUTO, backtest  # noqa: E402
from planner.recruitment.history import ForecastInputError  # noqa: E402
from planner.recruitment.models import Model  # noqa: E402
from planner.recruitment.synthetic import KINDS, synthetic_trial  # noqa: E402

MODELS = (AUTO, *(m for m in Model if m is not Model.AVERAGED))
SHORT = {AUTO: "auto", Model.PLUG_IN.value: "plug-in", Model.POISSON_GAMMA.value: "PG",
         Model.DECLINING.value: "declining", Model.AVERAGED.value: "averaged"}
BASELINE = Model.PLUG_IN.value
SHARE = 0.5




def run(trials: int, sims: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """One back-test row per trial and model, with the trial's kind and its LPI in days."""
    rng = np.random.default_rng(seed)
    frames, skipped = [], []
    for i in range(trials):
        kind = KINDS[i % len(KINDS)]
        trial = synthetic_trial(kind, rng, f"SYN-{i:04d}")
        cut = trial.cut_at_share(SHARE)
        try:
            rows = backtest(trial.portfolio_at(cut), trial.study_id, [cut], trial.lpi, MODELS,
                            sims, seed + i)
        except ForecastInputError as error:
            skipped.append(f"{trial.study_id} ({kind}): {error}")
            continue
        frames.append(rows.assign(kind=kind, truth_days=(trial.lpi - cut).days))
    return pd.concat(frames, ignore_index=True), skipped


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: coverage, tail shares, mean PIT, mean |error|, median interval width."""
    width = (pd.to_datetime(rows["p90"]) - pd.to_datetime(rows["p10"])).dt.days
    rows = rows.assign(abs_error=rows["error_days"].astype(float).abs(), width=width,
                       early=rows["pit"] > 0.9, late=rows["pit"] < 0.1)
    table = rows.groupby("model", sort=False).agg(
        n=("pit", "size"), coverage=("inside_80", "mean"), below_p10=("late", "mean"),
        above_p90=("early", "mean"), mean_pit=("pit", "mean"),
        mean_abs_error=("abs_error", "mean"), width=("width", "median"),
        p90_never=("p90", lambda p: int(p.isna().sum())))
    table["width_ratio"] = table["width"] / table.loc[BASELINE, "width"]
    return table


def print_table(title: str, table: pd.DataFrame) -> None:
    print(title)
    print(f"  {'model':<10}{'n':>5}{'cover 80%':>11}{'< P10':>7}{'> P90':>7}{'mean PIT':>10}"
          f"{'mean |err| d':>14}{'width d':>9}{'× plug-in':>11}{'P90 never':>11}")
    for model, row in table.iterrows():
        print(f"  {SHORT[model]:<10}{int(row['n']):>5}{row['coverage']:>11.3f}"
              f"{row['below_p10']:>7.3f}{row['above_p90']:>7.3f}{row['mean_pit']:>10.3f}"
              f"{row['mean_abs_error']:>14.0f}{row['width']:>9.0f}{row['width_ratio']:>11.2f}"
              f"{int(row['p90_never']):>11}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--sims", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows, skipped = run(args.trials, args.sims, args.seed)
    elapsed = time.perf_counter() - start
    forecasts = len(rows)
    kept = forecasts // len(MODELS)
    print(f"{args.trials} synthetic trials ({', '.join(KINDS)} in turn), cut at "
          f"{SHARE:.0%} of target, {args.sims:,} simulations each, seed {args.seed}; "
          f"{kept} back-tested, {len(skipped)} skipped")
    for line in skipped:
        print(f"  skipped {line}")
    print()
    print_table("all kinds", summary(rows))
    for kind in KINDS:
        print()
        print_table(kind, summary(rows[rows["kind"] == kind]))
    auto = rows[rows["model"] == AUTO]
    picks = auto.groupby("kind", sort=False)["selected"].value_counts().unstack(fill_value=0)
    picks = picks.rename(columns=SHORT).reindex(KINDS)
    print()
    print("automatic model's choice (trials):")
    print("  " + picks.to_string().replace("\n", "\n  "))
    print()
    se_all = math.sqrt(0.8 * 0.2 / max(kept, 1))
    se_kind = math.sqrt(0.8 * 0.2 / max(kept // len(KINDS), 1))
    print(f"cover 80% = share of trials whose actual LPI fell in [P10, P90] (target 0.80; "
          f"sampling s.e. {se_all:.3f} overall, {se_kind:.3f} per kind);")
    print("< P10 / > P90 = actual LPI earlier than P10 / later than P90 (0.10 each when "
          "calibrated); mean PIT 0.5 = centred;")
    print("mean |err| d = mean |P50 − actual LPI| in days; width d = median P90 − P10 in "
          "days; × plug-in = that width over the plug-in's.")
    print("P90 never = trials whose P90 is beyond the 50-year horizon (more than 10 % of the "
          "simulations never reach the target):")
    print("their width is left out of the median and the actual LPI always counts as inside "
          "[P10, P90], which flatters coverage.")
    print(f"elapsed: {elapsed:.1f} s for {forecasts:,} forecasts "
          f"({elapsed / max(forecasts, 1) * 1000:.0f} ms each, history and metrics included)")
    print(f"warnings raised inside planner: {warning_summary(caught)}")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
