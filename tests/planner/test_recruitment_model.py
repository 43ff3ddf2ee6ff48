"""Poisson-Gamma fit and time-to-target simulation, checked against independent truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from planner.recruitment.poisson_gamma import RecruitmentDataError, fit, log_likelihood, posterior
from planner.recruitment.simulate import closed_form_quantiles, time_to_target

DAYS_PER_MONTH = 365.25 / 12


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_mle_recovers_known_parameters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    alpha, beta = 1.5, 3.75  # mean 0.4 subjects per site-month (phase III median)
    exposure = rng.uniform(6, 18, 600)
    counts = rng.poisson(rng.gamma(alpha, 1 / beta, 600) * exposure)
    fitted = fit(counts, exposure)
    assert fitted.mean_rate == pytest.approx(alpha / beta, rel=0.08)
    assert fitted.alpha == pytest.approx(alpha, rel=0.3)
    # the optimum really is one: nudging either parameter lowers the likelihood
    best = log_likelihood(fitted.alpha, fitted.beta, counts, exposure)
    for da, db in ((1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98)):
        assert log_likelihood(fitted.alpha * da, fitted.beta * db, counts, exposure) < best


def test_equal_exposure_mean_is_the_sample_mean() -> None:
    """With one exposure for all sites the negative-binomial MLE of the mean is k̄ / τ."""
    rng = np.random.default_rng(7)
    counts = rng.poisson(rng.gamma(2.0, 1 / 4.0, 300) * 12.0)
    fitted = fit(counts, np.full(300, 12.0))
    assert fitted.mean_rate == pytest.approx(counts.mean() / 12.0, rel=1e-4)


def test_identical_sites_cap_alpha() -> None:
    fitted = fit(np.full(50, 4), np.full(50, 10.0))
    assert fitted.alpha_capped
    assert fitted.mean_rate == pytest.approx(0.4, rel=1e-3)


def test_fit_refuses_data_without_exposure_or_subjects() -> None:
    with pytest.raises(RecruitmentDataError, match="no site has been open"):
        fit(np.zeros(3), np.zeros(3))
    with pytest.raises(RecruitmentDataError, match="no subject yet"):
        fit(np.zeros(3), np.ones(3))


def test_sites_not_open_keep_the_prior() -> None:
    fitted = fit(np.array([3, 5, 8]), np.array([10.0, 12.0, 9.0]))
    shape, rate = posterior(fitted, np.array([3, 0]), np.array([10.0, 0.0]))
    assert (shape[1], rate[1]) == (fitted.alpha, fitted.beta)
    assert (shape[0], rate[0]) == (fitted.alpha + 3, fitted.beta + 10)


def test_monte_carlo_agrees_with_the_closed_form_when_all_sites_are_open() -> None:
    rng = np.random.default_rng(11)
    exposure = rng.uniform(3, 15, 60)
    counts = rng.poisson(rng.gamma(1.5, 1 / 3.75, 60) * exposure)
    shape, rate = posterior(fit(counts, exposure), counts, exposure)
    remaining = 150
    draws = time_to_target(shape, rate, np.zeros(60), remaining, 40_000,
                           np.random.default_rng(3))
    probabilities = np.array([0.1, 0.5, 0.9])
    simulated = np.quantile(draws, probabilities) * DAYS_PER_MONTH
    exact = closed_form_quantiles(shape, rate, remaining, probabilities) * DAYS_PER_MONTH
    assert np.all(np.abs(simulated - exact) <= 3.0), (simulated, exact)


def test_staggered_openings_match_a_root_finder() -> None:
    """Near-deterministic rates (huge shapes) and a large R: the time solves
    Σ λ_i (s − o_i)⁺ = R, found independently with brentq."""
    lam = np.array([0.5, 0.3, 0.8, 0.2, 0.6])
    opens = np.array([0.0, 2.0, 5.0, 5.0, 9.0])
    shape = np.full(5, 1e7)
    remaining = 2_000
    draws = time_to_target(shape, shape / lam, opens, remaining, 2_000,
                           np.random.default_rng(5))
    truth = brentq(lambda s: np.sum(lam * np.clip(s - opens, 0, None)) - remaining, 0, 1e5)
    assert np.median(draws) == pytest.approx(truth, rel=0.01)


def test_fixed_seed_gives_identical_draws_and_failed_sites_slow_recruitment() -> None:
    shape, rate, opens = np.full(40, 2.0), np.full(40, 5.0), np.linspace(0, 6, 40)
    first = time_to_target(shape, rate, opens, 100, 5_000, np.random.default_rng(9))
    again = time_to_target(shape, rate, opens, 100, 5_000, np.random.default_rng(9))
    assert np.array_equal(first, again)
    failing = time_to_target(shape, rate, opens, 100, 5_000, np.random.default_rng(9),
                             never_enrolls=np.full(40, 0.2))
    assert np.median(failing) > np.median(first)
    assert np.all(time_to_target(shape, rate, opens, 0, 10, np.random.default_rng(1)) == 0)
