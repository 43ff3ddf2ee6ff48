"""What the rate models are fitted to: per-site exposure windows and arrival times.

Times are months relative to the cut (0). A site's window is [start, end]
(start < end ≤ 0 for sites that have been open); its count is the number of
randomizations inside. With rates declining as g(t) = e^{−δ t} (g(0) = 1, so
λ is the rate at the cut) the exposure of a window is
E(δ) = ∫_start^end e^{−δ t} dt, which is end − start when δ = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.recruitment.history import RecruitmentHistory


@dataclass(frozen=True)
class Evidence:
    start: np.ndarray  # months; sites not open at the cut have start ≥ 0
    end: np.ndarray  # months ≤ 0: closure or the cut
    counts: np.ndarray  # randomizations in [start, end]
    arrival_months: np.ndarray
    arrival_site: np.ndarray

    @property
    def open(self) -> np.ndarray:
        return self.start < self.end

    def exposure(self, delta: float | np.ndarray = 0.0) -> np.ndarray:
        """E_i(δ) per site; ``delta`` may be a (sims,) array, giving (sims, sites)."""
        return window_exposure(self.start, self.end, delta)

    def truncated(self, months_back: float) -> Evidence:
        """The evidence as it stood ``months_back`` earlier, re-centred on that cut."""
        at = -months_back
        before = self.arrival_months < at
        sites = len(self.start)
        counts = np.bincount(self.arrival_site[before], minlength=sites)
        start = self.start - at
        end = np.where(start < 0, np.minimum(self.end, at) - at, start)
        return Evidence(start, end, counts.astype(float), self.arrival_months[before] - at,
                        self.arrival_site[before])


def window_exposure(start: np.ndarray, end: np.ndarray,
                    delta: float | np.ndarray = 0.0) -> np.ndarray:
    """∫_start^end e^{−δ t} dt (0 for empty windows), broadcast over δ as rows."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    delta = np.asarray(delta, float)
    length = np.clip(end - start, 0.0, None)
    if delta.ndim == 1:
        delta = delta[:, None]
    small = np.abs(delta) < 1e-9
    safe = np.where(small, 1.0, delta)
    # e^{−δ end}(e^{δ length} − 1)/δ, written to stay accurate as δ → 0
    decayed = np.exp(-safe * end) * np.expm1(safe * length) / safe
    return np.where(small, length, decayed)


def evidence_of(history: RecruitmentHistory) -> Evidence:
    sites = history.sites
    start = np.where(sites["opened_months"].to_numpy() < 0, sites["opened_months"].to_numpy(),
                     sites["opens"].to_numpy())
    end = np.where(start < 0, start + sites["exposure"].to_numpy(), start)
    end = np.minimum(end, 0.0)
    return Evidence(start.astype(float), end.astype(float),
                    sites["count"].to_numpy(dtype=float),
                    np.asarray(history.arrival_months, float),
                    np.asarray(history.arrival_site, int))
