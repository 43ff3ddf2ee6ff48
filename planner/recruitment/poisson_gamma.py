"""The Poisson-Gamma recruitment model (Anisimov & Fedorov 2007), DESIGN §4.

Site i has rate λ_i ~ Gamma(α, β) (shape α, rate β); its count over exposure
τ_i is Poisson(λ_i τ_i), so marginally negative binomial:

    log L = Σ [lnΓ(α+k_i) − lnΓ(α) − ln k_i! + α ln β + k_i ln τ_i − (α+k_i) ln(β+τ_i)]

α, β are fitted by maximum likelihood on log-parameters; α is capped because
when sites barely differ the likelihood keeps rising as α → ∞ (all sites share
one Poisson rate). Given its count, a site's rate is Gamma(α+k_i, β+τ_i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

ALPHA_CAP = 1e4


class RecruitmentDataError(ValueError):
    """The counts cannot support a fit (no exposure, no subject at all)."""


@dataclass(frozen=True)
class PoissonGammaFit:
    alpha: float  # shape of the site-rate distribution
    beta: float  # rate of the site-rate distribution (per month of exposure)
    log_likelihood: float
    sites: int  # sites with positive exposure used in the fit
    alpha_capped: bool

    @property
    def mean_rate(self) -> float:
        """Expected subjects per site-month."""
        return self.alpha / self.beta


def log_likelihood(alpha: float, beta: float, counts: np.ndarray,
                   exposures: np.ndarray) -> float:
    """The negative-binomial log-likelihood above (sites with τ = 0 add nothing)."""
    k, tau = np.asarray(counts, float), np.asarray(exposures, float)
    return float(np.sum(gammaln(alpha + k) - gammaln(alpha) - gammaln(k + 1)
                        + alpha * np.log(beta) + k * np.log(tau)
                        - (alpha + k) * np.log(beta + tau)))


def _negative(params: np.ndarray, k: np.ndarray, tau: np.ndarray) -> tuple[float, np.ndarray]:
    """−log L and its gradient in (log α, log β)."""
    alpha, beta = np.exp(params)
    value = log_likelihood(alpha, beta, k, tau)
    d_alpha = np.sum(digamma(alpha + k) - digamma(alpha) + np.log(beta) - np.log(beta + tau))
    d_beta = np.sum(alpha / beta - (alpha + k) / (beta + tau))
    return -value, -np.array([d_alpha * alpha, d_beta * beta])


def fit(counts: np.ndarray, exposures: np.ndarray, alpha_cap: float = ALPHA_CAP
        ) -> PoissonGammaFit:
    """Maximum-likelihood α, β from per-site counts and exposures (months)."""
    k = np.asarray(counts, float)
    tau = np.asarray(exposures, float)
    if k.shape != tau.shape:
        raise ValueError("counts and exposures must have the same length")
    used = tau > 0
    k, tau = k[used], tau[used]
    if len(k) == 0:
        raise RecruitmentDataError("no site has been open for any time: nothing to fit")
    if k.sum() == 0:
        raise RecruitmentDataError("no subject yet at any open site: the rate cannot be fitted")
    rate = k.sum() / tau.sum()
    per_site = k / tau
    spread = per_site.var() if len(k) > 1 else 0.0
    alpha0 = float(np.clip(rate**2 / spread if spread > 0 else 10.0, 0.1, alpha_cap))
    start = np.log([alpha0, alpha0 / rate])
    bounds = [(np.log(1e-3), np.log(alpha_cap)), (None, None)]
    result = minimize(_negative, start, args=(k, tau), jac=True, method="L-BFGS-B",
                      bounds=bounds)
    alpha, beta = np.exp(result.x)
    return PoissonGammaFit(float(alpha), float(beta), -float(result.fun), int(len(k)),
                           bool(alpha >= alpha_cap * (1 - 1e-6)))


def posterior(fit_: PoissonGammaFit, counts: np.ndarray, exposures: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Shape and rate of each site's rate given its count: Gamma(α+k, β+τ).

    A site not open yet (τ = 0, k = 0) keeps the prior.
    """
    k = np.asarray(counts, float)
    tau = np.clip(np.asarray(exposures, float), 0, None)
    return fit_.alpha + k, fit_.beta + tau
