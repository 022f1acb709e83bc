"""Forecasters of a demand series: one small class per method behind one interface, and a fit cache.

A forecaster is fitted on a series y_1 .. y_n (units per period) and then gives the point forecasts
(:meth:`Forecaster.predict`) and their standard deviations (:meth:`Forecaster.predict_std`) of the next
h periods. ``season`` is the number of periods per seasonal cycle (12 for monthly data; 1 = none).

=================  ===========================================================================
name               method
=================  ===========================================================================
naive              last value (random walk)
seasonal_naive     value one season earlier
moving_average     mean of the last ``window`` values
ets                exponential smoothing / Holt-Winters, additive state-space form chosen by AIC
                   (:mod:`stocklab.envs.forecast.stats`)
arima              (seasonal) ARIMA, orders chosen by a stepwise AIC search
regression         linear regression on trend, calendar (season position) and lag features
                   (:mod:`stocklab.envs.forecast.ml`)
tree               gradient-boosted (or single) regression trees on calendar and lag features
croston / sba      Croston's method for intermittent demand / the Syntetos-Boylan approximation
=================  ===========================================================================

Spreads: the naive family and the statistical models give their h-step predictive standard
deviations; the regression, tree, moving-average and Croston forecasters give the spread of their
in-sample one-step errors for every horizon (optimistic for long horizons).

:func:`fit_forecaster` caches fitted models per (series values up to the cutoff, model, parameters),
so a backtest, an env and a plot that need the same fit compute it once.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from stocklab.envs.core.errors import ConfigError, DataError, did_you_mean


class Forecaster:
    """Interface: ``fit(y)`` then ``predict(h)`` / ``predict_std(h)`` (units per period)."""

    name: ClassVar[str] = ""
    #: Fewest observations the method needs.
    min_length: ClassVar[int] = 2
    #: True for a global model: ``fit_many`` trains one model on all the series it is given.
    global_model: ClassVar[bool] = False

    def __init__(self, season: int = 1) -> None:
        if season < 1:
            raise ConfigError(f"{self.name}: season (={season}) must be >= 1")
        self.season = int(season)
        self.y = np.empty(0)
        self.fitted = np.empty(0)
        #: What the guard did at the last fit / predict (refused models, floored forecasts).
        self.notes: list[str] = []

    def fit(self, y: np.ndarray) -> Forecaster:
        """Fit on ``y`` (1-d, units per period).

        Sets ``fitted``: the one-step in-sample forecasts, NaN where the method has none yet.
        """
        y = self.check(y)
        self.y = y
        self.fitted = self._fit(y)
        return self

    def check(self, y: np.ndarray) -> np.ndarray:
        """``y`` as a float array; DataError when it is too short or has missing values."""
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or len(y) < self.min_length:
            raise DataError(
                f"{self.name}: needs a series of at least {self.min_length} periods (got {len(y)})"
            )
        if not np.isfinite(y).all():
            raise DataError(f"{self.name}: the series has missing or infinite values; clean it first")
        return y

    @classmethod
    def fit_many(cls, ys: list[np.ndarray], season: int = 1, **params: Any) -> Sequence[Forecaster]:
        """One fitted model per series (units per period); vectorised methods fit them in one batch."""
        return [cls(season, **params).fit(y) for y in ys]

    def _fit(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods."""
        raise NotImplementedError

    def predict_std(self, h: int) -> np.ndarray:
        """Standard deviation of the forecast errors of the next ``h`` periods (units).

        Default: the one-step residual spread for every horizon.
        """
        return np.full(h, self.sigma)

    def floored(self, forecast: np.ndarray) -> np.ndarray:
        """Floor a forecast of a non-negative series at 0.

        Demand cannot be negative: values below 0 become 0, and :attr:`notes` records it.
        """
        self.notes = [n for n in self.notes if "floored at 0" not in n]
        if len(self.y) and (self.y >= 0).all() and forecast.min() < 0:
            self.notes.append(f"{self.name}: forecast {forecast.min():.4g} < 0 floored at 0")
            return np.maximum(forecast, 0.0)
        return forecast

    @property
    def residuals(self) -> np.ndarray:
        """In-sample one-step errors y_t - fitted_t where the method had a forecast."""
        r = self.y - self.fitted
        return r[np.isfinite(r)]

    @property
    def sigma(self) -> float:
        """Root mean squared one-step error (0 when there is none)."""
        r = self.residuals
        return float(np.sqrt(np.mean(r**2))) if r.size else 0.0


class Naive(Forecaster):
    """Last value: yhat_{n+h} = y_n.

    Error variance sigma^2 h (random walk; Hyndman & Athanasopoulos, FPP3 section 5.5).
    """

    name = "naive"

    def _fit(self, y: np.ndarray) -> np.ndarray:
        return np.concatenate([[np.nan], y[:-1]])

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods: the last value repeated (units)."""
        return np.full(h, self.y[-1])

    def predict_std(self, h: int) -> np.ndarray:
        """Error spread sigma * sqrt(h) for h = 1..``h`` (units), as for a random walk."""
        return self.sigma * np.sqrt(np.arange(1, h + 1))


class SeasonalNaive(Forecaster):
    """Value one season earlier: yhat_{n+h} = y_{n+h-m(k+1)}, k = floor((h-1)/m).

    Error variance sigma^2 (k + 1) (FPP3 section 5.5). Falls back to naive when the series is shorter than a
    season.
    """

    name = "seasonal_naive"

    @property
    def _m(self) -> int:
        return self.season if len(self.y) > self.season else 1

    def _fit(self, y: np.ndarray) -> np.ndarray:
        m = self.season if len(y) > self.season else 1
        return np.concatenate([np.full(m, np.nan), y[:-m]])

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods: the last season repeated (units)."""
        m = self._m
        last = self.y[-m:]
        return last[np.arange(h) % m]

    def predict_std(self, h: int) -> np.ndarray:
        """Error spread sigma * sqrt(k + 1) with k = floor((h - 1) / m), for h = 1..``h`` (units)."""
        return self.sigma * np.sqrt(np.arange(h) // self._m + 1)


class MovingAverage(Forecaster):
    """Mean of the last ``window`` values, for every horizon."""

    name = "moving_average"

    def __init__(self, season: int = 1, window: int = 3) -> None:
        super().__init__(season)
        if window < 1:
            raise ConfigError(f"moving_average: window (={window}) must be >= 1")
        self.window = int(window)

    def _fit(self, y: np.ndarray) -> np.ndarray:
        k = self.window
        csum = np.concatenate([[0.0], np.cumsum(y)])
        fitted = np.full(len(y), np.nan)
        fitted[k:] = (csum[k:-1] - csum[: -k - 1]) / k
        return fitted

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods: the mean of the last ``window`` values (units)."""
        return np.full(h, self.y[-self.window :].mean())


class Croston(Forecaster):
    """Croston's method (Croston 1972, Oper. Res. Q. 23:289) for intermittent demand.

    At each period with demand y_t > 0, after q periods since the previous demand:
    z <- z + alpha (y_t - z) (size), p <- p + alpha (q - p) (interval); the forecast of every future
    period is z / p. ``sba`` multiplies it by (1 - alpha / 2), removing the bias of z / p (Syntetos &
    Boylan 2005, Int. J. Forecasting 21:303). Initial z and p: the first demand and its period number.
    """

    name = "croston"
    min_length = 1

    def __init__(self, season: int = 1, alpha: float = 0.1, variant: str = "croston") -> None:
        super().__init__(season)
        if not 0 < alpha <= 1:
            raise ConfigError(f"croston: alpha (={alpha}) must be in (0, 1]")
        if variant not in ("croston", "sba"):
            raise ConfigError(f"croston: variant (={variant!r}) must be 'croston' or 'sba'")
        self.alpha = float(alpha)
        self.variant = variant
        self._level = 0.0

    def _fit(self, y: np.ndarray) -> np.ndarray:
        a = self.alpha
        factor = 1.0 - a / 2.0 if self.variant == "sba" else 1.0
        fitted = np.full(len(y), np.nan)
        z: float | None = None  # smoothed demand size; None until the first demand
        p = 0.0  # smoothed interval between demands (periods)
        since = 0
        for t, value in enumerate(y):
            since += 1
            if z is not None:
                fitted[t] = factor * z / p
            if value > 0:
                if z is None:
                    z, p = float(value), float(since)
                else:
                    z += a * (value - z)
                    p += a * (since - p)
                since = 0
        self._level = 0.0 if z is None else factor * z / p
        return fitted

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts of the next ``h`` periods (units): z / p, times (1 - alpha / 2) for SBA."""
        return np.full(h, self._level)


class SBA(Croston):
    """Croston's method with the Syntetos-Boylan bias correction (``croston`` with variant ``sba``)."""

    name = "sba"

    def __init__(self, season: int = 1, alpha: float = 0.1) -> None:
        super().__init__(season, alpha, variant="sba")


#: The forecaster used when none is named: the most accurate on the M3 hold-out among those that fit
#: the 474 series in seconds (``stocklab bench forecast --accuracy``).
DEFAULT_FORECASTER = "combo"

#: Forecaster classes by name ("module:Class" for those importing statsmodels / scikit-learn when used).
FORECASTERS: dict[str, type[Forecaster] | str] = {
    "naive": Naive,
    "seasonal_naive": SeasonalNaive,
    "moving_average": MovingAverage,
    "ets": "stocklab.envs.forecast.ets:ETS",
    "auto": "stocklab.envs.forecast.ets:ETS",
    "theta": "stocklab.envs.forecast.theta:Theta",
    "arima": "stocklab.envs.forecast.stats:ARIMA",
    "combo": "stocklab.envs.forecast.combo:Combination",
    "ets_statsmodels": "stocklab.envs.forecast.stats:ETS",
    "regression": "stocklab.envs.forecast.ml:Regression",
    "tree": "stocklab.envs.forecast.ml:Tree",
    "gbm": "stocklab.envs.forecast.gbm:GradientBoosting",
    "lstm": "stocklab.envs.forecast.neural:LSTM",
    "prophet": "stocklab.envs.forecast.prophet:Prophet",
    "croston": Croston,
    "sba": SBA,
}


def forecaster_class(name: str) -> type[Forecaster]:
    """The class registered under ``name``; ConfigError listing the names otherwise."""
    entry = FORECASTERS.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown forecaster '{name}'.{did_you_mean(name, FORECASTERS)} Allowed: {', '.join(FORECASTERS)}"
        )
    if isinstance(entry, str):
        module, cls = entry.split(":")
        entry = getattr(importlib.import_module(module), cls)
        FORECASTERS[name] = entry
    return entry


def make_forecaster(name: str, season: int = 1, **params: Any) -> Forecaster:
    """A new, unfitted forecaster; ConfigError for an unknown name or parameter."""
    cls = forecaster_class(name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "season")]
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"forecaster '{name}': unknown parameter '{key}'.{did_you_mean(key, allowed)} "
                f"Allowed: {', '.join(allowed) or '(none)'}"
            )
    return cls(season, **params)


_CACHE: OrderedDict[tuple[Any, ...], Forecaster] = OrderedDict()
#: Fitted models kept by :func:`fit_forecaster` (least recently used dropped first).
CACHE_SIZE = 4096


def fit_forecaster(name: str, y: np.ndarray, season: int = 1, **params: Any) -> Forecaster:
    """Fit forecaster ``name`` on ``y``, reusing a cached fit of the same model on the same values.

    The key is (model, parameters, season, hash of the values), i.e. per (series, model, cutoff).
    Do not modify the returned object.
    """
    y = np.ascontiguousarray(y, dtype=float)
    digest = hashlib.blake2b(y.tobytes(), digest_size=16).hexdigest()
    key = (name, repr(sorted(params.items())), int(season), len(y), digest)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    model = make_forecaster(name, season, **params).fit(y)
    _CACHE[key] = model
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return model


def clear_cache() -> None:
    """Forget every cached fit."""
    _CACHE.clear()
