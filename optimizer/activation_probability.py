"""The distribution of a plan's randomizations by the target date, exactly (DESIGN §4).

Under the Poisson-Gamma model a site whose rate is λ ~ Gamma(a, b) (shape a,
rate b per month) and that recruits for τ months randomizes N ~ Poisson(λτ),
marginally negative binomial NB(a, p = b/(b+τ)): mean aτ/b, variance
aτ/b + aτ²/b² — the mixture's variance is the Poisson part plus Var(λ)·τ².
A new site may also never enroll (probability q, the forecast's never-enroll
share): its count is 0 with probability q, NB otherwise. Sites are independent,
so the total N = Σ N_i has the convolution of their laws. We only need
P(N ≥ R) = 1 − P(N ≤ R−1), so every law is kept on 0..R−1 and the truncated
convolution is exact there (no simulation noise, no moment matching).

Identical sites are merged before convolving: n sites with the same (a, p)
sum to NB(n·a, p); with a never-enroll share q the number that do enroll is
Binomial(n, 1−q), so their sum is Σ_j C(n, j)(1−q)^j q^(n−j) NB(j·a, p).
A very large shape (rate known exactly) is a Poisson law.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

POISSON_SHAPE = 1e8  # shapes at least this large: the rate is known, counts are Poisson


def _site_law(shape: float, mean: float, limit: int) -> np.ndarray:
    """P(N = k), k < ``limit``, for NB(shape, shape/(shape+mean)) (Poisson for huge shapes)."""
    k = np.arange(limit)
    if mean <= 0:
        return (k == 0).astype(float)
    if not np.isfinite(shape) or shape >= POISSON_SHAPE:
        return stats.poisson.pmf(k, mean)
    return stats.nbinom.pmf(k, shape, shape / (shape + mean))


def _group_law(shape: float, mean: float, never: float, count: int, limit: int) -> np.ndarray:
    """The sum of ``count`` identical sites, each with mean ``mean`` when it enrolls and
    probability ``never`` of never enrolling."""
    if never <= 0:
        return _site_law(shape * count, mean * count, limit)
    law = np.zeros(limit)
    for enrolling in range(count + 1):
        weight = stats.binom.pmf(enrolling, count, 1 - never)
        law += weight * _site_law(shape * enrolling, mean * enrolling, limit)
    return law


def count_law(sites: pd.DataFrame, limit: int) -> np.ndarray:
    """P(N = k) for k < ``limit`` (``limit`` ≥ 1) of the total count of ``sites``: columns
    shape (Gamma shape of the rate), mean (expected count over its exposure when it
    enrolls) and never (never-enroll probability, 0 when absent)."""
    limit = max(int(limit), 1)
    frame = sites.assign(never=sites.get("never", 0.0))
    frame = frame[frame["mean"] > 0]
    law = np.zeros(limit)
    law[0] = 1.0
    groups = frame.groupby(["shape", "mean", "never"], sort=True).size()
    for (shape, mean, never), count in groups.items():
        law = np.convolve(law, _group_law(float(shape), float(mean), float(never),
                                          int(count), limit))[:limit]
    return law


def law_at_least(law: np.ndarray) -> float:
    """P(N ≥ needed) from ``law`` = :func:`count_law` (sites, needed), needed ≥ 1."""
    return float(np.clip(1.0 - law.sum(), 0.0, 1.0))


def law_assured(law: np.ndarray, probability: float) -> int:
    """The largest n ≤ needed with P(N ≥ n) ≥ ``probability``, from ``law`` =
    :func:`count_law` (sites, needed), needed ≥ 1."""
    at_least = 1.0 - np.concatenate([[0.0], np.cumsum(law)])  # P(N ≥ n), n = 0..needed
    meets = np.flatnonzero(at_least >= probability - 1e-12)
    return int(meets.max()) if len(meets) else 0


def probability_at_least(sites: pd.DataFrame, needed: int) -> float:
    """P(N ≥ ``needed``)."""
    if needed <= 0:
        return 1.0
    return law_at_least(count_law(sites, needed))


def assured_count(sites: pd.DataFrame, needed: int, probability: float) -> int:
    """The largest n ≤ ``needed`` with P(N ≥ n) ≥ ``probability``: what the plan reaches
    with that confidence (``needed`` itself when the plan meets it)."""
    if needed <= 0:
        return max(needed, 0)
    return law_assured(count_law(sites, needed), probability)
