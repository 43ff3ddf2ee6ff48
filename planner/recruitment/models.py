"""The recruitment models: Poisson-Gamma plug-in, with parameter uncertainty, declining.

All three share the arrival-time likelihood (DESIGN §4 with a rate that may
decline in calendar time as g(t) = e^{−δ t}, λ_i being the rate at the cut):

    log L(α, β, δ) = Σ_i [lnΓ(α+k_i) − lnΓ(α) + α ln β − (α+k_i) ln(β+E_i(δ))] − δ Σ_j t_j

where E_i(δ) is site i's decayed exposure and t_j the randomization times
(months before the cut, negative). δ = 0 is the classic model, whose α, β are
the maximizers of the negative-binomial count likelihood.

* ``PLUG_IN``: α̂, β̂ treated as known (the classic, too-narrow intervals).
* ``POISSON_GAMMA``: (ln α, ln β) drawn per simulation from the Laplace
  approximation N(θ̂, H⁻¹) of their posterior (flat prior on the logs), so the
  uncertainty of the estimates widens the predictive distribution.
* ``DECLINING``: (ln α, ln β, δ) fitted with δ ≥ 0 and a N(0, 0.05²) prior on
  δ (a 5 %-a-month decline is plausible, 20 % is not; without it a noisy δ̂
  extrapolates into absurdly late dates), and drawn the same way; after the
  cut every site's rate keeps declining as e^{−δ s}.

Given the hyper-parameters a site's rate at the cut is Gamma(α+k_i, β+E_i(δ))
(the prior Gamma(α, β) for a site not open yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from planner.recruitment.evidence import Evidence
from planner.recruitment.poisson_gamma import ALPHA_CAP, RecruitmentDataError, fit

DELTA_BOUNDS = (0.0, 1.0)  # decline per month: none to e^{-1} a month
MAX_LOG_ALPHA_VARIANCE = 4.0  # sd(ln α) > 2: α is not determined by the data
DELTA_PRIOR_SD = 0.05  # N(0, 0.05²) prior on δ: a decline must be seen in the data


class Model(StrEnum):
    PLUG_IN = "poisson_gamma_plug_in"
    POISSON_GAMMA = "poisson_gamma"
    DECLINING = "declining_poisson_gamma"
    AVERAGED = "averaged_poisson_gamma"  # half the simulations from each of the two above


def arrival_log_likelihood(log_alpha: float, log_beta: float, delta: float,
                           evidence: Evidence) -> float:
    """log L(α, β, δ) above."""
    alpha, beta = np.exp(log_alpha), np.exp(log_beta)
    used = evidence.open
    k = evidence.counts[used]
    exposure = evidence.exposure(delta)[used]
    return float(np.sum(gammaln(alpha + k) - gammaln(alpha) + alpha * np.log(beta)
                        - (alpha + k) * np.log(beta + exposure))
                 - delta * np.sum(evidence.arrival_months))


@dataclass(frozen=True)
class FittedModel:
    """A fitted model: point estimate θ̂ = (ln α, ln β, δ) and the covariance to draw from."""

    model: Model
    theta: np.ndarray
    covariance: np.ndarray  # zeros for the plug-in model and for parameters on a bound
    log_likelihood: float
    alpha_capped: bool

    @property
    def alpha(self) -> float:
        return float(np.exp(self.theta[0]))

    @property
    def beta(self) -> float:
        return float(np.exp(self.theta[1]))

    @property
    def delta(self) -> float:
        return float(self.theta[2])

    def params(self) -> dict[str, float | bool]:
        """The parameters as reported (``--json``): α, β, mean rate, δ, their spread."""
        sd = np.sqrt(np.diag(self.covariance))
        return {"alpha": round(self.alpha, 6), "beta": round(self.beta, 6),
                "mean_rate_per_site_month": round(self.alpha / self.beta, 6),
                "decline_per_month": round(self.delta, 6),
                "sd_log_alpha": round(float(sd[0]), 6), "sd_log_beta": round(float(sd[1]), 6),
                "sd_decline": round(float(sd[2]), 6), "alpha_capped": self.alpha_capped}

    def draw(self, sims: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(α, β, δ) for each simulation."""
        if not self.covariance.any():
            theta = np.broadcast_to(self.theta, (sims, 3))
        else:
            theta = rng.multivariate_normal(self.theta, self.covariance, size=sims,
                                            method="eigh")
        # a draw past the cap keeps its mean α/β: shift ln α and ln β together
        excess = np.maximum(theta[:, 0] - np.log(ALPHA_CAP), 0.0)
        delta = np.clip(theta[:, 2], *DELTA_BOUNDS)
        return np.exp(theta[:, 0] - excess), np.exp(theta[:, 1] - excess), delta


def _laplace(negative, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Inverse Hessian of ``negative`` at ``theta`` over the free coordinates (central
    differences); zero rows and columns for the fixed ones."""
    index = np.flatnonzero(free)
    n = len(index)
    hessian = np.zeros((n, n))
    step = 1e-3

    def shifted(a: int, b: int, da: float, db: float) -> float:
        point = theta.copy()
        point[index[a]] += da
        point[index[b]] += db
        return negative(point)

    for a in range(n):
        for b in range(a, n):
            value = (shifted(a, b, step, step) - shifted(a, b, step, -step)
                     - shifted(a, b, -step, step) + shifted(a, b, -step, -step)) / (4 * step**2)
            hessian[a, b] = hessian[b, a] = value
    covariance = np.zeros((3, 3))
    eigen, vectors = np.linalg.eigh(hessian)
    if n and np.all(eigen > 1e-9):
        covariance[np.ix_(index, index)] = vectors @ np.diag(1 / eigen) @ vectors.T
    return covariance


def fit_model(evidence: Evidence, model: Model) -> FittedModel:
    """Maximum likelihood (and its Laplace covariance unless plug-in) for ``model``."""
    used = evidence.open
    if not used.any():
        raise RecruitmentDataError("no site has been open for any time: nothing to fit")
    constant = fit(evidence.counts[used], evidence.exposure(0.0)[used])
    theta = np.array([np.log(constant.alpha), np.log(constant.beta), 0.0])
    capped = constant.alpha_capped

    def negative(point: np.ndarray) -> float:
        prior = 0.5 * (point[2] / DELTA_PRIOR_SD) ** 2
        return prior - arrival_log_likelihood(point[0], point[1], point[2], evidence)

    if model is Model.DECLINING:
        bounds = [(np.log(1e-3), np.log(ALPHA_CAP)), (None, None), DELTA_BOUNDS]
        best = minimize(negative, theta + np.array([0.0, 0.0, 0.02]), method="L-BFGS-B",
                        bounds=bounds)
        if -best.fun > -negative(theta):
            theta = best.x
        capped = bool(theta[0] >= np.log(ALPHA_CAP) - 1e-6)
    free = np.array([not capped, True, model is Model.DECLINING])
    covariance = (np.zeros((3, 3)) if model is Model.PLUG_IN
                  else _laplace(negative, theta, free))
    if covariance[0, 0] > MAX_LOG_ALPHA_VARIANCE:
        # the likelihood is flat in α (sites barely differ) and the optimizer stopped
        # somewhere on the plateau: treat α as capped, keeping the mean rate α/β
        shift = np.log(ALPHA_CAP) - theta[0]
        theta, capped = theta + np.array([shift, shift, 0.0]), True
        covariance = _laplace(negative, theta, np.array([False, True, free[2]]))
    return FittedModel(model, theta, covariance, -negative(theta), capped)
