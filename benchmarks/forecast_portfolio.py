"""Benchmark: recruitment forecast of every study of a 200-study portfolio (target <= 30 s).

Builds N synthetic studies (``planner.recruitment.synthetic``, kinds in turn,
each cut at a random 20-80 % of its target, fixed seed) and times, per study,
``history_at`` + ``forecast_recruitment`` with the automatic model at --sims
simulations (default 10,000):

* in memory: the N studies as one portfolio (frames concatenated);
* from a store: the same studies imported with the real importers into a new
  SQLite file (studies and sites tables, then one SDTM DM per study; not
  timed), then ``load_portfolio`` + the same forecasts, timed; the forecasts
  must equal the in-memory ones (same histories, same seeds).

Baseline: a straightforward loop that simulates one trial at a time (draw the
hyper-parameters, each site's rate, closures; walk the openings to each
milestone), timed on a few studies and a few simulations, scaled to the
portfolio like benchmarks/forecast_sims.py does.

    .venv/bin/python benchmarks/forecast_portfolio.py [--studies 200] [--sims 10000]
        [--seed 0] [--baseline-studies 10] [--baseline-sims 200] [--no-store]

Exit status 0 when it ran (a missed target prints FAIL), 2 when the store's
forecasts differ from the in-memory ones.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from machine_info import machine, warning_summary  # noqa: E402

from planner.frames import Portfolio, load_portfolio  # noqa: E402
from planner.importing.run import import_files  # noqa: E402
from planner.recruitment.evidence import evidence_of  # noqa: E402
from planner.recruitment.forecast import (  # noqa: E402
    RecruitmentForecast,
    forecast_recruitment,
)
from planner.recruitment.history import RecruitmentHistory, history_at  # noqa: E402
from planner.recruitment.simulate import decay_clock, from_decay_clock  # noqa: E402
from planner.recruitment.synthetic import KINDS, SyntheticTrial, synthetic_trial  # noqa: E402
from planner.store import make_engine, transaction, upgrade  # noqa: E402

TARGET_SECONDS = 30.0
SHORT = {"poisson_gamma_plug_in": "plug-in", "poisson_gamma": "PG",
         "declining_poisson_gamma": "declining", "averaged_poisson_gamma": "averaged"}


@dataclass(frozen=True)
class Study:
    trial: SyntheticTrial
    share: float
    cut: object  # datetime.date
    seed: int

    @property
    def study_id(self) -> str:
        return self.trial.study_id


@dataclass
class Run:
    """Per-study seconds and results of one pass over the portfolio."""

    history: list[float]
    fit: list[float]
    simulate: list[float]
    total: list[float]
    forecasts: list[RecruitmentForecast]
    load: float = 0.0

    @property
    def seconds(self) -> float:
        return self.load + sum(self.total)




# --------------------------------------------------------------------------- data


def build(count: int, seed: int) -> tuple[list[Study], Portfolio]:
    """``count`` synthetic studies cut at 20-80 % of target, and all of them as one portfolio."""
    rng = np.random.default_rng(seed)
    studies, frames = [], []
    for i in range(count):
        trial = synthetic_trial(KINDS[i % len(KINDS)], rng, f"PF-{i:03d}")
        share = float(rng.uniform(0.2, 0.8))
        cut = trial.cut_at_share(share)
        studies.append(Study(trial, share, cut, seed + i))
        frames.append(trial.portfolio_at(cut))
    empty = frames[0]
    portfolio = Portfolio(**{
        name: (pd.concat([getattr(f, name) for f in frames], ignore_index=True)
               if name in ("studies", "sites", "subjects") else getattr(empty, name))
        for name in Portfolio.__dataclass_fields__})
    return studies, portfolio


def write_store(url: str, workdir: Path, studies: list[Study], portfolio: Portfolio) -> float:
    """Import the portfolio with the real importers: studies, sites, then DM per study."""
    start = time.perf_counter()
    table = portfolio.studies.copy()
    table["sponsor"] = "synthetic"
    table["therapeutic_area"] = "synthetic"
    table.to_csv(workdir / "studies.csv", index=False, columns=[
        "study_id", "sponsor", "phase", "therapeutic_area", "target_randomized", "currency",
        "treatment_weeks", "title", "planned_sf_rate", "dropout_rate", "followup_weeks"])
    sites = portfolio.sites.copy()
    for column in ("planned_activation", "actual_activation"):
        sites[column] = sites[column].dt.strftime("%Y-%m-%d")
    sites.to_csv(workdir / "sites.csv", index=False, columns=[
        "study_id", "site_id", "country", "investigator", "status", "planned_activation",
        "actual_activation", "target_randomized", "cra_id"])
    subjects = portfolio.subjects
    country = portfolio.sites.set_index(["study_id", "site_id"])["country"]
    dm_files = []
    for study in studies:
        rows = subjects[subjects["study_id"] == study.study_id]
        day = rows["randomized"].dt.strftime("%Y-%m-%d").to_numpy()
        dm = pd.DataFrame({
            "STUDYID": study.study_id, "DOMAIN": "DM", "USUBJID": rows["subject_id"].to_numpy(),
            "SITEID": rows["site_id"].to_numpy(), "ARMCD": "A", "ARM": "Active",
            "COUNTRY": country.reindex(pd.MultiIndex.from_arrays(
                [rows["study_id"], rows["site_id"]])).to_numpy(),
            "RFSTDTC": day, "RFICDTC": day, "DMDTC": day})
        path = workdir / f"dm_{study.study_id}.csv"
        dm.to_csv(path, index=False)
        dm_files.append(path)
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine, "bench") as session:
        import_files(session, "studies", [workdir / "studies.csv"], "bench")
        import_files(session, "sites", [workdir / "sites.csv"], "bench")
        for path in dm_files:
            import_files(session, "sdtm", [path], "bench")
    engine.dispose()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- timing


def forecast_all(portfolio: Portfolio, studies: list[Study], sims: int) -> Run:
    run = Run([], [], [], [], [])
    for study in studies:
        start = time.perf_counter()
        history = history_at(portfolio, study.study_id, study.cut)
        built = time.perf_counter()
        forecast = forecast_recruitment(history, sims, study.seed)
        done = time.perf_counter()
        run.history.append(built - start)
        run.fit.append(forecast.timings["fit_seconds"])
        run.simulate.append(forecast.timings["simulate_seconds"])
        run.total.append(done - start)
        run.forecasts.append(forecast)
    return run


def from_store(url: str, studies: list[Study], sims: int) -> Run:
    engine = make_engine(url)
    start = time.perf_counter()
    with transaction(engine, "bench") as session:
        portfolio = load_portfolio(session)
    load = time.perf_counter() - start
    engine.dispose()
    run = forecast_all(portfolio, studies, sims)
    run.load = load
    return run


def loop_forecast(history: RecruitmentHistory, forecast: RecruitmentForecast, sims: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Baseline: one simulated trial at a time, with the vectorized forecast's fits.

    Per simulation: (α, β, δ) from the fit, each site's rate from Gamma(α+k, β+E(δ))
    (a site not open yet fails start-up with the never-enroll share), a closure
    time per site when sites have closed, then walk the openings and closures in
    order on the decline clock until each milestone's Gamma(R, 1) need is met.
    """
    evidence = evidence_of(history)
    sites = history.sites
    opens = sites["opens"].to_numpy(float)
    closed = sites["closed"].to_numpy(bool)
    counts = evidence.counts
    closed_total = int(closed.sum())
    exposure_total = float(sites["exposure"].sum())
    remaining = [max(n - history.randomized, 0) for _, n in forecast.milestones]
    steps = np.diff([0, *remaining])
    out = np.empty((sims, len(steps)))
    for n in range(sims):
        fit = forecast.fits[n * len(forecast.fits) // sims]
        alpha, beta, delta = (float(v[0]) for v in fit.draw(1, rng))
        exposure = evidence.exposure(delta)
        hazard = rng.gamma(closed_total + 0.5) / exposure_total if closed_total else 0.0
        events = []
        for i in range(len(opens)):
            if closed[i] or (opens[i] > 0 and rng.random() < forecast.never_enroll):
                continue
            rate = rng.gamma(alpha + counts[i]) / (beta + exposure[i])
            events.append((opens[i], rate))
            if hazard:
                events.append((opens[i] + rng.exponential() / hazard, -rate))
        events.sort()
        times = np.array([t for t, _ in events])
        clock = decay_clock(times, delta) if delta > 0 else times
        need = count = total = 0.0
        when, j = clock[0], 0
        for m, step in enumerate(steps):
            if remaining[m] == 0:
                out[n, m] = 0.0
                continue
            need += rng.gamma(step)
            while j < len(events) and (total <= 0 or count + total * (clock[j] - when) < need):
                count += total * (clock[j] - when)
                when = clock[j]
                total += events[j][1]
                j += 1
            out[n, m] = when + (need - count) / total if total > 0 else math.inf
        if delta > 0:
            out[n] = np.where(out[n] > 0, from_decay_clock(out[n], delta), 0.0)
    return out


# --------------------------------------------------------------------------- report


def months_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| in months; inf when one forecast never reaches a milestone the other does."""
    if not np.array_equal(np.isinf(a), np.isinf(b)):
        return math.inf
    finite = np.isfinite(a)
    return float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))


def breakdown(name: str, run: Run, count: int) -> None:
    total = run.seconds
    other = sum(run.total) - sum(run.history) - sum(run.fit) - sum(run.simulate)
    rows = [("load_portfolio (all studies)", run.load, None) if run.load else None,
            ("history_at", sum(run.history), run.history),
            ("fit + model selection", sum(run.fit), run.fit),
            ("simulation", sum(run.simulate), run.simulate),
            ("other (result assembly)", other, None)]
    print(f"{name}")
    for row in rows:
        if row is None:
            continue
        label, seconds, per = row
        spread = (f"{np.mean(per) * 1000:>9.1f}{np.max(per) * 1000:>9.1f}" if per
                  else " " * 18)
        print(f"  {label:<30}{seconds:>9.2f}{seconds / total:>8.1%}{spread}")
    print(f"  {'total':<30}{total:>9.2f}{1:>8.0%}{np.mean(run.total) * 1000:>9.1f}"
          f"{np.max(run.total) * 1000:>9.1f}   ({count} studies)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-studies", type=int, default=10)
    parser.add_argument("--baseline-sims", type=int, default=200)
    parser.add_argument("--no-store", action="store_true", help="skip the SQLite store pass")
    args = parser.parse_args()

    studies, portfolio = build(args.studies, args.seed)
    forecast_all(portfolio, studies[:1], 100)  # warm-up: first calls, lazy imports
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        memory = forecast_all(portfolio, studies, args.sims)

    site_counts = np.array([len(f.history.sites) for f in memory.forecasts])
    still = np.array([f.history.remaining for f in memory.forecasts])
    chosen = pd.Series([SHORT[f.model.value] for f in memory.forecasts]).value_counts()
    print(f"{args.studies} synthetic studies ({', '.join(KINDS)} in turn), each cut at "
          f"20-80 % of its target; automatic model, {args.sims:,} simulations each, "
          f"seed {args.seed}")
    print(f"sites per study: median {np.median(site_counts):.0f}, max {site_counts.max()}; "
          f"subjects still to randomize: median {np.median(still):.0f}, max {still.max()}; "
          "models chosen: " + ", ".join(f"{k} {v}" for k, v in chosen.items()))

    never = [f.history.study_id for f in memory.forecasts if np.isinf(f.lpi_months()).any()]
    p90_never = [f.history.study_id for f in memory.forecasts
                 if np.isinf(np.quantile(f.lpi_months(), 0.9, method="inverted_cdf"))]
    print(f"LPI never reached (beyond 50 years) in some simulations of {len(never)} studies; "
          f"LPI P90 never in {len(p90_never)}" + (f" ({', '.join(p90_never)})" if p90_never
                                                  else ""))

    store, setup, mismatch = None, None, None
    if not args.no_store:
        with tempfile.TemporaryDirectory(prefix="tp_portfolio_") as workdir:
            url = f"sqlite:///{Path(workdir) / 'store.db'}"
            setup = write_store(url, Path(workdir), studies, portfolio)
            with warnings.catch_warnings():  # the same forecasts again: reported above
                warnings.simplefilter("ignore", RuntimeWarning)
                store = from_store(url, studies, args.sims)
        mismatch = max(months_difference(a.months, b.months)
                       for a, b in zip(memory.forecasts, store.forecasts, strict=True))

    k = min(args.baseline_studies, args.studies)
    loop_rng = np.random.default_rng(args.seed)
    loop_seconds, medians = 0.0, []
    for forecast, history_s, fit_s in zip(memory.forecasts[:k], memory.history, memory.fit,
                                          strict=False):
        with warnings.catch_warnings():  # the same draws as above: reported there
            warnings.simplefilter("ignore", RuntimeWarning)
            start = time.perf_counter()
            months = loop_forecast(forecast.history, forecast, args.baseline_sims, loop_rng)
            per_sim = (time.perf_counter() - start) / args.baseline_sims
        loop_seconds += history_s + fit_s + per_sim * args.sims
        medians.append((np.median(months[:, -1]), np.median(forecast.lpi_months())))
    vectorized_k = sum(memory.total[:k])
    loop_total = memory.seconds * loop_seconds / vectorized_k

    print()
    print(f"{'where the time goes':<32}{'seconds':>9}{'share':>8}{'mean ms':>9}{'max ms':>9}")
    breakdown("in memory (one portfolio of all studies)", memory, args.studies)
    if store is not None:
        breakdown("from a SQLite store (load_portfolio, then the same)", store, args.studies)

    print()
    print(f"{'method':<44}{'seconds':>9}{'ratio':>9}  target")
    print(f"{'per-simulation Python loop (scaled)':<44}{loop_total:>9.1f}{1.0:>9.1f}  "
          f"(timed on {k} studies x {args.baseline_sims} sims, scaled to "
          f"{args.studies} x {args.sims:,})")
    for label, run in (("vectorized, in memory", memory), ("vectorized, from SQLite store", store)):
        if run is None:
            continue
        verdict = "PASS" if run.seconds <= TARGET_SECONDS else "FAIL"
        print(f"{label:<44}{run.seconds:>9.2f}{loop_total / run.seconds:>8.0f}x  "
              f"<= {TARGET_SECONDS:g} s {verdict} ({run.seconds / TARGET_SECONDS:.2f} of target)")
    drift = np.mean([abs(a - b) / b for a, b in medians if np.isfinite(a) and np.isfinite(b)])
    print(f"loop check: median LPI of the loop vs vectorized on those {k} studies differs by "
          f"{drift:.1%} on average ({args.baseline_sims} loop simulations)")
    if store is not None:
        print(f"store: built with the real importers in {setup:.1f} s (not timed above: studies, "
              f"sites, {args.studies} SDTM DM imports); forecasts equal to the in-memory ones: "
              f"max |difference| {mismatch:.2g} months")
    else:
        print("store: skipped (--no-store)")
    print(f"warnings raised inside planner (in-memory pass): {warning_summary(caught)}")
    versions = (f"SQLAlchemy {sqlalchemy.__version__}", f"SQLite {sqlite3.sqlite_version}")
    print(f"machine: {machine(*versions)}")
    return 2 if mismatch is not None and mismatch > 1e-9 else 0


if __name__ == "__main__":
    sys.exit(main())
