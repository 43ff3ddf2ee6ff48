"""Time to recruit R more subjects, by vectorized Monte Carlo and in closed form.

With site rates λ_i opening at times o_i (months from the cut, 0 for open
sites) the expected count by time s is Σ_i λ_i (s − o_i)⁺, piecewise linear in
s. Recruiting R more is the time s where that sum reaches E ~ Gamma(R, 1)
(the R-th arrival of a unit-rate Poisson process on the cumulative-rate
clock). All simulations are solved at once: sort sites by opening, take
cumulative rates at each opening, find the segment holding E, interpolate.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def time_to_target(shape: np.ndarray, rate: np.ndarray, opens: np.ndarray, remaining: int,
                   sims: int, rng: np.random.Generator,
                   never_enrolls: np.ndarray | None = None) -> np.ndarray:
    """Months from the cut until ``remaining`` more subjects, one value per simulation.

    ``shape``, ``rate``: each site's Gamma rate distribution; ``opens``: months
    until it opens (0 when open); ``never_enrolls``: probability that a site
    never recruits (a site that fails start-up), 0 when omitted. Returns inf
    where no site ever recruits in a simulation.
    """
    if remaining <= 0:
        return np.zeros(sims)
    order = np.argsort(opens, kind="stable")
    shape, rate = np.asarray(shape, float)[order], np.asarray(rate, float)[order]
    opens = np.asarray(opens, float)[order]
    lam = rng.gamma(shape, 1.0 / rate, size=(sims, len(shape)))
    if never_enrolls is not None:
        fails = np.asarray(never_enrolls, float)[order]
        lam *= rng.random((sims, len(shape))) >= fails
    need = rng.gamma(remaining, 1.0, size=sims)
    slope = np.cumsum(lam, axis=1)  # total rate once site j has opened
    gaps = np.diff(opens)
    at_open = np.zeros_like(slope)  # expected count at each opening time
    at_open[:, 1:] = np.cumsum(slope[:, :-1] * gaps, axis=1)
    segment = (at_open <= need[:, None]).sum(axis=1) - 1
    rows = np.arange(sims)
    with np.errstate(divide="ignore"):
        return opens[segment] + (need - at_open[rows, segment]) / slope[rows, segment]


def closed_form_quantiles(shape: np.ndarray, rate: np.ndarray, remaining: int,
                          probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of the time to ``remaining`` more when every site is open.

    The total rate Σλ_i is approximated by Gamma(A, B) matching its mean and
    variance; then T = B·X/(1−X) with X ~ Beta(R, A) (a Pearson type VI law).
    """
    shape, rate = np.asarray(shape, float), np.asarray(rate, float)
    mean = np.sum(shape / rate)
    variance = np.sum(shape / rate**2)
    a, b = mean**2 / variance, mean / variance
    x = stats.beta.ppf(probabilities, remaining, a)
    return b * x / (1 - x)
