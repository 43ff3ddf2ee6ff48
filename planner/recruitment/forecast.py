"""Forecast one study's remaining recruitment: enrollment milestones and countries.

Per simulation: hyper-parameters from the chosen model, every site's rate at
the cut from its posterior (the prior for sites not open yet, which also fail
start-up with the study's excess-zero share), closed sites at rate 0, then the
arrival of the 25 %, 50 %, 75 % and 100 % of target subjects on the (possibly
declining) cumulative-rate clock. What-if sites (``ExtraSites``) are drawn from
a separate random stream, column by column, so adding sites never changes the
other draws and the probability of meeting a date only grows with more sites.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.domain import MilestoneKind
from planner.recruitment.evidence import Evidence, evidence_of
from planner.recruitment.history import RecruitmentHistory
from planner.recruitment.models import FittedModel, Model, fit_model
from planner.recruitment.selection import Selection, select_model
from planner.recruitment.simulate import decay_clock, from_decay_clock, needs_for, solve_clock

ENROLLMENT = ((MilestoneKind.ENROLLED_25, 0.25), (MilestoneKind.ENROLLED_50, 0.50),
              (MilestoneKind.ENROLLED_75, 0.75), (MilestoneKind.LPI, 1.0))
LONG_OPEN_MONTHS = 6.0  # sites open this long count towards the never-enroll share
MAX_NEVER_ENROLL = 0.5
HORIZON_MONTHS = 600.0  # beyond 50 years a milestone counts as never reached (inf)


@dataclass(frozen=True)
class ExtraSites:
    """What-if: ``count`` more sites in ``country`` opening ``opens`` months after the cut."""

    country: str
    count: int
    opens: float


@dataclass(frozen=True)
class RecruitmentForecast:
    history: RecruitmentHistory
    model: Model
    fits: tuple[FittedModel, ...]  # two (constant, declining) when the model is averaged
    selection: Selection | None
    milestones: tuple[tuple[MilestoneKind, int], ...]  # kind and subjects it needs
    months: np.ndarray  # (sims, milestones) months after the cut; 0 when already reached
    by_country: pd.DataFrame
    country_months: dict[str, np.ndarray]  # country → (sims, 4) months to 25..100 % of its
    # own target (sum of its sites' targets); inf when not reached before the study's LPI
    never_enroll: float
    extra: tuple[ExtraSites, ...]
    timings: dict[str, float] = field(default_factory=dict)

    def params(self) -> dict:
        """The fitted parameters (one set per model averaged) and the never-enroll share."""
        if len(self.fits) == 1:
            out = dict(self.fits[0].params())
        else:
            out = {fit.model.value: fit.params() for fit in self.fits}
        out["never_enroll_share"] = round(self.never_enroll, 4)
        return out

    def lpi_months(self) -> np.ndarray:
        return self.months[:, -1]

    def conversion(self) -> dict[str, float | int]:
        """Screenings still needed (observed screen-failure rate) and completers expected."""
        remaining = self.history.remaining
        sf = min(self.history.screen_fail_rate, 0.99)
        return {"remaining_randomized": remaining,
                "screen_fail_rate": round(sf, 4),
                "screenings_needed": math.ceil(remaining / (1 - sf)),
                "dropout_rate": round(self.history.dropout_rate, 4),
                "completers_expected": math.floor(
                    self.history.target * (1 - self.history.dropout_rate))}


def never_enroll_share(evidence: Evidence, fitted: FittedModel) -> float:
    """Share of long-open sites without a randomization beyond what the Gamma prior
    itself predicts (P(k=0) = (β/(β+τ))^α); the chance that a new site never enrolls."""
    exposure = evidence.exposure(0.0)
    long_open = evidence.open & (exposure >= LONG_OPEN_MONTHS)
    if long_open.sum() < 5:
        return 0.0
    observed = float(np.mean(evidence.counts[long_open] == 0))
    expected = float(np.mean((fitted.beta / (fitted.beta + exposure[long_open])) ** fitted.alpha))
    return float(np.clip((observed - expected) / max(1 - expected, 1e-9), 0, MAX_NEVER_ENROLL))


def _extra_rates(extra: Sequence[ExtraSites], history: RecruitmentHistory,
                 exposure: np.ndarray, alpha: np.ndarray, beta: np.ndarray, never: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Rates of what-if sites: Gamma(α, α/m_c) with m_c = (K_c + α)/(T_c + β) the
    country's shrunk pooled rate, T_c its sites' exposure on the model's (decayed)
    clock per simulation (the study's α/β when it has no site there); with
    their opening months, unit exponential draws for their closure, and countries."""
    rng = np.random.default_rng([seed, 7])
    sites = history.sites
    columns, waits, opens, countries = [], [], [], []
    for group in extra:
        in_country = (sites["country"] == group.country).to_numpy()
        pooled_k = float(sites.loc[in_country, "count"].sum())
        pooled_t = exposure[:, in_country].sum(axis=1)
        mean = (pooled_k + alpha) / (pooled_t + beta)
        for _ in range(group.count):
            rate = rng.gamma(alpha) / (alpha / mean)
            columns.append(rate * (rng.random(len(alpha)) >= never))
            waits.append(rng.exponential(size=len(alpha)))
            opens.append(group.opens)
            countries.append(group.country)
    if not columns:
        empty = np.zeros((len(alpha), 0))
        return empty, np.zeros(0), empty, []
    return np.column_stack(columns), np.array(opens, float), np.column_stack(waits), countries


def forecast_recruitment(history: RecruitmentHistory, sims: int = 10_000, seed: int = 0,
                         model: Model | None = None,
                         extra: Sequence[ExtraSites] = ()) -> RecruitmentForecast:
    """The forecast of ``history``'s study; ``model`` None picks one (selection rule)."""
    clock = time.perf_counter()
    evidence = evidence_of(history)
    selection = select_model(evidence) if model is None else None
    model = selection.model if selection else model
    fits = tuple(fit_model(evidence, m) for m in
                 ((Model.POISSON_GAMMA, Model.DECLINING) if model is Model.AVERAGED else (model,)))
    never = never_enroll_share(evidence, fits[0])
    fitted_at = time.perf_counter()

    rng = np.random.default_rng(seed)
    shares = np.array_split(np.arange(sims), len(fits))  # averaged: half the sims from each
    draws = [fit.draw(len(part), rng) for fit, part in zip(fits, shares, strict=True)]
    alpha, beta, delta = (np.concatenate(column) for column in zip(*draws, strict=True))
    lam = _site_rates(evidence, alpha, beta, delta, rng)
    sites = history.sites
    future = sites["opens"].to_numpy() > 0
    lam[:, future] *= rng.random((sims, int(future.sum()))) >= never
    lam[:, sites["closed"].to_numpy()] = 0.0
    base_waits = rng.exponential(size=lam.shape)  # closures, used if any site has closed
    extra_lam, extra_opens, extra_waits, extra_countries = _extra_rates(
        extra, history, _exposure(evidence, delta), alpha, beta, never, seed)
    lam = np.hstack([lam, extra_lam])
    opens = np.concatenate([sites["opens"].to_numpy(float), extra_opens])
    countries = np.concatenate([sites["country"].to_numpy(str), np.array(extra_countries, str)])
    closing = _closures(history, opens, np.hstack([base_waits, extra_waits]), rng)
    if closing is not None:  # a closure is a site with the opposite rate opening then
        lam, opens = np.hstack([lam, -lam]), np.hstack([np.broadcast_to(opens, closing.shape),
                                                         closing])
        countries = np.concatenate([countries, countries])

    milestones = tuple((kind, math.ceil(history.target * share)) for kind, share in ENROLLMENT)
    remaining = np.array([max(n - history.randomized, 0) for _, n in milestones])
    needs = needs_for(remaining, sims, rng)
    declining = bool(np.any(delta > 0))
    on_clock = decay_clock(np.atleast_2d(opens), delta[:, None]) if declining else opens
    solved = solve_clock(lam, on_clock, needs)
    months = from_decay_clock(solved, delta[:, None]) if declining else solved
    months[months > HORIZON_MONTHS] = np.inf
    months[:, remaining == 0] = 0.0
    lpi_clock = np.where(np.isfinite(months[:, -1]), solved[:, -1], np.inf)
    by_country = _by_country(history, lam, on_clock, lpi_clock, countries, extra_countries)
    country_months = _country_targets(history, lam, on_clock, months[:, -1], countries,
                                      delta, seed)
    done = time.perf_counter()
    return RecruitmentForecast(history, model, fits, selection, milestones, months, by_country,
                               country_months, never, tuple(extra),
                               {"fit_seconds": round(fitted_at - clock, 4),
                                "simulate_seconds": round(done - fitted_at, 4)})


def _closures(history: RecruitmentHistory, opens: np.ndarray, waits: np.ndarray,
              rng: np.random.Generator) -> np.ndarray | None:
    """When sites of the study have closed: each site still recruiting closes after an
    exponential time at hazard h ~ Gamma(closed + ½, open site-months) (Jeffreys),
    counted from the cut or its opening. None when no site has closed yet."""
    sites = history.sites
    closed = int(sites["closed"].sum())
    if closed == 0:
        return None
    hazard = rng.gamma(closed + 0.5, size=len(waits)) / float(sites["exposure"].sum())
    return np.maximum(opens, 0.0)[None, :] + waits / hazard[:, None]


def _exposure(evidence: Evidence, delta: np.ndarray) -> np.ndarray:
    """E_i(δ) per simulation (sims, sites), or (1, sites) when nothing declines."""
    return evidence.exposure(delta if np.any(delta > 0) else np.zeros(1))


def _site_rates(evidence: Evidence, alpha: np.ndarray, beta: np.ndarray, delta: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Each site's rate at the cut per simulation: Gamma(α+k_i, β+E_i(δ))."""
    exposure = _exposure(evidence, delta)
    shape = alpha[:, None] + evidence.counts[None, :]
    return rng.gamma(shape) / (beta[:, None] + exposure)


def _country_targets(history: RecruitmentHistory, lam: np.ndarray, on_clock: np.ndarray,
                     lpi: np.ndarray, countries: np.ndarray, delta: np.ndarray, seed: int
                     ) -> dict[str, np.ndarray]:
    """When each country reaches 25/50/75/100 % of its own target (the sum of its sites'
    targets, when every site there has one): the country's own Poisson process given
    the same site rates (own random stream), counted as never where it comes after the
    study's LPI in that simulation, since recruitment stops at LPI."""
    sites = history.sites
    rng = np.random.default_rng([seed, 13])
    out = {}
    for country, group in sites.groupby("country"):
        if group["target"].isna().any():
            continue
        target = float(group["target"].sum())
        counts = [math.ceil(target * share) for _, share in ENROLLMENT]
        remaining = np.array([max(n - int(group["count"].sum()), 0) for n in counts])
        mine = countries == country
        clock = on_clock[:, mine] if np.ndim(on_clock) == 2 else on_clock[mine]
        solved = solve_clock(lam[:, mine], clock, needs_for(remaining, len(lam), rng))
        months = from_decay_clock(solved, delta[:, None]) if np.any(delta > 0) else solved
        months[months > lpi[:, None]] = np.inf
        months[:, remaining == 0] = 0.0
        out[str(country)] = months
    return out


def _by_country(history: RecruitmentHistory, lam: np.ndarray, on_clock: np.ndarray,
                lpi_clock: np.ndarray, countries: np.ndarray, added: list[str]
                ) -> pd.DataFrame:
    """Randomized by country at LPI: today's count plus the remaining subjects split in
    proportion to each country's cumulative intensity up to that simulation's LPI."""
    names, column = np.unique(countries, return_inverse=True)
    finite = np.isfinite(lpi_clock)
    reach = np.where(finite, lpi_clock, 0.0)[:, None]
    intensity = lam * np.clip(reach - on_clock, 0.0, None)  # closures: negative entries
    per_country = intensity @ np.eye(len(names))[column]  # sum the sites of each country
    totals = per_country.sum(axis=1, keepdims=True)
    share = np.divide(per_country, totals, out=np.zeros_like(per_country), where=totals > 0)
    sites = history.sites
    now = sites.groupby("country")["count"].sum().reindex(names, fill_value=0).to_numpy()
    final = now[None, :] + history.remaining * share[finite]
    p10, p50, p90 = (np.quantile(final, q, axis=0) if finite.any() else now * 1.0
                     for q in (0.1, 0.5, 0.9))
    recruiting = sites[(sites["opens"] == 0) & ~sites["closed"]].groupby("country").size()
    closed = sites[sites["closed"]].groupby("country").size()
    planned = sites[sites["opens"] > 0].groupby("country").size()
    added = pd.Series(added, dtype=object).value_counts()
    exposure = sites.groupby("country")["exposure"].sum().reindex(names, fill_value=0).to_numpy()
    return pd.DataFrame({
        "country": names,
        "sites_open": recruiting.reindex(names, fill_value=0).to_numpy(),
        "sites_closed": closed.reindex(names, fill_value=0).to_numpy(),
        "sites_planned": planned.reindex(names, fill_value=0).to_numpy(),
        "sites_added": added.reindex(names, fill_value=0).to_numpy(),
        "randomized": now.astype(int),
        "rate_per_site_month": np.round(np.divide(now, exposure, out=np.zeros(len(names)),
                                                  where=exposure > 0), 4),
        "at_lpi_p10": np.round(p10, 1), "at_lpi_p50": np.round(p50, 1),
        "at_lpi_p90": np.round(p90, 1),
    })
