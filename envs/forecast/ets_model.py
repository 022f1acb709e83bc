"""ETS models: their names, parameters, fitted states, forecasts and heuristic initial states.

The family, equations and references are described in :mod:`stocklab.envs.forecast.ets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: A forecast above GUARD_FACTOR x the series' maximum is refused (as is a negative one).
GUARD_FACTOR = 10.0
#: Bounds of the damping parameter phi (forecast::ets' defaults).
PHI_RANGE = (0.8, 0.98)
#: Smoothing parameters stay inside (EPS, 1 - EPS).
EPS = 1e-4
#: A fit stops once its simplex's -2 log L values differ by less than FTOL (1 + |-2 log L|).
FTOL = 1e-7


@dataclass(frozen=True)
class Spec:
    """One ETS model: error 'A' | 'M', trend 'N' | 'A' | 'Ad', season 'N' | 'A' | 'M'."""

    error: str
    trend: str
    season: str

    def __str__(self) -> str:
        return f"{self.error},{self.trend},{self.season}"

    def n_params(self, m: int) -> int:
        """K of the AICc: smoothing parameters, initial states (m - 1 seasonal) and sigma."""
        k = 2 + 1  # alpha, l0, sigma
        if self.trend != "N":
            k += 2 + (self.trend == "Ad")  # beta, b0 (, phi)
        if self.season != "N":
            k += 1 + (m - 1)  # gamma, seasonal states
        return k

    @property
    def positive_only(self) -> bool:
        """Multiplicative error or season: only for series with every value > 0."""
        return self.error == "M" or self.season == "M"


#: The candidate models (forecast::ets without additive error with multiplicative season).
SPECS: tuple[Spec, ...] = tuple(
    Spec(e, t, s)
    for e in ("A", "M")
    for t in ("N", "A", "Ad")
    for s in ("N", "A", "M")
    if not (e == "A" and s == "M")
)


@dataclass
class Candidate:
    """One fitted model of one series: parameters, final states, sigma and AICc."""

    spec: Spec
    alpha: float
    beta: float
    gamma: float
    phi: float
    level: float
    trend: float
    seasons: np.ndarray  # (m,): position j holds the state of periods t = j (mod m)
    n: int
    sigma: float  # of eps: units for additive error, relative for multiplicative
    aicc: float
    fitted: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # one-step forecasts

    def forecast(self, h: int) -> np.ndarray:
        """Point forecasts of periods n + 1 .. n + h (units)."""
        k = np.arange(1, h + 1)
        phis = _phi_sums(self.phi, h) if self.spec.trend != "N" else np.zeros(h)
        base = self.level + phis * self.trend
        s = self.seasons[(self.n - 1 + k) % len(self.seasons)]
        if self.spec.season == "M":
            return base * s
        return base + (s if self.spec.season == "A" else 0.0)

    def forecast_std(self, h: int) -> np.ndarray:
        """Standard deviations of the 1 .. h-step forecast errors (units).

        sigma sqrt(1 + sum_{j<h} c_j^2), c_j = alpha + beta phi_j + gamma [j = 0 mod m] (Hyndman et
        al. 2008, Table 6.1, class 1); for multiplicative errors the relative sigma is multiplied by
        the point forecast (an approximation of classes 2-3).
        """
        m = len(self.seasons)
        j = np.arange(1, h)
        phis = _phi_sums(self.phi, h - 1) if self.spec.trend != "N" else np.zeros(h - 1)
        c = self.alpha + self.beta * phis + self.gamma * ((j % m == 0) & (self.spec.season != "N"))
        var = 1.0 + np.concatenate([[0.0], np.cumsum(c**2)])
        sd = self.sigma * np.sqrt(var)
        return sd * np.abs(self.forecast(h)) if self.spec.error == "M" else sd


def _phi_sums(phi: float, h: int) -> np.ndarray:
    """Phi + phi^2 + ... + phi^k for k = 1 .. h (k itself when phi = 1)."""
    return np.cumsum(phi ** np.arange(1, h + 1))


# -------------------------------------------------------------------------------------- initial states
def initial_states(y: np.ndarray, m: int, season: str) -> tuple[float, float, np.ndarray]:
    """Heuristic initial level, trend and seasonal states (Hyndman et al. 2008, sec. 2.6.1).

    Seasonal states: a 2 x m centred moving average of the first (up to three) whole seasons as
    trend, the data divided by it (season M) or minus it (season A), averaged by position and
    normalised to mean 1 (M) or 0 (A). Level and trend: least squares line through the first
    (up to ten) seasonally adjusted values, the level placed one period before the first value.
    """
    seasons = np.zeros(m) if season != "M" else np.ones(m)
    x = y
    if season != "N" and m > 1:
        k = m * min(3, len(y) // m)
        first = y[:k]
        trend = _centred_ma(first, m)
        ok = np.isfinite(trend)
        pos = np.arange(k) % m
        detr = first / trend if season == "M" else first - trend
        idx = np.array([detr[ok & (pos == j)].mean() for j in range(m)])
        seasons = idx / idx.mean() if season == "M" else idx - idx.mean()
        full = seasons[np.arange(len(y)) % m]
        x = y / full if season == "M" else y - full
    n0 = min(len(x), 10)
    t = np.arange(n0, dtype=float)
    slope, intercept = np.polyfit(t, x[:n0], 1) if n0 >= 2 else (0.0, float(x[0]))
    return float(intercept - slope), float(slope), seasons


def _centred_ma(y: np.ndarray, m: int) -> np.ndarray:
    """2 x m centred moving average (plain m-term one for odd m); NaN where it is not defined."""
    out = np.full(len(y), np.nan)
    if m % 2:
        w = np.ones(m) / m
        half = m // 2
    else:
        w = np.concatenate([[0.5], np.ones(m - 1), [0.5]]) / m
        half = m // 2
    if len(y) >= len(w):
        out[half : len(y) - half] = np.convolve(y, w, mode="valid")
    return out
