"""Recruitment forecast, checked against independent truths.

* calibration: on synthetic trials with a known LPI the automatic model's 80 %
  interval holds about 80 % of the truths (the issue's acceptance criterion);
* the piecewise-linear clock solver against a root finder, closures included,
  and the declining-rate clock against numerical integration;
* forecast invariants: seeds, ordering, reached milestones, what-if sites under
  common random numbers, the closed form when every site is open;
* a study history that cannot support a forecast says why;
* model selection on strongly declining and on constant data, and the fitted
  decline against its true value;
* parameter uncertainty widens the interval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from planner.frames import SCHEMAS, SITES, STUDIES, SUBJECTS, Portfolio
from planner.recruitment.backtest import backtest
from planner.recruitment.evidence import evidence_of
from planner.recruitment.forecast import ExtraSites, forecast_recruitment
from planner.recruitment.history import ForecastInputError, RecruitmentHistory, history_at
from planner.recruitment.models import DELTA_PRIOR_SD, FittedModel, Model, fit_model
from planner.recruitment.poisson_gamma import ALPHA_CAP
from planner.recruitment.selection import select_model
from planner.recruitment.simulate import (
    closed_form_quantiles,
    decay_clock,
    from_decay_clock,
    solve_clock,
)
from planner.recruitment.synthetic import KINDS, synthetic_trial

DAYS_PER_MONTH = 365.25 / 12
START = dt.date(2022, 1, 3)
EMPTY = {schema.name: schema.conform(pd.DataFrame(columns=schema.names)) for schema in SCHEMAS}


# --- building blocks ----------------------------------------------------------------------


def _portfolio(sites: list[dict], subjects: list[dict], target: int = 100,
               study_id: str = "ST-1") -> Portfolio:
    """One study from plain rows. Site rows: site_id, status, activated, planned, country;
    subject rows: site_id, randomized (and screened, which defaults to randomized)."""
    site_frame = pd.DataFrame({
        "study_id": study_id,
        "site_id": [s["site_id"] for s in sites],
        "country": [s.get("country", "US") for s in sites],
        "investigator": None,
        "status": [s.get("status", "enrolling") for s in sites],
        "planned_activation": pd.to_datetime([s.get("planned", s.get("activated"))
                                              for s in sites]),
        "actual_activation": pd.to_datetime([s.get("activated") for s in sites]),
        "target_randomized": None, "cra_id": None,
    })
    subject_frame = pd.DataFrame({
        "study_id": study_id,
        "site_id": [s["site_id"] for s in subjects],
        "subject_id": [f"{study_id}-{i:05d}" for i in range(len(subjects))],
        "arm": None,
        "screened": pd.to_datetime([s.get("screened", s["randomized"]) for s in subjects]),
        "randomized": pd.to_datetime([s["randomized"] for s in subjects]),
        "screen_failed": pd.NaT, "discontinued": pd.NaT, "completed": pd.NaT,
        "disposition": None,
    })
    study = pd.DataFrame([{
        "study_id": study_id, "sponsor": "test", "title": "test", "phase": "III",
        "therapeutic_area": None, "target_randomized": target, "planned_sf_rate": 0.0,
        "dropout_rate": 0.0, "treatment_weeks": 12.0, "followup_weeks": 0.0,
        "currency": "USD"}])
    return Portfolio(**{**EMPTY, "studies": STUDIES.conform(study),
                        "sites": SITES.conform(site_frame),
                        "subjects": SUBJECTS.conform(subject_frame)})


def _day(months: float) -> dt.date:
    return START + dt.timedelta(days=int(np.floor(months * DAYS_PER_MONTH)))


def _declining_study(rng: np.random.Generator, delta: float, sites: int = 80,
                     months: float = 18.0, mean_rate: float = 0.6
                     ) -> tuple[Portfolio, dt.date, list[tuple[float, float]]]:
    """Sites open in the first two months; site i recruits at λ_i e^{−δ t} (t months from
    the start, λ_i ~ Gamma(2, mean/2)) until the cut ``months`` later. Returns the
    portfolio, the cut and each site's (opening, cut) window in months.

    Arrivals of an inhomogeneous Poisson process: the count over [o, T] is Poisson with
    mean λ (V(T) − V(o)), V(t) = (1 − e^{−δ t})/δ, and given the count the arrivals are
    uniform on the V scale (inverted here with the log directly)."""
    opens = rng.uniform(0.0, 2.0, sites)
    rates = rng.gamma(2.0, mean_rate / 2.0, sites)

    def clock(t: np.ndarray) -> np.ndarray:
        return t if delta == 0 else (1 - np.exp(-delta * t)) / delta

    counts = rng.poisson(rates * (clock(months) - clock(opens)))
    owner = np.repeat(np.arange(sites), counts)
    v = rng.uniform(clock(opens[owner]), clock(months))
    times = v if delta == 0 else -np.log1p(-delta * v) / delta
    site_rows = [{"site_id": f"{i + 1:03d}", "activated": _day(o)} for i, o in enumerate(opens)]
    subject_rows = [{"site_id": f"{s + 1:03d}", "randomized": _day(t)}
                    for s, t in zip(owner, times, strict=True)]
    cut = _day(months)
    windows = [(o, months) for o in opens]
    return _portfolio(site_rows, subject_rows, target=100_000), cut, windows


@pytest.fixture(scope="module")
def constant_history() -> RecruitmentHistory:
    """A constant-rate synthetic trial cut at 40 % of its target (so 25 % is reached), every
    site open, none closed."""
    trial = synthetic_trial("constant", np.random.default_rng(4), "CONST")
    cut = trial.cut_at_share(0.4)
    history = history_at(trial.portfolio_at(cut), trial.study_id, cut)
    assert (history.sites["opens"] == 0).all() and not history.sites["closed"].any()
    return history


@pytest.fixture(scope="module")
def closures_history() -> RecruitmentHistory:
    """A synthetic trial with early closures, some sites closed at the cut."""
    trial = synthetic_trial("closures", np.random.default_rng(8), "CLOSE")
    cut = trial.cut_at_share(0.5)
    history = history_at(trial.portfolio_at(cut), trial.study_id, cut)
    assert history.sites["closed"].any()
    return history


# --- 1. calibration -----------------------------------------------------------------------


CALIBRATION_TRIALS = 300  # the claim's precision: s.e. 0.023 of a calibrated 0.80
# Simulations per forecast: 250, not 1,000, at no cost to the claim. [P10, P90] is read as
# the 25th and 225th of the 250 sorted draws; a truth drawn from the forecast distribution
# falls between those with probability (225 − 25 + 1) / 251 = 0.801 (0.800 with 1,000), so
# each trial is still a Bernoulli(0.80) draw when the model is calibrated and the share
# over 300 trials still has s.e. 0.023: ± 0.08 stays 3.5 s.e. Fewer draws only jitter
# where the interval ends for a trial (the 10 % quantile's s.e. is 0.019 in probability),
# not the expected coverage, so a miscalibrated model misses just as before (the printed
# plug-in coverage, 0.58, is the same with 250 and 1,000). The trial count is kept.
CALIBRATION_SIMS = 250


def _inside_80(lpi_months: np.ndarray, truth_days: int) -> bool:
    """Is the truth in [P10, P90] of the simulated LPIs (inverted-cdf quantiles, by hand;
    a never-reached simulation is +inf)?"""
    ordered = np.sort(lpi_months * DAYS_PER_MONTH)
    n = len(ordered)
    return bool(ordered[math.ceil(0.1 * n) - 1] <= truth_days <= ordered[math.ceil(0.9 * n) - 1])


@pytest.mark.heavy(30)  # seconds on 2 slow cores; a parallel run starts it first
def test_calibration_automatic_model_covers_80_percent() -> None:
    """Issue acceptance: 300 synthetic trials cycling through every kind, cut the day half
    the target was randomized; the share whose actual LPI is in the automatic model's
    [P10, P90] is 0.80 ± 0.08 (sampling s.e. of a calibrated 0.80 over 300 trials is
    0.023, so ± 0.08 is about 3.5 s.e.). The plug-in model's coverage, known to be too
    narrow, is measured beside it: the same reading must catch it. Intervals are read off
    the forecasts here; the back-test's own row is checked against the same reading
    below."""
    rng = np.random.default_rng(2026)
    rows = []
    for i in range(CALIBRATION_TRIALS):
        kind = KINDS[i % len(KINDS)]
        trial = synthetic_trial(kind, rng, f"CAL-{i:04d}")
        cut = trial.cut_at_share(0.5)
        history = history_at(trial.portfolio_at(cut), trial.study_id, cut)
        truth = (trial.lpi - cut).days
        auto = forecast_recruitment(history, CALIBRATION_SIMS, seed=i)
        plug_in = forecast_recruitment(history, CALIBRATION_SIMS, seed=i, model=Model.PLUG_IN)
        rows.append((kind, auto.model.value, _inside_80(auto.lpi_months(), truth),
                     _inside_80(plug_in.lpi_months(), truth)))
    table = pd.DataFrame(rows, columns=["kind", "selected", "auto", "plug_in"])
    auto, plug_in = table["auto"].mean(), table["plug_in"].mean()
    by_kind = table.groupby("kind")[["auto", "plug_in"]].mean()
    print(f"\ncalibration, {CALIBRATION_TRIALS} trials cut at 50 %, {CALIBRATION_SIMS} sims: "
          f"coverage of [P10, P90]: automatic {auto:.3f}, plug-in {plug_in:.3f}")
    print("by kind (automatic / plug-in): " + ", ".join(
        f"{k} {r.auto:.3f}/{r.plug_in:.3f}" for k, r in by_kind.iterrows()))
    print("automatic picks: " + ", ".join(
        f"{k} {v}" for k, v in table["selected"].value_counts().items()))
    assert 0.72 <= auto <= 0.88
    # the same reading catches a miscalibrated model: the plug-in's too narrow intervals
    # (0.58 measured; s.e. 0.028, so 0.70 is 4 s.e. above it and 3.6 below 0.80)
    assert plug_in <= 0.70


def test_backtest_row_matches_the_forecast_it_reports() -> None:
    """P10/P50/P90 and the PIT of a back-test row, recomputed from forecast_recruitment
    with the same history, model and seed."""
    trial = synthetic_trial("late_opening", np.random.default_rng(3), "BT")
    cut = trial.cut_at_share(0.5)
    portfolio = trial.portfolio_at(cut)
    row = backtest(portfolio, trial.study_id, [cut], trial.lpi, models=(Model.PLUG_IN,),
                   sims=2_000, seed=11).iloc[0]
    history = history_at(portfolio, trial.study_id, cut)
    days = forecast_recruitment(history, 2_000, 11, Model.PLUG_IN).lpi_months() * DAYS_PER_MONTH
    ordered = np.sort(days)
    for column, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        value = ordered[math.ceil(p * len(ordered)) - 1]  # inverted cdf, by hand
        assert row[column] == cut + dt.timedelta(days=round(value))
    truth = (trial.lpi - cut).days
    assert row["cut_date"] == cut
    assert row["pit"] == pytest.approx(np.mean(days <= truth))
    assert row["error_days"] == round(ordered[999]) - truth
    assert row["inside_80"] == (ordered[199] <= truth <= ordered[1799])
    assert row["inside_80"] == _inside_80(days / DAYS_PER_MONTH, truth)
    assert row["randomized_at_cut"] == history.randomized


def test_regression_synthetic_view_at_a_share_cut_holds_that_share() -> None:
    """Regression. ``cut_at_share(s)`` is the calendar
    day (floored) of the ⌈s·target⌉-th arrival, but ``portfolio_at(cut)`` keeps arrivals
    with month ≤ (cut − START) / month length, i.e. before the *start* of that day, so
    the subjects randomized on the cut day itself (that arrival included) are missing,
    although their recorded date is the cut date and ``history_at`` counts a cut as
    inclusive. Here 261 of the 264 randomized by the cut day are in the view, and
    ``backtest(..., cuts=[0.5])`` on it raises "50% of target (263) was never reached".
    Sites activated on the cut day are likewise shown as not yet activated (planned that
    day, hence "overdue", opening a month later)."""
    trial = synthetic_trial("late_opening", np.random.default_rng(3), "BT")
    cut = trial.cut_at_share(0.5)
    by_the_cut_day = sum(trial.date(m) <= cut for m in trial.randomized)
    assert by_the_cut_day >= math.ceil(0.5 * trial.target)
    assert trial.portfolio_at(cut).subjects["randomized"].notna().sum() == by_the_cut_day


# --- 2. the clock solver ------------------------------------------------------------------


def _brute_force(lam: np.ndarray, opens: np.ndarray, need: float) -> float:
    """Root of Σ lam_j (s − opens_j)⁺ = need by brentq; inf when it levels off below."""

    def total(s: float) -> float:
        return float(np.sum(lam * np.clip(s - opens, 0.0, None)))

    high = max(float(opens.max()), 1.0)
    while total(high) < need:
        if high > 1e7:
            return math.inf
        high *= 2
    return brentq(lambda s: total(s) - need, 0.0, high, xtol=1e-12, rtol=1e-13)


def test_solve_clock_hand_worked() -> None:
    """Rate 1 from 0 (closing at 2), rate 2 from 1: the intensity is s, then 1 + 3(s − 1),
    then 4 + 2(s − 2); it reaches 0.5 at 0.5, 4 at 2 and 6 at 3."""
    lam = np.array([[1.0, 2.0, -1.0]])
    opens = np.array([0.0, 1.0, 2.0])
    solved = solve_clock(lam, opens, np.array([[0.5, 4.0, 6.0]]))
    assert solved == pytest.approx(np.array([[0.5, 2.0, 3.0]]), abs=1e-12)


@pytest.mark.parametrize("per_simulation", [False, True])
def test_solve_clock_matches_a_root_finder(per_simulation: bool) -> None:
    """Staggered openings in any order, half the sites closing (a closure is a site with
    the opposite rate opening at the closure), openings shared or drawn per simulation."""
    rng = np.random.default_rng(17)
    sims, sites = 40, 8
    lam = rng.gamma(1.5, 0.4, (sims, sites))
    lam[:, 2] = 0.0  # a site that never recruits
    shape = (sims, sites) if per_simulation else (sites,)
    opens = rng.uniform(0.0, 6.0, shape)
    opens[..., 0] = 0.0
    closing = opens[..., :4] + rng.uniform(0.5, 10.0, opens[..., :4].shape)
    all_lam = np.hstack([lam, -lam[:, :4]])
    all_opens = np.concatenate([opens, closing], axis=-1)
    needs = np.sort(rng.uniform(0.0, 25.0, (sims, 3)), axis=1)
    solved = solve_clock(all_lam, all_opens, needs)
    for s in range(sims):
        row_opens = all_opens[s] if per_simulation else all_opens
        for j in range(3):
            truth = _brute_force(all_lam[s], row_opens, needs[s, j])
            assert solved[s, j] == pytest.approx(truth, rel=1e-9, abs=1e-9)


def test_regression_solve_clock_is_infinite_when_every_site_has_closed() -> None:
    """Regression. Three sites that all
    close: total intensity levels off at Σ λ_i (c_i − o_i); a need above that is never
    reached, so the time must be inf.
    solve_clock takes slope = cumsum(λ, −λ) whose last value is ±5.6e-17 instead of 0 and
    returns need/slope: 3e17 or −1.8e19. A negative LPI survives forecast_recruitment's
    horizon check (months > 600 → inf) and would become a P10 before the cut."""
    lam = np.array([[0.55029302, 0.79130939, 0.31990742]])
    opens = np.array([0.0, 1.0, 2.0])
    closes = np.array([5.0, 6.0, 7.0])
    assert np.cumsum(np.hstack([lam, -lam]))[-1] != 0.0  # the float residue
    plateau = float(np.sum(lam * (closes - opens)))
    solved = solve_clock(np.hstack([lam, -lam]), np.concatenate([opens, closes]),
                         np.array([[plateau - 0.1, plateau + 10.0]]))
    assert solved[0, 0] == pytest.approx(_brute_force(np.hstack([lam, -lam])[0],
                                                      np.concatenate([opens, closes]),
                                                      plateau - 0.1))
    assert solved[0, 1] == math.inf


def test_regression_forecast_never_puts_lpi_before_the_cut() -> None:
    """Regression (same cause as above). Six sites opened 2024-01-01, three subjects each,
    four of them closed: every simulation's remaining sites close too (closure hazard
    from the four closures), and in those that run out before 400 the float residue
    decides: about a quarter of the 20,000 LPIs come out near −1.7e18 months, so P10 is
    negative and P50 is nan. Months after the cut are never negative."""
    sites = [{"site_id": f"{i:03d}", "activated": "2024-01-01",
              "status": "closed" if i < 4 else "enrolling"} for i in range(6)]
    subjects = [{"site_id": f"{i:03d}", "randomized": dt.date(2024, 1, 1)
                 + dt.timedelta(days=d)} for i in range(6) for d in (10, 40, 70)]
    history = history_at(_portfolio(sites, subjects, target=400), "ST-1", dt.date(2024, 4, 1))
    assert int(history.sites["closed"].sum()) == 4
    months = forecast_recruitment(history, 20_000, seed=1, model=Model.PLUG_IN).months
    assert np.all(months >= 0), f"{int((months < 0).sum())} negative, min {months.min():.3g}"
    assert np.all(months[:, 1:] >= months[:, :-1])


def _declined(s: float, delta: float, floor: float) -> float:
    """∫_0^s max(e^{−δu}, floor) du by quadrature."""
    knee = -math.log(floor) / delta if floor > 0 else math.inf
    points = [knee] if 0 < knee < s else None
    return quad(lambda u: max(math.exp(-delta * u), floor), 0.0, s, points=points,
                epsabs=1e-12, epsrel=1e-12)[0]


@pytest.mark.parametrize("floor", [0.25, 0.0])
def test_decay_clock_is_the_integral_of_the_declining_rate(floor: float) -> None:
    months = np.array([0.0, 0.3, 2.0, 7.5, 12.0, 30.0, 80.0])
    for delta in (0.02, 0.15, 0.6):
        expected = [_declined(m, delta, floor) for m in months]
        assert decay_clock(months, delta, floor) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # no decline: the clock is the calendar
    assert decay_clock(months, 0.0, floor) == pytest.approx(months)


def test_decay_clock_round_trip() -> None:
    rng = np.random.default_rng(5)
    months = rng.uniform(0.0, 60.0, (50, 6))
    delta = np.concatenate([[0.0], rng.uniform(0.001, 0.5, 49)])[:, None]  # one per simulation
    for floor in (0.25, 0.1, 0.0):
        # without a floor the clock flattens: once the rate is below e^{-8} of its start
        # the time is ill-conditioned (1 − δv cancels), so keep to δ·months ≤ 8 there
        keep = (delta * months <= 8) if floor == 0 else np.ones(months.shape, bool)
        clock = decay_clock(months, delta, floor)
        back = from_decay_clock(clock, delta, floor)
        assert back[keep] == pytest.approx(months[keep], rel=1e-9, abs=1e-9)
    # without a floor the clock never passes 1/δ: beyond it the time is inf
    assert from_decay_clock(np.array([1 / 0.2 + 1e-6]), np.array([0.2]), 0.0)[0] == math.inf


@pytest.mark.parametrize("floor", [0.25, 0.0])
def test_declining_rates_match_numerical_integration(floor: float) -> None:
    """Solving on the decay clock and mapping back = the time s where
    Σ λ_i ∫_{o_i}^s max(e^{−δu}, floor) du (by quadrature) reaches the need."""
    rng = np.random.default_rng(23)
    sims, sites = 12, 5
    lam = rng.gamma(2.0, 0.3, (sims, sites))
    opens = np.array([0.0, 0.0, 1.5, 4.0, 9.0])
    delta = rng.uniform(0.02, 0.2, sims)
    needs = np.sort(rng.uniform(0.5, 12.0, (sims, 2)), axis=1)
    solved = from_decay_clock(
        solve_clock(lam, decay_clock(np.atleast_2d(opens), delta[:, None], floor), needs),
        delta[:, None], floor)
    for s in range(sims):
        def intensity(t: float, s: int = s) -> float:
            return sum(lam[s, i] * (_declined(t, delta[s], floor)
                                    - _declined(min(opens[i], t), delta[s], floor))
                       for i in range(sites))
        ceiling = intensity(1e4)
        for j in range(2):
            if needs[s, j] >= ceiling:  # only without a floor: never reached
                assert floor == 0.0 and solved[s, j] == math.inf
                continue
            truth = brentq(lambda t, s=s, j=j: intensity(t) - needs[s, j], 0.0, 1e4,
                           xtol=1e-10)
            assert solved[s, j] == pytest.approx(truth, rel=1e-7)


# --- 3. forecast invariants ---------------------------------------------------------------


def test_forecast_is_reproducible_and_ordered(constant_history: RecruitmentHistory) -> None:
    first = forecast_recruitment(constant_history, 2_000, seed=7)
    again = forecast_recruitment(constant_history, 2_000, seed=7)
    other = forecast_recruitment(constant_history, 2_000, seed=8)
    assert np.array_equal(first.months, again.months)
    assert first.by_country.equals(again.by_country)
    assert not np.array_equal(first.months, other.months)
    months = first.months
    assert months.shape == (2_000, 4)
    assert np.all(months[:, 0] == 0)  # 25 % was reached before the cut
    assert np.all(np.isfinite(months)) and np.all(months[:, 1:] > 0)
    assert np.all(np.diff(months, axis=1) >= 0)  # 25 % ≤ 50 % ≤ 75 % ≤ LPI per simulation
    p10, p50, p90 = np.quantile(months, [0.1, 0.5, 0.9], axis=0)
    assert np.all(p10 <= p50) and np.all(p50 <= p90)
    # the milestones need ceil(25/50/75/100 % of target) subjects
    target = constant_history.target
    assert [n for _, n in first.milestones] == [math.ceil(target * q)
                                                for q in (0.25, 0.5, 0.75, 1.0)]
    # per-country counts at the cut add up to the subjects randomized
    assert first.by_country["randomized"].sum() == constant_history.randomized


@pytest.mark.parametrize("share", [0.1, 0.3, 0.6, 0.8])
def test_milestones_already_reached_take_no_time(share: float) -> None:
    """A milestone needing no more subjects than were randomized by the cut (counted in
    the portfolio's subjects) is at 0 months in every simulation; the others are later."""
    trial = synthetic_trial("late_opening", np.random.default_rng(6), "REACHED")
    cut = trial.cut_at_share(share)
    portfolio = trial.portfolio_at(cut)
    randomized = int((portfolio.subjects["randomized"] <= pd.Timestamp(cut)).sum())
    reached = np.array([randomized >= math.ceil(q * trial.target)
                        for q in (0.25, 0.5, 0.75, 1.0)])
    months = forecast_recruitment(history_at(portfolio, trial.study_id, cut), 1_000,
                                  seed=2).months
    assert np.all(months[:, reached] == 0.0)
    assert np.all(months[:, ~reached] > 0.0)
    assert np.all(months[:, 1:] >= months[:, :-1])  # (inf when never reached)


@pytest.mark.parametrize("which", ["constant", "closures"])
@pytest.mark.parametrize("model", [Model.PLUG_IN, Model.DECLINING, None])
def test_extra_sites_never_delay_a_simulation(which: str, model: Model | None,
                                              request: pytest.FixtureRequest) -> None:
    """Common random numbers: with the same seed every simulation's LPI is at least as
    early with three more sites (closures included), and the median moves earlier."""
    history = request.getfixturevalue(f"{which}_history")
    base = forecast_recruitment(history, 2_000, seed=3, model=model).lpi_months()
    extra = [ExtraSites("DE", 2, 1.0), ExtraSites("JP", 1, 0.0)]
    more = forecast_recruitment(history, 2_000, seed=3, model=model, extra=extra).lpi_months()
    assert np.all(more <= base + 1e-9)
    assert np.median(more) < np.median(base)


def test_plug_in_agrees_with_the_closed_form_when_every_site_is_open(
        constant_history: RecruitmentHistory) -> None:
    """Plug-in α̂, β̂: site rates Gamma(α̂ + k_i, β̂ + τ_i), all open, no closure; the
    simulated LPI quantiles equal the Pearson VI closed form within 3 days."""
    forecast = forecast_recruitment(constant_history, 40_000, seed=1, model=Model.PLUG_IN)
    fitted = forecast.fits[0]
    sites = constant_history.sites
    shape = fitted.alpha + sites["count"].to_numpy(float)
    rate = fitted.beta + sites["exposure"].to_numpy(float)
    probabilities = np.array([0.1, 0.5, 0.9])
    exact = closed_form_quantiles(shape, rate, constant_history.remaining, probabilities)
    simulated = np.quantile(forecast.lpi_months(), probabilities)
    assert np.all(np.abs(simulated - exact) * DAYS_PER_MONTH <= 3.0), (simulated, exact)


# --- 4. histories that cannot be forecast -------------------------------------------------


def _two_sites() -> Portfolio:
    """Site 001 opened 2024-01-01 (3 subjects), 002 opened 2024-02-01 (1 subject)."""
    sites = [{"site_id": "001", "activated": "2024-01-01"},
             {"site_id": "002", "activated": "2024-02-01", "country": "DE"}]
    subjects = [{"site_id": "001", "randomized": d} for d in
                ("2024-01-10", "2024-02-05", "2024-03-01")]
    subjects.append({"site_id": "002", "randomized": "2024-02-20"})
    return _portfolio(sites, subjects, target=10)


def test_history_of_a_small_study_by_hand() -> None:
    """Cut 2024-04-01: site 001 open 91 days, 002 60 days; 4 of 10 randomized."""
    history = history_at(_two_sites(), "ST-1", dt.date(2024, 4, 1))
    assert history.randomized == 4 and history.remaining == 6
    assert list(history.sites["count"]) == [3, 1]
    assert history.sites["exposure"].to_numpy() == pytest.approx(
        np.array([91, 60]) / DAYS_PER_MONTH)
    assert history.first_randomized == dt.date(2024, 1, 10)


def test_unknown_study_is_refused() -> None:
    with pytest.raises(ForecastInputError, match="'NOPE' is not in the store.*ST-1"):
        history_at(_two_sites(), "NOPE", dt.date(2024, 4, 1))


def test_no_randomization_by_the_cut_is_refused() -> None:
    with pytest.raises(ForecastInputError, match="no subject randomized by 2024-01-09"):
        history_at(_two_sites(), "ST-1", dt.date(2024, 1, 9))


def test_cut_before_the_first_site_opened_is_refused() -> None:
    with pytest.raises(ForecastInputError, match=r"before the first site opened \(2024-01-01\)"):
        history_at(_two_sites(), "ST-1", dt.date(2023, 12, 15))


def test_regression_study_without_subjects_is_refused_not_crashed() -> None:
    """Regression. A study with an activated
    site and no subject yet (or whose subjects have no screening date) must give
    ForecastInputError (DESIGN §5: bad input never crashes; forecast_every_study only
    catches ForecastInputError). history_at maps site ids through
    ``_first(subjects, "screened")``, an *empty* datetime Series here, and pandas 3
    ``Series.map`` of an empty datetime Series raises TypeError "Cannot cast
    DatetimeArray to dtype float64"."""
    site = [{"site_id": "001", "activated": "2024-01-01"}]
    with pytest.raises(ForecastInputError, match="no subject randomized"):
        history_at(_portfolio(site, []), "ST-1", dt.date(2024, 3, 1))
    # randomized without a screening date: the site opened at its activation
    portfolio = _portfolio(site, [{"site_id": "001", "randomized": "2024-02-01",
                                   "screened": None}])
    history = history_at(portfolio, "ST-1", dt.date(2024, 3, 1))
    assert history.sites["exposure"].iloc[0] == pytest.approx(60 / DAYS_PER_MONTH)


def test_target_already_reached_is_refused() -> None:
    sites = [{"site_id": "001", "activated": "2024-01-01"}]
    subjects = [{"site_id": "001", "randomized": f"2024-02-{d:02d}"} for d in range(1, 6)]
    with pytest.raises(ForecastInputError, match="already reached on 2024-02-03"):
        history_at(_portfolio(sites, subjects, target=3), "ST-1", dt.date(2024, 3, 1))


def test_zero_exposure_is_refused() -> None:
    """Every open site opened on the cut date, with its first subject that day."""
    sites = [{"site_id": "001", "activated": "2024-03-01"},
             {"site_id": "002", "activated": "2024-03-01"},
             {"site_id": "003", "status": "selected", "planned": "2024-06-01"}]
    subjects = [{"site_id": "001", "randomized": "2024-03-01"}]
    with pytest.raises(ForecastInputError, match="zero months of exposure"):
        history_at(_portfolio(sites, subjects), "ST-1", dt.date(2024, 3, 1))


# --- 5. model selection and the fitted decline --------------------------------------------


def _truncated_exponential_variance(a: float, b: float, delta: float) -> float:
    """Var(t) for density ∝ e^{−δt} on [a, b] (numerically)."""
    grid = np.linspace(a, b, 2_001)
    weight = np.exp(-delta * (grid - a))
    mean = np.sum(grid * weight) / weight.sum()
    return float(np.sum((grid - mean) ** 2 * weight) / weight.sum())


SELECTION_SEEDS = range(10)


def test_strong_decline_is_selected_and_its_rate_recovered() -> None:
    """δ = 0.15/month, 80 sites over 18 months: the held-out rule picks DECLINING in at
    least 8 of 10 seeds, and the fitted δ̂ is within 4 s.e. of the truth shrunk by its
    prior. Given each site's count the arrival times have density ∝ e^{−δt} on its window,
    so the information on δ is I = Σ_arrivals Var(t | window) (a lower bound: counts add
    some); with the N(0, 0.05²) prior of precision P the mode sits near δ·I/(I + P) with
    s.e. 1/√(I + P)."""
    delta = 0.15
    picks, misses = [], []
    for seed in SELECTION_SEEDS:
        portfolio, cut, windows = _declining_study(np.random.default_rng(seed), delta)
        history = history_at(portfolio, "ST-1", cut)
        evidence = evidence_of(history)
        picks.append(select_model(evidence).model)
        fitted = fit_model(evidence, Model.DECLINING)
        variances = np.array([_truncated_exponential_variance(o, t, delta) for o, t in windows])
        info = float(np.sum(variances[history.arrival_site]))
        precision = 1 / DELTA_PRIOR_SD**2
        expected, se = delta * info / (info + precision), 1 / math.sqrt(info + precision)
        misses.append(abs(fitted.delta - expected) / se)
        assert abs(fitted.delta - expected) <= 4 * se, (seed, fitted.delta, expected, se)
    assert picks.count(Model.DECLINING) >= 8, picks
    print(f"\ndeclining data: picks {[p.value for p in picks]}; "
          f"|δ̂ − expected| / s.e. {np.round(misses, 2).tolist()}")


def test_constant_rates_are_not_taken_for_a_decline() -> None:
    picks = []
    for seed in SELECTION_SEEDS:
        portfolio, cut, _ = _declining_study(np.random.default_rng(100 + seed), 0.0)
        picks.append(select_model(evidence_of(history_at(portfolio, "ST-1", cut))).model)
    assert picks.count(Model.DECLINING) <= 2, picks


def test_draws_past_the_alpha_cap_keep_the_mean_rate() -> None:
    """Along the likelihood ridge ln α and ln β move together; a draw past the α cap must
    move both (clipping α alone divides the mean rate α/β by e^{excess}). Hand-built
    Laplace normal: sd 1.5 for each, sd(ln α − ln β) = 0.1, mean rate 0.4, ln α̂ one below
    the cap, so a quarter of the draws pass it."""
    top = math.log(ALPHA_CAP)
    theta = np.array([top - 1.0, top - 1.0 - math.log(0.4), 0.0])
    covariance = np.array([[2.25, 2.245, 0.0], [2.245, 2.25, 0.0], [0.0, 0.0, 0.0]])
    fitted = FittedModel(Model.POISSON_GAMMA, theta, covariance, 0.0, False)
    alpha, beta, delta = fitted.draw(20_000, np.random.default_rng(0))
    assert np.all(alpha <= ALPHA_CAP * (1 + 1e-12))
    assert 0.2 < np.mean(alpha >= ALPHA_CAP * (1 - 1e-12)) < 0.3  # P(Z > 1/1.5) = 0.25
    z = (np.log(alpha / beta) - math.log(0.4)) / 0.1
    assert np.all(np.abs(z) < 6)  # a normal draw beyond 6 s.d.: 2e-9
    assert np.all(delta == 0.0)


def test_early_cut_forecast_always_finishes() -> None:
    """44 sites (17 not open yet), cut at 10 % of the target: 21 randomized over 50
    site-months, α barely determined. With parameter uncertainty every simulation still
    reaches LPI (clipping α alone made 5 % never finish within 50 years), and the plug-in
    median is inside the parameter-uncertain P10–P90."""
    trial = synthetic_trial("late_opening", np.random.default_rng(6), "EARLY")
    cut = trial.cut_at_share(0.1)
    history = history_at(trial.portfolio_at(cut), trial.study_id, cut)
    lpi = forecast_recruitment(history, 4_000, seed=2, model=Model.POISSON_GAMMA).lpi_months()
    assert np.all(np.isfinite(lpi))
    plug_in = forecast_recruitment(history, 4_000, seed=2, model=Model.PLUG_IN).lpi_months()
    p10, p90 = np.quantile(lpi, [0.1, 0.9])
    assert p10 <= np.median(plug_in) <= p90


# --- 6. parameter uncertainty -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parameter_uncertainty_widens_the_interval(seed: int) -> None:
    """Five sites, about a year open: α̂ and β̂ are uncertain, so drawing them
    (POISSON_GAMMA) widens the P10–P90 interval of the LPI beyond the plug-in's."""
    rng = np.random.default_rng(seed)
    portfolio, cut, _ = _declining_study(rng, 0.0, sites=5, months=12.0, mean_rate=0.5)
    history = history_at(portfolio, "ST-1", cut)
    history = dataclasses.replace(history, target=history.randomized + 40)

    def width(model: Model) -> float:
        months = forecast_recruitment(history, 4_000, seed=seed, model=model).lpi_months()
        p10, p90 = np.quantile(months, [0.1, 0.9])
        return float(p90 - p10)

    assert width(Model.POISSON_GAMMA) >= width(Model.PLUG_IN)
