"""Regression forecasters on calendar and lag features: linear least squares and (boosted) trees.

Both predict one period from features of the periods before it and forecast h periods ahead
recursively (each forecast becomes the lag of the next). The calendar feature is the position in
the season, t mod m, counted from the first period of the series. scikit-learn is imported when a
tree is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.envs.forecast.base import Forecaster


class _Recursive(Forecaster):
    """Shared plumbing: a one-step regression on features of the past, applied recursively."""

    def _first(self, n: int) -> int:
        """First period with all features available."""
        raise NotImplementedError

    def _row(self, y: np.ndarray, t: int) -> np.ndarray:
        """Features predicting y[t] from y[:t]."""
        raise NotImplementedError

    def _target(self, y: np.ndarray, t: int) -> float:
        return float(y[t])

    def _untarget(self, y: np.ndarray, t: int, value: float) -> float:
        return value

    def _regress(self, x: np.ndarray, target: np.ndarray) -> None:
        raise NotImplementedError

    def _apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, y: np.ndarray) -> np.ndarray:
        start = self._first(len(y))
        rows = range(start, len(y))
        x = np.array([self._row(y, t) for t in rows])
        self._regress(x, np.array([self._target(y, t) for t in rows]))
        fitted = np.full(len(y), np.nan)
        raw = self._apply(x)
        fitted[start:] = [self._untarget(y, t, v) for t, v in zip(rows, raw)]
        return fitted

    def predict(self, h: int) -> np.ndarray:
        path = np.concatenate([self.y, np.zeros(h)])
        n = len(self.y)
        for t in range(n, n + h):
            raw = float(self._apply(self._row(path, t)[None, :])[0])
            path[t] = self._untarget(path, t, raw)
        return self.floored(path[n:])


class Regression(_Recursive):
    """Linear regression y_t = b0 + b1 t + sum_j c_j [t mod m = j] + a1 y_{t-1} + a_m y_{t-m} + e_t.

    Fitted by least squares (a tiny ridge keeps short series solvable). Season dummies are used with at least
    two seasons plus two periods of data, the seasonal lag with three seasons.
    """

    name = "regression"
    min_length = 4

    def _setup(self, n: int) -> None:
        m = self.season
        self._dummies = m > 1 and n >= 2 * m + 2
        self._seasonal_lag = m > 1 and n >= 3 * m

    def _first(self, n: int) -> int:
        self._setup(n)
        return self.season if self._seasonal_lag else 1

    def _row(self, y: np.ndarray, t: int) -> np.ndarray:
        parts = [1.0, float(t), y[t - 1]]
        if self._seasonal_lag:
            parts.append(y[t - self.season])
        if self._dummies:
            d = np.zeros(self.season - 1)
            pos = t % self.season
            if pos:
                d[pos - 1] = 1.0
            return np.concatenate([parts, d])
        return np.asarray(parts)

    def _regress(self, x: np.ndarray, target: np.ndarray) -> None:
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
        xs = x / scale
        ridge = 1e-6 * np.eye(x.shape[1])
        self._coef = np.linalg.solve(xs.T @ xs + ridge, xs.T @ target) / scale

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return x @ self._coef


class Tree(_Recursive):
    """Gradient-boosted regression trees or one regression tree, on de-levelled lags.

    ``boosted: true``: scikit-learn's GradientBoostingRegressor, 100 trees of depth 3; else one
    regression tree (depth 4). Trees cannot extrapolate a level, so they
    model y_t minus the local level L_t (mean of the last k = max(m, 3) periods) from the position
    in the season, y_{t-1} - L_t, y_{t-2} - L_t and y_{t-m} - L_t.
    """

    name = "tree"
    min_length = 8

    def __init__(self, season: int = 1, boosted: bool = True, seed: int = 0) -> None:
        super().__init__(season)
        self.boosted = bool(boosted)
        self.seed = int(seed)

    @property
    def _k(self) -> int:
        return max(self.season, 3)

    def _first(self, n: int) -> int:
        return max(self._k, self.season, 2)

    def _level(self, y: np.ndarray, t: int) -> float:
        return float(y[t - self._k : t].mean())

    def _row(self, y: np.ndarray, t: int) -> np.ndarray:
        level = self._level(y, t)
        return np.array([t % self.season, y[t - 1] - level, y[t - 2] - level, y[t - self.season] - level])

    def _target(self, y: np.ndarray, t: int) -> float:
        return float(y[t]) - self._level(y, t)

    def _untarget(self, y: np.ndarray, t: int, value: float) -> float:
        return value + self._level(y, t)

    def _regress(self, x: np.ndarray, target: np.ndarray) -> None:
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.tree import DecisionTreeRegressor

        model: Any
        if self.boosted:
            model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=self.seed)
        else:
            model = DecisionTreeRegressor(max_depth=4, min_samples_leaf=3, random_state=self.seed)
        self._model = model.fit(x, target)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return self._model.predict(x)
