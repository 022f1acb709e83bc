"""Theta models (Assimakopoulos & Nikolopoulos 2000; Fiorucci et al. 2016), many series at once.

Seasonality is handled as in the M3 competition and R's ``forecast::thetaf``: when m > 1, n >= 2m
and the lag-m autocorrelation is significant at 90 %, |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n),
the series is divided by the seasonal indices of a classical multiplicative decomposition (2 x m
centred moving-average trend, the mean ratio to it by position, normalised to mean 1) and the
forecasts are multiplied back.

On the adjusted series y_1 .. y_n the state space form of Fiorucci, Pellegrini, Louzada,
Petropoulos & Koehler (2016, Int. J. Forecasting 32:1151, eqs. 5-9) gives, for t >= 1,

    mu_{t+1} = l_t + (1 - 1/theta) (A_t (1 - alpha)^t + B_t (1 - (1 - alpha)^{t+1}) / alpha)
    l_{t+1}  = alpha y_{t+1} + (1 - alpha) l_t,  l_1 = alpha y_1 + (1 - alpha) l_0

with A_t, B_t the intercept and slope of the least squares line through y_1 .. y_t (``dynamic``:
updated every period, B_{t+1} = ((t - 1) B_t + 6 (y_{t+1} - ybar_t) / (t + 1)) / (t + 2),
A_{t+1} = ybar_{t+1} - B_{t+1} (t + 2) / 2, A_1 = y_1, B_1 = 0, mu_1 = y_1) or of the whole series
(static: A_n, B_n throughout, mu_1 = l_0 + (1 - 1/theta)(A_n + B_n)). Forecasts run the same
recursion on with y replaced by mu. The four models: STM (static, theta = 2: the classic Theta
method, Hyndman & Billah 2003), OTM (static, theta estimated), DSTM (dynamic, theta = 2) and DOTM
(dynamic, theta estimated). l_0, alpha in [0.1, 0.99] and theta >= 1 minimise the in-sample mean
squared error; ``variant: auto`` keeps the model with the smallest one (as statsforecast's AutoTheta).
The default is STM: on the M3 validation window (the 18 months before the hold-out) the four scored
a mean MASE of 0.73 (STM, DSTM, DOTM) and 0.80 (OTM), and choosing by in-sample error picked the
over-fitted OTM too often (0.75).

Spreads: sigma sqrt(1 + (h - 1) alpha^2) of simple exponential smoothing (the theta line's
smoother; an approximation for the theta models) times the seasonal index. A forecast below 0 of a
non-negative series is floored at 0 and :attr:`Theta.notes` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from stocklab.envs.core.errors import ConfigError
from stocklab.envs.forecast.base import Forecaster
from stocklab.envs.forecast.ets_model import _centred_ma
from stocklab.envs.forecast.optim import batched_nelder_mead

#: One-sided 90 % normal quantile of the seasonality test.
Z90 = 1.6448536269514722
ALPHA_RANGE = (0.1, 0.99)
#: (dynamic, theta estimated) of each model.
VARIANTS: dict[str, tuple[bool, bool]] = {
    "stm": (False, False),
    "otm": (False, True),
    "dstm": (True, False),
    "dotm": (True, True),
}


def acf(x: np.ndarray, lags: int) -> np.ndarray:
    """Sample autocorrelations r_1 .. r_lags (the usual biased estimator, denominator n)."""
    d = x - x.mean()
    denom = float(d @ d)
    if denom == 0:
        return np.zeros(lags)
    return np.array([float(d[k:] @ d[:-k]) / denom for k in range(1, lags + 1)])


def is_seasonal(y: np.ndarray, m: int) -> bool:
    """The 90 % autocorrelation test of the module docstring."""
    if m < 2 or len(y) < 2 * m:
        return False
    r = acf(y, m)
    limit = Z90 * np.sqrt((1.0 + 2.0 * np.sum(r[:-1] ** 2)) / len(y))
    return bool(abs(r[-1]) > limit)


def seasonal_indices(y: np.ndarray, m: int) -> np.ndarray:
    """Classical multiplicative decomposition's seasonal indices by position t mod m (mean 1)."""
    trend = _centred_ma(y, m)
    ok = np.isfinite(trend) & (trend != 0)
    pos = np.arange(len(y)) % m
    ratio = np.where(ok, y / np.where(ok, trend, 1.0), np.nan)
    idx = np.array([np.nanmean(ratio[pos == j]) if (ok & (pos == j)).any() else 1.0 for j in range(m)])
    return idx / idx.mean()


def ols_path(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts A_t and slopes B_t of the least squares lines through y_1 .. y_t, t = 1 .. n.

    Computed by the dynamic updates of the module docstring (A_1 = y_1, B_1 = 0).
    """
    n = len(y)
    a, b = np.empty(n), np.empty(n)
    a[0], b[0], mean = y[0], 0.0, y[0]
    for i in range(1, n):  # i observations seen before y[i]
        b[i] = ((i - 1) * b[i - 1] + 6.0 * (y[i] - mean) / (i + 1)) / (i + 2)
        mean = (i * mean + y[i]) / (i + 1)
        a[i] = mean - b[i] * (i + 2) / 2.0
    return a, b


@dataclass
class _Panel:
    """Adjusted series of one variant, zero-padded to (T, B) time-major arrays."""

    x: np.ndarray
    n: np.ndarray
    a: np.ndarray  # (T, B) A_t (dynamic) or A_n repeated
    b: np.ndarray
    dynamic: bool
    free_theta: bool
    scale: np.ndarray


def _panel(xs: list[np.ndarray], dynamic: bool, free_theta: bool) -> _Panel:
    big_t, count = max(len(x) for x in xs), len(xs)
    x_arr, a_arr, b_arr = np.zeros((big_t, count)), np.zeros((big_t, count)), np.zeros((big_t, count))
    for i, x in enumerate(xs):
        n = len(x)
        x_arr[:n, i] = x
        a, b = ols_path(x)
        if dynamic:
            a_arr[:n, i], b_arr[:n, i] = a, b
        else:
            a_arr[:n, i], b_arr[:n, i] = a[-1], b[-1]
    scale = np.array([max(float(np.std(x)), 1e-3 * (1.0 + abs(float(np.mean(x))))) for x in xs])
    lengths = np.array([len(x) for x in xs])
    return _Panel(x_arr, lengths, a_arr, b_arr, dynamic, free_theta, scale)


def _coords(panel: _Panel, u: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """l_0, alpha, theta from unconstrained coordinates (l_0 offset from y_1 in series scales)."""
    lo, hi = ALPHA_RANGE
    alpha = lo + (hi - lo) / (1.0 + np.exp(-np.clip(u[:, 1], -30, 30)))
    theta = 1.0 + np.exp(np.clip(u[:, 2], -30, 30)) if panel.free_theta else np.full(len(rows), 2.0)
    level0 = panel.x[0, rows] + panel.scale[rows] * u[:, 0]
    return level0, alpha, theta


def _filter(panel: _Panel, u: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-sample one-step forecasts mu (T, k), final levels, and the mean squared errors (k,)."""
    level0, alpha, theta = _coords(panel, u, rows)
    n = panel.n[rows]
    big_t = int(n.max())
    x, a, b = panel.x[:big_t, rows], panel.a[:big_t, rows], panel.b[:big_t, rows]
    weight = 1.0 - 1.0 / theta
    mu = np.zeros((big_t, len(rows)))
    if panel.dynamic:
        mu[0] = x[0]
    else:
        mu[0] = level0 + weight * (a[0] + b[0])
    level = alpha * x[0] + (1.0 - alpha) * level0
    final = level.copy()
    decay = 1.0 - alpha
    power = decay.copy()  # (1 - alpha)^t
    for t in range(1, big_t):
        mu[t] = level + weight * (a[t - 1] * power + b[t - 1] * (1.0 - power * decay) / alpha)
        live = t < n
        level = np.where(live, alpha * x[t] + decay * level, level)
        final = np.where(live, level, final)
        power = power * decay
    err = np.where(np.arange(big_t)[:, None] < n[None, :], x - mu, 0.0)
    return mu, final, (err**2).sum(axis=0) / n


@dataclass
class _Fit:
    """One variant fitted to every series.

    Coordinates (B, 3), in-sample MSEs, one-step forecasts (T, B) and final levels (adjusted units).
    """

    variant: str
    u: np.ndarray
    mse: np.ndarray
    mu: np.ndarray
    level: np.ndarray


def _fit_variant(xs: list[np.ndarray], variant: str) -> _Fit:
    """Fit one variant to every adjusted series in one batch."""
    dynamic, free_theta = VARIANTS[variant]
    panel = _panel(xs, dynamic, free_theta)
    u0 = np.tile([0.0, 0.0, 0.0], (len(xs), 1))  # l_0 = y_1, alpha ~ 0.55, theta = 2
    u, _ = batched_nelder_mead(lambda x, rows: _filter(panel, x, rows)[2], u0, np.array([0.5, 1.0, 1.0]))
    everyone = np.arange(len(xs))
    mu, level, mse = _filter(panel, u, everyone)
    return _Fit(variant, u, mse, mu, level)


class Theta(Forecaster):
    """Theta models (module docstring).

    ``variant``: stm (default) | otm | dstm | dotm | auto (least in-sample MSE of the four);
    ``seasonal_test: false`` never deseasonalises.
    """

    name = "theta"
    min_length = 4
    CHOICES: ClassVar[tuple[str, ...]] = ("auto", *VARIANTS)

    def __init__(self, season: int = 1, variant: str = "stm", seasonal_test: bool = True) -> None:
        super().__init__(season)
        if variant not in self.CHOICES:
            raise ConfigError(f"theta: variant (={variant!r}) must be one of {', '.join(self.CHOICES)}")
        self.variant = variant
        self.seasonal_test = bool(seasonal_test)
        self.indices = np.ones(1)
        self.chosen = ""
        self.alpha, self.theta, self.level0, self.level, self.sigma_x = 0.5, 2.0, 0.0, 0.0, 0.0
        self._x = np.empty(0)

    @property
    def spec(self) -> str:
        """The chosen model with its parameters, once fitted."""
        if not self.chosen:
            return ""
        kind = "seasonal" if len(self.indices) > 1 else "non-seasonal"
        return f"{self.chosen.upper()}, {kind}, alpha={self.alpha:.3f}, theta={self.theta:.3f}"

    @classmethod
    def fit_many(cls, ys: list[np.ndarray], season: int = 1, **params: object) -> Sequence[Forecaster]:
        """Fit every series, each variant's optimisations in one batch."""
        models = [cls(season, **params) for _ in ys]  # type: ignore[arg-type]
        if not models:
            return []
        arrays = [model.check(y) for model, y in zip(models, ys)]
        xs = [model._adjust(y) for model, y in zip(models, arrays)]
        variants = list(VARIANTS) if models[0].variant == "auto" else [models[0].variant]
        fits = [_fit_variant(xs, v) for v in variants]
        for i, (model, y) in enumerate(zip(models, arrays)):
            model._adopt(y, i, min(fits, key=lambda fit: fit.mse[i]))
        return models

    def _fit(self, y: np.ndarray) -> np.ndarray:
        other = type(self).fit_many([y], self.season, variant=self.variant, seasonal_test=self.seasonal_test)[
            0
        ]
        self.__dict__.update(other.__dict__)
        return self.fitted

    def _adjust(self, y: np.ndarray) -> np.ndarray:
        m = self.season
        seasonal = self.seasonal_test and (y > 0).all() and is_seasonal(y, m)
        self.indices = seasonal_indices(y, m) if seasonal else np.ones(1)
        return y / self._season_of(np.arange(len(y)))

    def _adopt(self, y: np.ndarray, i: int, fit: _Fit) -> None:
        self.y, self.chosen = y, fit.variant
        n = len(y)
        self._x = y / self._season_of(np.arange(n))
        one = _panel([self._x], *VARIANTS[fit.variant])
        level0, alpha, theta = _coords(one, fit.u[i : i + 1], np.array([0]))
        self.level0, self.alpha, self.theta = float(level0[0]), float(alpha[0]), float(theta[0])
        self.level = float(fit.level[i])
        self.sigma_x = float(np.sqrt(fit.mse[i]))
        self.fitted = fit.mu[:n, i] * self._season_of(np.arange(n))

    def _season_of(self, t: np.ndarray) -> np.ndarray:
        return self.indices[t % len(self.indices)]

    def _raw(self, h: int) -> np.ndarray:
        """Run the recursion on past the data with y replaced by mu (adjusted units)."""
        dynamic, _ = VARIANTS[self.chosen]
        x = self._x
        n = len(x)
        a, b = ols_path(x)
        alpha, weight, level = self.alpha, 1.0 - 1.0 / self.theta, self.level
        mean, big_a, big_b = float(x.mean()), float(a[-1]), float(b[-1])
        out = np.empty(h)
        for k in range(h):
            t = n + k  # observations (real or forecast) seen
            power = (1.0 - alpha) ** t
            out[k] = level + weight * (big_a * power + big_b * (1.0 - power * (1.0 - alpha)) / alpha)
            level = alpha * out[k] + (1.0 - alpha) * level
            if dynamic:
                big_b = ((t - 1) * big_b + 6.0 * (out[k] - mean) / (t + 1)) / (t + 2)
                mean = (t * mean + out[k]) / (t + 1)
                big_a = mean - big_b * (t + 2) / 2.0
        return out * self._season_of(n + np.arange(h))

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods, floored at 0 for a non-negative series."""
        return self.floored(self._raw(h))

    def predict_std(self, h: int) -> np.ndarray:
        """Spreads of simple exponential smoothing times the seasonal index (module docstring)."""
        k = np.arange(h)
        sd = self.sigma_x * np.sqrt(1.0 + k * self.alpha**2)
        return sd * self._season_of(len(self.y) + k)
