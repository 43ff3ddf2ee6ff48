"""Which model forecasts a study: held-out likelihood of the most recent window.

Rule (docs/FORMATS.md, "Recruitment forecast"): hold out the last
W = max(``MIN_HOLDOUT_MONTHS``, ``HOLDOUT_SHARE`` × months since the first site
opened) of the history; fit the constant and the declining Poisson-Gamma on
what came before; score each by the log predictive probability of every
site's count inside the window (negative binomial: Gamma(α+k_i, β+E_i)
posterior rate times the window's exposure). The model that scores more than
``MARGIN`` nats better is used; when neither does, the data cannot tell them
apart and the forecast averages them (half the simulations from each), which
keeps the possibility of a decline in the intervals without betting on it.
All forecast with parameter uncertainty. When the history before the window
has no randomization there is nothing to compare and the constant model is
used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from planner.recruitment.evidence import Evidence, window_exposure
from planner.recruitment.models import Model, fit_model

HOLDOUT_SHARE = 0.25
MIN_HOLDOUT_MONTHS = 2.0
MARGIN = 1.0


@dataclass(frozen=True)
class Selection:
    model: Model
    holdout_months: float
    scores: dict[str, float]  # held-out log predictive probability per candidate
    reason: str


def holdout_months(evidence: Evidence) -> float:
    span = -float(evidence.start[evidence.open].min()) if evidence.open.any() else 0.0
    return max(MIN_HOLDOUT_MONTHS, HOLDOUT_SHARE * span)


def holdout_score(evidence: Evidence, model: Model, months: float) -> float | None:
    """Log predictive probability of the last ``months`` of counts, fitted on the rest."""
    past = evidence.truncated(months)
    if past.counts.sum() == 0 or not past.open.any():
        return None
    fitted = fit_model(past, model if model is Model.DECLINING else Model.PLUG_IN)
    delta = fitted.delta
    begin = np.maximum(evidence.start, -months) + months
    finish = evidence.end + months
    window = window_exposure(begin, finish, delta)
    seen = window > 0
    k = (evidence.counts - past.counts)[seen]
    shape = fitted.alpha + past.counts[seen]
    rate = fitted.beta + past.exposure(delta)[seen]
    w = window[seen]
    return float(np.sum(gammaln(shape + k) - gammaln(shape) - gammaln(k + 1)
                        + shape * np.log(rate / (rate + w)) + k * np.log(w / (rate + w))))


def select_model(evidence: Evidence) -> Selection:
    months = holdout_months(evidence)
    constant = holdout_score(evidence, Model.POISSON_GAMMA, months)
    declining = holdout_score(evidence, Model.DECLINING, months)
    if constant is None or declining is None:
        return Selection(Model.POISSON_GAMMA, months, {},
                         "no randomization before the held-out window: constant rates")
    scores = {Model.POISSON_GAMMA.value: round(constant, 4),
              Model.DECLINING.value: round(declining, 4)}
    gain = declining - constant
    if gain > MARGIN:
        return Selection(Model.DECLINING, months, scores,
                         f"declining rates predict the last {months:.1f} months "
                         f"{gain:.1f} nats better")
    if gain < -MARGIN:
        return Selection(Model.POISSON_GAMMA, months, scores,
                         f"constant rates predict the last {months:.1f} months "
                         f"{-gain:.1f} nats better")
    return Selection(Model.AVERAGED, months, scores,
                     f"neither predicts the last {months:.1f} months more than "
                     f"{MARGIN:g} nat better: averaged")
