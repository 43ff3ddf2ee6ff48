"""Time to recruit R more subjects, by vectorized Monte Carlo and in closed form.

With site rates λ_i opening at times o_i (months from the cut, 0 for open
sites) the expected count by time s is Σ_i λ_i (s − o_i)⁺, piecewise linear in
s. Recruiting R more is the time s where that sum reaches E ~ Gamma(R, 1)
(the R-th arrival of a unit-rate Poisson process on the cumulative-rate
clock). All simulations are solved at once: sort sites by opening, take
cumulative rates at each opening, find the segment holding E, interpolate.

Rates that decline as exp(−δ s) after the cut keep this structure on the
clock v(s) = (1 − e^{−δ s}) / δ: the cumulative intensity of a site opening at
o is λ (v(s) − v(o))⁺, so the same solver runs on v and maps back.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

DECLINE_FLOOR = 0.25  # a declining rate levels off at a quarter of its value at the cut


def solve_clock(lam: np.ndarray, opens: np.ndarray, needs: np.ndarray) -> np.ndarray:
    """Clock time at which Σ_i lam_i (v − opens_i)⁺ reaches each of ``needs``.

    ``lam``: (sims, sites) rates; ``opens``: (sites,) or (sims, sites) opening
    clock times, any order; ``needs``: (sims, m) cumulative intensities.
    Returns (sims, m); inf where the rates never get there.
    """
    lam = np.asarray(lam, float)
    opens = np.asarray(opens, float)
    if opens.ndim == 1:
        order = np.argsort(opens, kind="stable")
        lam, opens = lam[:, order], np.broadcast_to(opens[order], lam.shape)
    else:
        order = np.argsort(opens, axis=1, kind="stable")
        lam = np.take_along_axis(lam, order, axis=1)
        opens = np.take_along_axis(opens, order, axis=1)
    slope = np.cumsum(lam, axis=1)  # total rate once site j has opened
    if lam.min(initial=0.0) < 0:  # a closure's −λ cancels its +λ up to rounding: make it 0
        slope = np.where(slope > 1e-12 * np.cumsum(np.abs(lam), axis=1), slope, 0.0)
    at_open = np.zeros_like(slope)  # cumulative intensity at each opening
    at_open[:, 1:] = np.cumsum(slope[:, :-1] * np.diff(opens, axis=1), axis=1)
    rows = np.arange(len(lam))
    out = np.empty(needs.shape)
    for j in range(needs.shape[1]):
        need = needs[:, j]
        segment = (at_open <= need[:, None]).sum(axis=1) - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, j] = (opens[rows, segment]
                         + (need - at_open[rows, segment]) / slope[rows, segment])
    return np.where(np.isnan(out), np.inf, out)


def needs_for(remaining: np.ndarray, sims: int, rng: np.random.Generator) -> np.ndarray:
    """Cumulative intensity at the arrival of each of ``remaining`` (ascending) more subjects.

    One Poisson process per simulation: the R₂-th arrival comes after the R₁-th,
    so the milestones of one simulation are ordered.
    """
    remaining = np.asarray(remaining, int)
    steps = np.diff(np.concatenate([[0], remaining]))
    draws = np.zeros((sims, len(remaining)))
    positive = steps > 0
    draws[:, positive] = rng.gamma(steps[positive], 1.0, size=(sims, int(positive.sum())))
    return np.cumsum(draws, axis=1)


def decay_clock(months: np.ndarray, delta: np.ndarray,
                floor: float = DECLINE_FLOOR) -> np.ndarray:
    """v(s) = ∫_0^s max(e^{−δu}, floor) du: (1 − e^{−δ s}) / δ until the rate has fallen
    to ``floor`` (at s* = −ln(floor)/δ), then growing at ``floor``; = s when δ = 0."""
    months, delta = np.asarray(months, float), np.asarray(delta, float)
    small = np.abs(delta) < 1e-12
    safe = np.where(small, 1.0, delta)
    curved = -np.expm1(-safe * months) / safe
    if floor > 0:
        knee = -np.log(floor) / safe
        curved = np.where(months <= knee, curved, (1 - floor) / safe + floor * (months - knee))
    return np.where(small, months, curved)


def from_decay_clock(clock: np.ndarray, delta: np.ndarray,
                     floor: float = DECLINE_FLOOR) -> np.ndarray:
    """Inverse of :func:`decay_clock`; inf where a rate declining to zero never gets there."""
    clock, delta = np.asarray(clock, float), np.asarray(delta, float)
    small = np.abs(delta) < 1e-12
    safe = np.where(small, 1.0, delta)
    inner = 1.0 - safe * clock
    with np.errstate(divide="ignore", invalid="ignore"):
        months = np.where(inner > 0, -np.log1p(-safe * clock) / safe, np.inf)
        if floor > 0:
            knee_clock = (1 - floor) / safe
            months = np.where(clock <= knee_clock, months,
                              -np.log(floor) / safe + (clock - knee_clock) / floor)
    return np.where(small, clock, months)


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
    shape, rate = np.asarray(shape, float), np.asarray(rate, float)
    lam = rng.gamma(shape, 1.0 / rate, size=(sims, len(shape)))
    if never_enrolls is not None:
        lam *= rng.random((sims, len(shape))) >= np.asarray(never_enrolls, float)
    needs = needs_for(np.array([remaining]), sims, rng)
    return solve_clock(lam, np.asarray(opens, float), needs)[:, 0]


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
