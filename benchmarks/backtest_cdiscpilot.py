"""Back-test: forecast the CDISC pilot's last randomization from its history at 25/50/75 %.

Imports the CDISC SDTM pilot (trialplan/data/cdiscpilot01: DM, DS, SV, TV, TS)
into a fresh temporary SQLite store with the real importer, loads the
portfolio, and runs ``planner.recruitment.backtest.backtest`` for CDISCPILOT01:
target 254 (everyone randomized; TS PLANSUB says 300, which was never reached),
sites opened at their first randomization, actual LPI 2014-09-02, cuts at the
dates 25 %, 50 % and 75 % of the target were randomized, models auto, plug-in,
Poisson-Gamma and declining.

The pilot's dates were shifted per subject for de-identification, so calendar
alignment across subjects is not real: the figures are tracked, not a gate.

    .venv/bin/python benchmarks/backtest_cdiscpilot.py [--sims 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from machine_info import machine  # noqa: E402

from planner.frames import load_portfolio  # noqa: E402
from planner.importing.run import import_files  # noqa: E402
from planner.recruitment.backtest import AUTO, backtest, cut_date  # noqa: E402
from planner.recruitment.history import history_at  # noqa: E402
from planner.recruitment.models import Model  # noqa: E402
from planner.store import make_engine, transaction, upgrade  # noqa: E402

PILOT = ROOT / "trialplan" / "data" / "cdiscpilot01"
FILES = [PILOT / f"{name}.xpt" for name in ("dm", "ds", "sv", "tv", "ts")]
STUDY_ID = "CDISCPILOT01"
TARGET = 254
ACTUAL_LPI = dt.date(2014, 9, 2)
CUTS = (0.25, 0.50, 0.75)
MODELS = (AUTO, Model.PLUG_IN, Model.POISSON_GAMMA, Model.DECLINING)
ACTIVATION = "first_randomization"
SHORT = {AUTO: "auto", Model.PLUG_IN.value: "plug-in", Model.POISSON_GAMMA.value: "PG",
         Model.DECLINING.value: "declining", Model.AVERAGED.value: "averaged"}



def load_pilot(workdir: Path):  # noqa: ANN201 - planner.frames.Portfolio
    """The pilot imported for real into a new SQLite store, loaded as a portfolio."""
    engine = make_engine(f"sqlite:///{workdir / 'store.db'}")
    upgrade(engine)
    try:
        with transaction(engine, "bench") as session:
            import_files(session, "sdtm", FILES, "bench")
        with transaction(engine, "bench") as session:
            return load_portfolio(session)
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--known-openings", action="store_true",
                        help="take sites that opened after the cut as planned to open then")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tp_pilot_") as workdir:
        portfolio = load_pilot(Path(workdir))
    loaded = time.perf_counter() - start
    studies = portfolio.studies["study_id"].astype(str).tolist()
    if studies != [STUDY_ID]:
        print(f"expected the one study {STUDY_ID}, the store has {studies}")
        return 2
    stored_target = int(portfolio.studies["target_randomized"].iloc[0])

    subjects = portfolio.subjects
    randomized = subjects.loc[subjects["randomized"].notna(), "randomized"].sort_values()
    last = randomized.iloc[-1].date()
    print(f"{STUDY_ID}: imported and loaded in {loaded:.2f} s (temporary SQLite store); "
          f"{len(subjects)} screened, {len(randomized)} randomized, "
          f"{portfolio.sites['site_id'].nunique()} sites")
    print(f"randomizations {randomized.iloc[0].date()} .. {last} (last in the data); "
          f"actual LPI used {ACTUAL_LPI}"
          + ("" if last == ACTUAL_LPI else "  ** differs from the last randomization **"))
    print(f"target {TARGET} (the store's target from TS PLANSUB is {stored_target}, never "
          f"reached); activation = {ACTIVATION}; known_openings = {args.known_openings}; "
          f"{args.sims:,} simulations, seed {args.seed}")

    start = time.perf_counter()
    table = backtest(portfolio, STUDY_ID, CUTS, ACTUAL_LPI, MODELS, args.sims, args.seed,
                     ACTIVATION, known_openings=args.known_openings, target=TARGET)
    elapsed = time.perf_counter() - start
    portfolio = dataclasses.replace(
        portfolio, studies=portfolio.studies.assign(target_randomized=TARGET))
    open_sites = {}
    for cut in CUTS:
        history = history_at(portfolio, STUDY_ID, cut_date(portfolio, STUDY_ID, cut, TARGET),
                             ACTIVATION, args.known_openings)
        opened = int((history.sites["opens"] == 0).sum())
        open_sites[f"{cut:.0%}"] = (opened, len(history.sites) - opened,
                                    history.unplanned_sites)

    print()
    header = (f"{'cut':<4} {'cut date':<10} {'rand.':>5} {'sites':>5}  {'model':<9} "
              f"{'selected':<9} {'P10':<10} {'P50':<10} {'P90':<10} {'actual':<10} "
              f"{'err P50 d':>9} {'PIT':>6}  {'in 80%':<6}")
    print(header)
    print("-" * len(header))
    previous = None
    for row in table.itertuples():
        sites, _, _ = open_sites[row.cut]
        first = row.cut != previous
        previous = row.cut
        cut_cols = (f"{row.cut:<4} {row.cut_date!s:<10} {row.randomized_at_cut:>5} {sites:>5}"
                    if first else " " * 27)
        print(f"{cut_cols}  {SHORT[row.model]:<9} {SHORT[row.selected]:<9} "
              f"{row.p10!s:<10} {row.p50!s:<10} {row.p90!s:<10} {row.actual!s:<10} "
              f"{row.error_days:>+9} {row.pit:>6.3f}  {'yes' if row.inside_80 else 'no':<6}")
    print()
    print(f"{'model':<10}{'mean |err| d':>13}{'× auto':>8}{'inside 80%':>12}{'mean PIT':>10}")
    errors = table.assign(abs_error=table["error_days"].abs()).groupby("model", sort=False)
    auto_error = errors["abs_error"].mean()[AUTO]
    for model, group in errors:
        mean_error = group["abs_error"].mean()
        print(f"{SHORT[model]:<10}{mean_error:>13.0f}{mean_error / auto_error:>8.2f}"
              f"{int(group['inside_80'].sum()):>8} of {len(group)}{group['pit'].mean():>10.3f}")
    print()
    print("sites = sites open at the cut (a site opens at its first randomization). Sites "
          "opening later: "
          + ", ".join(f"{cut}: {later} planned, {left} left out"
                      for cut, (_, later, left) in open_sites.items()))
    print("(left out: unknown to the forecast, as the pilot has no site plan; "
          "--known-openings plans them when they opened).")
    print("err P50 d = forecast median minus actual LPI in days (negative: forecast too early);")
    print("PIT = share of simulations with LPI on or before the actual date (0.5 = centred).")
    print("NOTE: the pilot's dates were shifted per subject for de-identification, so the "
          "calendar order")
    print("of randomizations across subjects is not real. These figures are tracked from "
          "run to run,")
    print("not a pass/fail gate.")
    print(f"back-test time: {elapsed:.2f} s ({len(table)} forecasts)")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
