"""The demand a policy plans for: per-period pmf, lead-time demand, quantiles and point forecasts.

Shared by the newsvendor policy, the exact tuning formulas and the LP policy. Units: whole units of
stock per period; lead times in whole periods.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD, ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.demand import PMF_TOLERANCE
from stocklab.envs.demand.base import truncated_pmf
from stocklab.envs.demand.stationary import PoissonLaw

#: A forecast hook: period index t (0 at the episode start) -> mean demand of periods t, t + 1, ...
Forecast = Callable[[int], Any]
#: A demand quantile source: (period t, periods n, fractile f) -> the f-quantile (units) of the total
#: demand of periods t .. t + n - 1, or None when unknown (``DemandModel.demand_quantile``).
DemandQuantile = Callable[[int, int, float], "float | None"]


def demand_quantile_source(config: EnvConfig) -> DemandQuantile:
    """The env's demand model as a quantile source; PolicyError when it states no quantiles."""
    model = config.demand
    if model.demand_quantile(0, 1, 0.5) is None:
        raise PolicyError(
            f"levels: quantile needs a demand model that states lead-time demand quantiles "
            f"(forecast_fed); '{type(model).__name__}' does not"
        )
    return model.demand_quantile


def whole(policy: str, name: str, value: Any, low: int | None = None) -> int:
    """``value`` as an int (units), or PolicyError showing the value when it is not a whole number >= low."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) != int(value):
        raise PolicyError(f"{policy}: {name} (={value!r}) must be a whole number of units")
    if low is not None and int(value) < low:
        raise PolicyError(f"{policy}: {name} (={int(value)}) must be >= {low}")
    return int(value)


def period_pmf(config: EnvConfig, tol: float = PMF_TOLERANCE) -> np.ndarray:
    """Probabilities of demanding 0, 1, 2, ... units in one period.

    The model's own pmf when it is stationary and discrete; for a replayed series the empirical
    distribution of its values (a stationary approximation); otherwise Poisson with the model's mean.
    """
    model = config.demand
    pmf = model.pmf(tol)
    if pmf is not None:
        return np.asarray(pmf, dtype=float)
    values = getattr(model, "values", None)
    if values:
        counts = np.bincount(np.asarray(values, dtype=np.int64))
        return counts / counts.sum()
    return poisson_pmf(model.mean, tol)


def poisson_pmf(mean: float, tol: float = PMF_TOLERANCE) -> np.ndarray:
    """Poisson pmf on 0..D, the tail beyond D (mass <= tol) folded into D; a point mass at 0 if mean <= 0."""
    if mean <= 0:
        return np.ones(1)
    return truncated_pmf(PoissonLaw(mean), tol)


def lead_time_periods(config: EnvConfig) -> int:
    """The lead time L (periods) a policy plans with: the fixed value, else the mean rounded to an integer."""
    fixed = config.lead_time.fixed
    return int(fixed) if fixed is not None else int(round(config.lead_time.mean))


def convolve_power(pmf: np.ndarray, n: int, tol: float = PMF_TOLERANCE) -> np.ndarray:
    """Pmf of the sum of ``n`` i.i.d. draws of ``pmf`` (n >= 1), the far tail (mass <= tol) trimmed."""
    if n < 1:
        raise ValueError(f"n (={n}) must be >= 1")
    out = np.asarray(pmf, dtype=float)
    for _ in range(n - 1):
        out = np.convolve(out, pmf)
        cdf = np.cumsum(out)
        keep = int(np.searchsorted(cdf, 1.0 - tol)) + 1
        if keep < len(out):
            out = out[:keep].copy()
            out[-1] += max(0.0, 1.0 - out.sum())
    return out / out.sum()


def lead_time_demand_pmf(config: EnvConfig, tol: float = PMF_TOLERANCE) -> np.ndarray:
    """Pmf of the demand over the L + 1 periods an order placed now has to cover (L = lead time).

    An order placed at t arrives at t + L, so the inventory position after ordering must cover the
    demand of periods t .. t + L (Zipkin 2000, *Foundations of Inventory Management*, sec. 6.2).
    """
    return convolve_power(period_pmf(config, tol), lead_time_periods(config) + 1, tol)


def quantile_level(pmf: np.ndarray, fractile: float) -> int:
    """Smallest S with P(D <= S) >= ``fractile`` for a pmf on 0, 1, 2, ... (units).

    A relative slack of 1e-12 absorbs rounding in the cumulative sum.
    """
    cdf = np.cumsum(pmf)
    return min(int(np.searchsorted(cdf, fractile - 1e-12)), len(pmf) - 1)


def critical_fractile(config: EnvConfig) -> float:
    """Newsvendor critical fractile p / (p + h) of the config's costs (shortage p, holding h)."""
    h, p = config.costs.holding, config.costs.shortage
    if h + p <= 0:
        raise PolicyError("newsvendor: holding + shortage (=0) must be > 0")
    return p / (p + h)


class ForecastSource:
    """Where a policy reads the mean demand of the coming periods, in order of preference.

    1. the observation's ``forecast_mean`` field (``env.observation.information: forecast`` or
       ``oracle_mean``; entry k = mean demand of the period k periods ahead), with its
       ``forecast_std`` field for the standard deviations;
    2. a ``forecast`` callable given to the policy: period index t -> means of periods t, t + 1, ...;
       the env's period index is not in the observation, so the policy counts the periods it acts
       in itself (:meth:`advance`); call :meth:`reset` (or ``predict(..., episode_start=True)``) at the
       start of every episode;
    3. the demand model's long-run mean, every period alike.

    A forecast shorter than asked for is extended with its last value.
    """

    def __init__(self, obs_spec: ObsSpec, forecast: Forecast | None, mean: float) -> None:
        self._field = obs_spec.index(FORECAST_MEAN) if obs_spec.has(FORECAST_MEAN) else None
        self._std_field = obs_spec.index(FORECAST_STD) if obs_spec.has(FORECAST_STD) else None
        self._hook = forecast
        self._mean = float(mean)
        self.period = 0

    @property
    def varying(self) -> bool:
        """True when the forecast can change from period to period."""
        return self._field is not None or self._hook is not None

    def reset(self) -> None:
        """Start counting periods from 0 (a new episode)."""
        self.period = 0

    def advance(self) -> None:
        """Count one period acted in."""
        self.period += 1

    def means(self, observation: np.ndarray, n: int) -> np.ndarray:
        """Mean demand (units) of the current period and the n - 1 following ones."""
        if self._field is not None:
            raw = np.asarray(observation[self._field], dtype=float)
        elif self._hook is not None:
            raw = np.asarray(self._hook(self.period), dtype=float).ravel()
        else:
            return np.full(n, self._mean)
        return _extend(raw, n)

    def stds(self, observation: np.ndarray, n: int) -> np.ndarray | None:
        """Standard deviations (units) of the same periods when the observation carries them, else None."""
        if self._field is None or self._std_field is None:
            return None
        return _extend(np.asarray(observation[self._std_field], dtype=float), n)


def _extend(raw: np.ndarray, n: int) -> np.ndarray:
    if raw.size == 0:
        raise PolicyError("forecast: the forecast has no values")
    if raw.size < n:
        raw = np.concatenate([raw, np.full(n - raw.size, raw[-1])])
    return np.maximum(raw[:n], 0.0)


class ForecastingPolicy(Policy):
    """A policy that plans on a :class:`ForecastSource` and counts the periods it acts in.

    Subclasses implement :meth:`decide`; :meth:`act` calls it and then counts the period.
    ``predict(..., episode_start=True)`` (SB3's flag) and :meth:`reset` restart the count.
    """

    def __init__(
        self, obs_spec: ObsSpec, action_map: ActionMap, forecast: Forecast | None, mean: float
    ) -> None:
        super().__init__(obs_spec, action_map)
        if forecast is not None and not callable(forecast):
            raise PolicyError(f"{self.name}: forecast (={forecast!r}) must be a callable period -> means")
        self.forecast = ForecastSource(obs_spec, forecast, mean)

    @abstractmethod
    def decide(self, observation: np.ndarray) -> int:
        """The action for one observation in the current period."""

    def act(self, observation: np.ndarray) -> int:
        """Decide this period's action, then count the period."""
        action = self.decide(observation)
        self.forecast.advance()
        return action

    def reset(self) -> None:
        """Forget the period count: call at the start of every episode when a forecast hook is used."""
        self.forecast.reset()

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``; ``episode_start`` true restarts the period count first."""
        if episode_start is not None and bool(np.any(episode_start)):
            self.reset()
        return super().predict(observation, state, episode_start, deterministic)
