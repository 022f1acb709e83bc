"""Classic replenishment policies acting on the inventory position (on hand + on order - backlog).

Acting on on-hand stock alone would re-order every period while a long lead time keeps earlier
orders in transit; every policy here reads the inventory position (IP) from the observation and
returns its order through ``action_map.action(order, ip)``, so it works in either action mode.
Quantities are whole units; an order is clipped to ``max_order`` by the action map.

``POLICIES`` maps a config ``kind`` to its class and :func:`build_policy` builds one from an env
config and the ``params`` of a config entry, checking the parameter names.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from stocklab.baselines.policies.lp import LPPolicy
from stocklab.baselines.policies.planning import (
    DemandQuantile,
    Forecast,
    ForecastingPolicy,
    convolve_power,
    critical_fractile,
    demand_quantile_source,
    lead_time_periods,
    period_pmf,
    quantile_level,
    whole,
)
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError, did_you_mean
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap, Policy
from stocklab.envs.demand.stationary import PoissonLaw


class ClassicPolicy(Policy):
    """Shared plumbing: parameter names for configs, construction from an env config, export as params."""

    #: Names a config entry's ``params`` may use; ``REQUIRED`` of them must be given.
    PARAMS: tuple[str, ...] = ()
    REQUIRED: tuple[str, ...] = ()
    exportable = "params"

    @classmethod
    def from_config(cls, config: EnvConfig, **params: Any) -> Policy:
        """The policy for an env built from ``config``, with the given parameters."""
        return cls(ObsSpec.for_config(config), ActionMap.for_config(config), **params)

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations ((B, n) -> (B,)): :meth:`orders` through the action map."""
        ip = np.asarray(observations)[:, self._ip]
        return self.action_map.actions(self.orders(np.rint(ip).astype(np.int64)), ip)

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions ``position`` (int64 (B,)); the batch form of act."""
        raise NotImplementedError


class BaseStock(ClassicPolicy):
    """Order up to level S: q = max(0, S - IP)."""

    name = "base_stock"
    PARAMS = REQUIRED = ("level",)

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, level: int) -> None:
        self.level = whole(self.name, "level", level, low=0)
        super().__init__(obs_spec, action_map)

    def act(self, observation: np.ndarray) -> int:
        """Order max(0, S - IP), through the action map."""
        ip = self.inventory_position(observation)
        return self.action_map.action(max(0, self.level - round(ip)), ip)

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions (batch form of :meth:`act`)."""
        return np.maximum(self.level - position, 0)

    def params(self) -> dict[str, Any]:
        """The level S (units)."""
        return {"level": self.level}


class SS(ClassicPolicy):
    """(s, S): when IP <= s, order up to S (q = S - IP); otherwise order nothing."""

    name = "ss"
    PARAMS = REQUIRED = ("s", "S")

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, s: int, S: int) -> None:  # noqa: N803
        self.s = whole(self.name, "s", s)
        self.S = whole(self.name, "S", S, low=0)
        if self.s >= self.S:
            raise PolicyError(f"ss: s (={self.s}) must be < S (={self.S})")
        super().__init__(obs_spec, action_map)

    def act(self, observation: np.ndarray) -> int:
        """Order S - IP when IP <= s, else nothing, through the action map."""
        ip = self.inventory_position(observation)
        ipr = round(ip)
        return self.action_map.action(self.S - ipr if ipr <= self.s else 0, ip)

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions (batch form of :meth:`act`)."""
        return np.where(position <= self.s, self.S - position, 0)

    def params(self) -> dict[str, Any]:
        """The reorder point s and order-up-to level S (units)."""
        return {"s": self.s, "S": self.S}


class RQ(ClassicPolicy):
    """(r, nQ): when IP <= r, order n*Q with n the smallest integer that lifts IP above r.

    n = ceil((r + 1 - IP) / Q); n = 1 whenever demand comes one unit at a time. Orders stay multiples
    of Q: at most the largest multiple of Q not above max_order.
    """

    name = "rq"
    PARAMS = REQUIRED = ("r", "Q")

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, r: int, Q: int) -> None:  # noqa: N803
        self.r = whole(self.name, "r", r)
        self.Q = whole(self.name, "Q", Q, low=1)
        if self.Q > action_map.max_order:
            raise PolicyError(f"rq: Q (={self.Q}) must be <= max_order (={action_map.max_order})")
        self._max_batches = action_map.max_order // self.Q
        super().__init__(obs_spec, action_map)

    def act(self, observation: np.ndarray) -> int:
        """Order n * Q when IP <= r (n as in the class docstring), else nothing."""
        ip = self.inventory_position(observation)
        ipr = round(ip)
        if ipr > self.r:
            return self.action_map.action(0, ip)
        n = min(-((ipr - self.r - 1) // self.Q), self._max_batches)  # ceil((r + 1 - ip) / Q)
        return self.action_map.action(n * self.Q, ip)

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions (batch form of :meth:`act`)."""
        n = np.minimum(-((position - self.r - 1) // self.Q), self._max_batches)
        return np.where(position > self.r, 0, n * self.Q)

    def params(self) -> dict[str, Any]:
        """The reorder point r and batch size Q (units)."""
        return {"r": self.r, "Q": self.Q}


class ConstantOrder(ClassicPolicy):
    """Order the same ``quantity`` units every period, whatever the state."""

    name = "constant"
    PARAMS = REQUIRED = ("quantity",)

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, quantity: int) -> None:
        self.quantity = whole(self.name, "quantity", quantity, low=0)
        super().__init__(obs_spec, action_map)

    def act(self, observation: np.ndarray) -> int:
        """Order ``quantity``, through the action map."""
        return self.action_map.action(self.quantity, self.inventory_position(observation))

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions (batch form of :meth:`act`)."""
        return np.full(len(position), self.quantity, dtype=np.int64)

    def params(self) -> dict[str, Any]:
        """The constant order quantity (units)."""
        return {"quantity": self.quantity}


class CappedBaseStock(ClassicPolicy):
    """Capped base-stock: q = min(cap, max(0, S - IP)) (Xin 2021, lost sales with long lead times)."""

    name = "capped_base_stock"
    PARAMS = REQUIRED = ("level", "cap")

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, level: int, cap: int) -> None:
        self.level = whole(self.name, "level", level, low=0)
        self.cap = whole(self.name, "cap", cap, low=1)
        super().__init__(obs_spec, action_map)

    def act(self, observation: np.ndarray) -> int:
        """Order min(cap, max(0, S - IP)), through the action map."""
        ip = self.inventory_position(observation)
        return self.action_map.action(min(self.cap, max(0, self.level - round(ip))), ip)

    def orders(self, position: np.ndarray) -> np.ndarray:
        """Units wanted at whole inventory positions (batch form of :meth:`act`)."""
        return np.minimum(np.maximum(self.level - position, 0), self.cap)

    def params(self) -> dict[str, Any]:
        """The level S and the cap (units)."""
        return {"level": self.level, "cap": self.cap}


class Newsvendor(ForecastingPolicy):
    """Order up to the critical-fractile quantile of the demand over the next L + 1 periods.

    Level S = smallest y with P(D_t + ... + D_{t+L} <= y) >= f, f = ``fractile`` (default
    p / (p + h)). With backorders and a fixed lead time this is the optimal base-stock level (Zipkin
    2000, *Foundations of Inventory Management*, sec. 6.2.2). With lost sales the same fractile
    p / (p + h) of the L + 1 period demand is used as the usual heuristic (exact for L = 0).

    Without a forecast the lead-time demand pmf is the (L + 1)-fold convolution of the per-period
    demand pmf, and S is constant. With a forecast (the observation's ``forecast_mean`` field or a
    ``forecast`` callable, see :class:`~stocklab.baselines.policies.planning.ForecastSource`), S is recomputed
    every period from mu = the sum of the forecast means of periods t .. t + L: S = ceil(mu + z_f sigma)
    (normal, sigma^2 = the sum of the forecast variances) when the observation carries
    ``forecast_std``, else the f-quantile of Poisson(mu).

    With ``levels: quantile`` S_t is instead the f-quantile of the demand of periods t .. t + L
    stated by the demand model (``forecast_fed``: the empirical residual bootstrap of the forecaster's
    errors, :mod:`stocklab.envs.forecast.quantiles`), rounded up: the lead-time demand distribution
    rather than a normal or Poisson approximation around its mean.
    """

    name = "newsvendor"
    PARAMS = ("fractile", "forecast", "levels")
    REQUIRED = ()
    exportable = "params"

    def __init__(
        self,
        obs_spec: ObsSpec,
        action_map: ActionMap,
        demand_pmf: np.ndarray,
        lead_time: int,
        fractile: float,
        forecast: Forecast | None = None,
        quantiles: DemandQuantile | None = None,
    ) -> None:
        if not isinstance(fractile, int | float) or not 0.0 < float(fractile) < 1.0:
            raise PolicyError(f"newsvendor: fractile (={fractile!r}) must be in (0, 1)")
        self.lead_time = whole(self.name, "lead_time", lead_time, low=0)
        self.fractile = float(fractile)
        pmf = np.asarray(demand_pmf, dtype=float)
        super().__init__(obs_spec, action_map, forecast, float(np.dot(np.arange(len(pmf)), pmf)))
        self.level = quantile_level(convolve_power(pmf, self.lead_time + 1), self.fractile)
        self.quantiles = quantiles

    @classmethod
    def from_config(cls, config: EnvConfig, **params: Any) -> Policy:
        """The newsvendor of an env config: its demand pmf, lead time and critical fractile."""
        fractile = params.pop("fractile", None)
        levels = params.pop("levels", "forecast")
        if levels not in ("forecast", "quantile"):
            raise PolicyError(f"newsvendor: levels (={levels!r}) must be 'forecast' or 'quantile'")
        if levels == "quantile":
            params["quantiles"] = demand_quantile_source(config)
        return cls(
            ObsSpec.for_config(config),
            ActionMap.for_config(config),
            demand_pmf=period_pmf(config),
            lead_time=lead_time_periods(config),
            fractile=critical_fractile(config) if fractile is None else fractile,
            **params,
        )

    def current_level(self, observation: np.ndarray) -> int:
        """The order-up-to level (units) for this period."""
        if self.quantiles is not None:
            q = self.quantiles(self.forecast.period, self.lead_time + 1, self.fractile)
            return max(0, math.ceil(float(q) - 1e-9)) if q is not None else self.level
        if not self.forecast.varying:
            return self.level
        n = self.lead_time + 1
        mean = float(self.forecast.means(observation, n).sum())
        stds = self.forecast.stds(observation, n)
        if stds is not None:
            sigma = float(np.sqrt(np.sum(stds**2)))
            from scipy.special import ndtri  # scipy.stats.norm.ppf's own function, without its import cost

            return max(0, math.ceil(mean + float(ndtri(self.fractile)) * sigma - 1e-9))
        return int(PoissonLaw(mean).ppf(self.fractile)) if mean > 0 else 0

    def decide(self, observation: np.ndarray) -> int:
        """Order up to this period's level: max(0, S_t - IP), through the action map."""
        ip = self.inventory_position(observation)
        return self.action_map.action(max(0, self.current_level(observation) - round(ip)), ip)

    def params(self) -> dict[str, Any]:
        """The fractile (and ``levels: quantile`` when the levels come from demand quantiles)."""
        return {"fractile": self.fractile, **({"levels": "quantile"} if self.quantiles is not None else {})}


class PolicyClass(Protocol):
    """What :data:`POLICIES` holds: a policy class that builds itself from an env config."""

    @property
    def PARAMS(self) -> tuple[str, ...]:
        """Names a config entry's ``params`` may use."""
        ...

    @property
    def REQUIRED(self) -> tuple[str, ...]:
        """The names of ``PARAMS`` that must be given."""
        ...

    def from_config(self, config: EnvConfig, **params: Any) -> Policy:
        """The policy for an env built from ``config``, with the given parameters."""
        ...


#: Policy classes by config ``kind``.
POLICIES: dict[str, PolicyClass] = {
    "base_stock": BaseStock,
    "ss": SS,
    "rq": RQ,
    "constant": ConstantOrder,
    "newsvendor": Newsvendor,
    "capped_base_stock": CappedBaseStock,
    "lp": LPPolicy,
}


def build_policy(kind: str, env_config: EnvConfig, params: dict[str, Any] | None = None) -> Policy:
    """Build the ``kind`` policy for an env built from ``env_config`` with the config entry's ``params``.

    Raises PolicyError for an unknown kind or parameter name (with a did-you-mean hint), a missing
    parameter or a bad value.
    """
    if kind not in POLICIES:
        raise PolicyError(
            f"unknown policy kind '{kind}'.{did_you_mean(kind, POLICIES)} Allowed: {', '.join(POLICIES)}"
        )
    cls = POLICIES[kind]
    params = dict(params or {})
    allowed = cls.PARAMS
    for key in params:
        if key not in allowed:
            raise PolicyError(
                f"{kind}: unknown parameter '{key}'.{did_you_mean(key, allowed)} "
                f"Allowed: {', '.join(allowed) or 'none'}"
            )
    missing = [key for key in cls.REQUIRED if key not in params]
    if missing:
        raise PolicyError(f"{kind}: missing parameter(s) {', '.join(missing)} (needs: {', '.join(allowed)})")
    return cls.from_config(env_config, **params)
