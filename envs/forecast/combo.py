"""Forecast combination: the mean (or median) of several forecasters' forecasts.

Combining the forecasts of different methods is one of the most reliable ways to gain accuracy
(Bates & Granger 1969, Oper. Res. Q. 20:451; Makridakis et al. 2020, the M4 competition, Int. J.
Forecasting 36:54, where most of the best entries were combinations). ``combo`` combines
``members`` with equal weights:

    yhat_{n+h} = (1 / K) sum_k yhat^(k)_{n+h}    (``method: mean``)
    yhat_{n+h} = median_k yhat^(k)_{n+h}          (``method: median``)

The default members, automatic ETS, the Theta method and global gradient boosting, were chosen on
the M3 validation window (the 18 months before the hold-out; ``stocklab bench forecast``): a
statistical pair and a machine-learning model err differently, and their mean beat every member
and every pair. As gradient boosting is a global model, the combination fits all series it is given
together (:meth:`Combination.fit_many`), its local members in ``jobs`` processes.

The spread of the combination is taken as the mean of the members' standard deviations (members'
errors are strongly correlated; this is exact when they are perfectly correlated). In-sample
one-step forecasts combine the same way, NaN where a member has none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from stocklab.envs.core.errors import ConfigError, DataError
from stocklab.envs.forecast.base import Forecaster, forecaster_class

Progress = Callable[[int, int], None]

#: Members of ``combo`` when none are given.
DEFAULT_MEMBERS = ("ets", "theta", "gbm")


class Combination(Forecaster):
    """Equal-weight combination of ``members`` (module docstring); ``method`` mean | median."""

    name = "combo"
    min_length = 4
    #: Fitted on a whole panel at once (a member may be global).
    global_model = True
    METHODS: ClassVar[tuple[str, ...]] = ("mean", "median")

    def __init__(self, season: int = 1, members: Any = DEFAULT_MEMBERS, method: str = "mean") -> None:
        super().__init__(season)
        names = [members] if isinstance(members, str) else list(members)
        if len(names) < 2:
            raise ConfigError(f"combo: members (={names!r}) must name at least two forecasters")
        for member in names:
            if member == self.name:
                raise ConfigError("combo: a combination cannot be its own member")
            forecaster_class(member)  # unknown names fail here, with the allowed ones
        if method not in self.METHODS:
            raise ConfigError(f"combo: method (={method!r}) must be one of {', '.join(self.METHODS)}")
        self.members = tuple(names)
        self.method = method
        self.models: list[Forecaster] = []

    @property
    def spec(self) -> str:
        """The members and their chosen models."""
        parts = [f"{m.name}: {getattr(m, 'spec', '') or m.name}" for m in self.models]
        return f"{self.method} of " + "; ".join(parts) if parts else ""

    @classmethod
    def fit_many(
        cls,
        ys: list[np.ndarray],
        season: int = 1,
        jobs: int = 1,
        progress: Progress | None = None,
        **params: Any,
    ) -> Sequence[Forecaster]:
        """Fit each member to every series.

        Members are fitted by :func:`~stocklab.envs.forecast.panel.fit_panel`: local ones in ``jobs``
        processes, global ones on the whole panel; ``progress`` counts member fits.
        """
        from stocklab.envs.forecast.panel import fit_chunk, fit_panel, split_panel, worker_pool

        combos = [cls(season, **params) for _ in ys]
        if not combos:
            return []
        arrays = [c.check(y) for c, y in zip(combos, ys)]
        names = combos[0].members
        fitted: dict[str, list[Forecaster]] = {}
        with contextlib.ExitStack() as stack:
            # Local members' pieces go to one set of worker processes first; global members train
            # here meanwhile, so the workers' start-up overlaps with useful work.
            pool = stack.enter_context(worker_pool(jobs)) if jobs > 1 else None
            pending = {
                name: [pool.submit(fit_chunk, name, piece, season, {}) for piece in split_panel(arrays, jobs)]
                for name in names
                if pool is not None and not forecaster_class(name).global_model
            }
            for name in names:
                if name not in pending:
                    fitted[name] = fit_panel(name, arrays, season)
                    if progress:
                        progress(int(len(ys) * len(fitted) / len(names)), len(ys))
            for name, futures in pending.items():
                fitted[name] = [fit for future in futures for fit in future.result()]
                if progress:
                    progress(int(len(ys) * len(fitted) / len(names)), len(ys))
        per_member = [fitted[name] for name in names]
        for i, (combo, y) in enumerate(zip(combos, arrays)):
            combo._adopt(y, [fits[i] for fits in per_member])
        return combos

    def check(self, y: np.ndarray) -> np.ndarray:
        """``y`` as a float array; DataError when it is shorter than any member needs."""
        need = max(forecaster_class(m).min_length for m in self.members)
        if np.ndim(y) == 1 and len(y) < need:
            raise DataError(f"{self.name}: needs a series of at least {need} periods (got {len(y)})")
        return super().check(y)

    def _fit(self, y: np.ndarray) -> np.ndarray:
        self._adopt(y, [forecaster_class(name)(self.season).fit(y) for name in self.members])
        return self.fitted

    def _adopt(self, y: np.ndarray, models: list[Forecaster]) -> None:
        self.y, self.models = y, models
        self.fitted = self._combine(np.array([m.fitted for m in models]))

    def _combine(self, values: np.ndarray) -> np.ndarray:
        return values.mean(axis=0) if self.method == "mean" else np.median(values, axis=0)

    def predict(self, h: int) -> np.ndarray:
        """The mean (or median) of the members' forecasts of the next ``h`` periods."""
        forecasts = np.array([m.predict(h) for m in self.models])
        self.notes = [note for m in self.models for note in m.notes]
        return self._combine(forecasts)

    def predict_std(self, h: int) -> np.ndarray:
        """The mean of the members' standard deviations (module docstring)."""
        return np.mean([m.predict_std(h) for m in self.models], axis=0)
