"""Feature-based gradient boosting: one global model for every series of a panel.

Rows of lags, rolling statistics, calendar position and promotion flags, scaled by each series'
local level (:mod:`stocklab.envs.forecast.features`), train one scikit-learn
``HistGradientBoostingRegressor`` (Friedman 2001, Ann. Statist. 29:1189; histogram binning as in
LightGBM, Ke et al. 2017) on the scaled next value of every period of every series: the "global"
approach of the M5 competition's winners (Makridakis, Spiliotis & Assimakopoulos 2022, Int. J.
Forecasting 38:1346). Forecasts are recursive; all series sharing a model are forecast together, one
model call per horizon step. scikit-learn's OpenMP threads are limited to one: on a busy two-core
machine more threads spin against each other and cost many times the CPU time.

Spreads: the root mean squared in-sample one-step error of the series, for every horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stocklab.envs.core.errors import ConfigError, DataError
from stocklab.envs.forecast.base import Forecaster
from stocklab.envs.forecast.features import feature_names, from_lags, target_levels, training_rows, window
from stocklab.envs.forecast.stats import quiet_single_thread


@dataclass
class _Shared:
    """The model all series of one ``fit_many`` share, and forecasts already computed by horizon."""

    model: Any
    season: int
    members: list[GradientBoosting] = field(default_factory=list)
    cache: dict[int, np.ndarray] = field(default_factory=dict)

    def forecasts(self, h: int) -> np.ndarray:
        """Recursive forecasts (members x h) of every member, computed once per horizon."""
        if h not in self.cache:
            w = window(self.season)
            ns = np.array([len(m.y) for m in self.members])
            # The last w values of every member, newest first; forecasts are pushed in front.
            lags = np.array([m.y[::-1][:w] for m in self.members])
            promos = [m.promo_path(h) for m in self.members]
            out = np.empty((len(self.members), h))
            for k in range(h):
                t = ns + k
                flags = np.array([0.0 if p is None else p[tk] for p, tk in zip(promos, t)])
                flags_lag = np.array([0.0 if p is None else p[tk - 1] for p, tk in zip(promos, t)])
                x, level = from_lags(lags, t, self.season, flags, flags_lag)
                with quiet_single_thread():
                    out[:, k] = np.maximum(self.model.predict(x), 0.0) * level
                lags = np.column_stack([out[:, k], lags[:, :-1]])
            self.cache[h] = out
        return self.cache[h]


class GradientBoosting(Forecaster):
    """Global gradient-boosted trees on engineered features (module docstring).

    ``max_iter`` boosting rounds of trees with at most ``max_leaf_nodes`` leaves and
    ``min_samples_leaf`` rows per leaf, learning rate ``learning_rate``; ``seed`` fixes the
    model's randomness. ``promotions``: one 0/1 flag per period for each series given to
    :meth:`fit_many`, covering the future periods to forecast where promotions are planned.
    """

    name = "gbm"
    global_model = True
    #: A series needs a full lag window (w = max(m, 4)) before its first row.
    min_length = 5

    def __init__(
        self,
        season: int = 1,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        seed: int = 0,
    ) -> None:
        super().__init__(season)
        if max_iter < 1 or not 0 < learning_rate <= 1:
            raise ConfigError(
                f"gbm: max_iter (={max_iter}) must be >= 1 and learning_rate (={learning_rate}) in (0, 1]"
            )
        self.settings = {
            "max_iter": int(max_iter), "learning_rate": float(learning_rate),
            "max_leaf_nodes": int(max_leaf_nodes), "min_samples_leaf": int(min_samples_leaf),
            "random_state": int(seed),
        }  # fmt: skip
        self.promo: np.ndarray | None = None
        self._shared: _Shared | None = None
        self._index = 0
        self._kwargs: dict[str, Any] = {"max_iter": max_iter, "learning_rate": learning_rate, "max_leaf_nodes": max_leaf_nodes,
                        "min_samples_leaf": min_samples_leaf, "seed": seed}  # fmt: skip

    @property
    def spec(self) -> str:
        """The model's size once fitted."""
        return f"global gradient boosting, {self.settings['max_iter']} rounds" if self._shared else ""

    def promo_path(self, h: int) -> np.ndarray | None:
        """Promotion flags of periods 0 .. n + h - 1 (zeros where none were given)."""
        if self.promo is None:
            return None
        out = np.zeros(len(self.y) + h)
        known = self.promo[: len(out)]
        out[: len(known)] = known
        return out

    @classmethod
    def fit_many(
        cls, ys: list[np.ndarray], season: int = 1, promotions: list[np.ndarray] | None = None, **params: Any
    ) -> Sequence[Forecaster]:
        """Train one model on every series (and their promotion flags) and return one view per series."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        members = [cls(season, **params) for _ in ys]
        if not members:
            return []
        arrays = [m.check(y) for m, y in zip(members, ys)]
        if promotions is not None and len(promotions) != len(ys):
            raise ConfigError(f"gbm: {len(promotions)} promotion series for {len(ys)} series")
        promos = None if promotions is None else [np.asarray(p, dtype=float) for p in promotions]
        x, target = training_rows(arrays, season, promos)
        if len(target) < 10:
            raise DataError(f"gbm: only {len(target)} training rows; the series are too short")
        names = feature_names(season)
        with quiet_single_thread():  # OpenMP threads spin against each other and other processes
            model = HistGradientBoostingRegressor(
                **members[0].settings, categorical_features=[names.index("position")], early_stopping=False
            ).fit(x, target)
            fitted = np.maximum(model.predict(x), 0.0) * target_levels(arrays, season)
        shared = _Shared(model, season, members)
        w, at = window(season), 0
        for i, (member, y) in enumerate(zip(members, arrays)):
            member.y, member._shared, member._index = y, shared, i
            member.promo = None if promos is None else promos[i]
            member.fitted = np.full(len(y), np.nan)
            if len(y) > w:
                member.fitted[w:] = fitted[at : at + len(y) - w]
                at += len(y) - w
        return members

    def _fit(self, y: np.ndarray) -> np.ndarray:
        other = type(self).fit_many([y], self.season, **self._kwargs)[0]
        self.__dict__.update(other.__dict__)
        self._shared.members[0] = self  # type: ignore[union-attr]
        return self.fitted

    def predict(self, h: int) -> np.ndarray:
        """Recursive forecasts of the next ``h`` periods (units), never below 0."""
        assert self._shared is not None
        return self._shared.forecasts(h)[self._index].copy()
