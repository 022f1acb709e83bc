"""The Lagrangian coordinator: per-SKU base-stock levels under prices on the shared limits, plus rationing.

**Prices.** With a price lambda per unit of volume held (the capacity) and mu per unit of money spent
(the budget), each SKU's best order-up-to level minimises its priced long-run cost
cost_i(S) + lambda v_i X_i(S) + mu c_i q_i(S) (:class:`~stocklab.baselines.catalogue.levels.LevelTable`:
every candidate level simulated once). :func:`stocklab.baselines.catalogue.fit.fit_coordinator`
finds the prices by bisection so that the levels respect the limits on average, then calibrates the
rationing below on training scenarios so that at least 99% of periods are within capacity.

**Rationing.** Levels chosen for the average still overflow in periods when many SKUs are high at
once. Each period the coordinator projects the volume on hand when this period's orders arrive,
sum_i v_i (E[(IP_i - D_i^(L_i))^+] + q_i) (IP_i the inventory position before ordering, D_i^(L_i) the
demand over the lead time, normal approximation), and the money the orders cost, sum_i c_i q_i. It
walks up a path of higher prices (``path``: (lambda_g, mu_g), g = 0 at the fitted prices) and orders
up to the levels of the first step whose orders fit: projected volume + z sigma <= C and money <= B
(sigma: the standard deviation of the lead-time demand's volume, summed over SKUs). Raising the price
cuts first the units whose space is worth least, so the periods where a limit binds are rationed by
the same prices that set the levels. ``z`` sets how much room is kept for the demand's randomness.
Between the first step that fits and the one before it, the orders are topped up by the largest
common share that still fits. With ``adapt``, the room also absorbs the smoothed error of the
projections made a lead time ago (demand drifting away from the fitted pmfs).

Every array below has one entry per SKU, in catalogue order; the policy decides for all SKUs at once
with (N, G) array operations (G: steps of the price path).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from stocklab.envs.catalogue.policy import CataloguePolicy, CatalogueState
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import ActionMap

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def expected_excess(y: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E(y - D)^+ for D ~ Normal(mean, sd^2) (units): (y - m) Phi(k) + sd phi(k), k = (y - m) / sd.

    Where sd is 0, max(y - mean, 0).
    """
    diff = y - mean
    safe = np.where(sd > 0, sd, 1.0)
    k = diff / safe
    normal = diff * special.ndtr(k) + safe * np.exp(-0.5 * k * k) / _SQRT_2PI
    return np.where(sd > 0, normal, np.maximum(diff, 0.0))


def _exact_again(saved: Any, catalogue: Any, spec: ObsSpec) -> Any:
    """The ExactOrders of saved ``params["exact"]`` ({prices, measure, max_states, skus}) for ``catalogue``."""
    from stocklab.baselines.catalogue.exact_rule import exact_orders

    keys = {"prices", "measure", "max_states", "skus"}
    if catalogue is None or not isinstance(saved, dict) or not keys <= set(saved):
        raise PolicyError(f"lagrangian: exact orders need the catalogue and {sorted(keys)}")
    try:
        rule = exact_orders(list(catalogue.configs), catalogue.volume, catalogue.unit_cost, saved["prices"],
                            saved["measure"], spec, int(saved["max_states"]))  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"lagrangian: bad exact-order parameters ({exc})") from None
    if rule.index.tolist() != list(saved["skus"]):
        raise PolicyError("lagrangian: the DPs solved again cover other SKUs than the saved policy's")
    return rule


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class LagrangianCoordinator(CataloguePolicy):
    """Base-stock levels under Lagrangian prices on the shared limits, rationed in binding periods.

    ``path_levels`` (N, G): order-up-to levels at each step of the price path (column 0: the fitted
    prices); ``path`` (G, 2): (lambda, mu) of each step; ``lead`` (N,): lead times (periods);
    ``lead_mean`` / ``lead_sd`` (N,): mean and standard deviation of each SKU's demand over its lead
    time (units); ``volume`` / ``unit_cost`` (N,); ``capacity`` / ``budget``: the limits (None when
    absent); ``z``: room kept for randomness, in standard deviations of the lead-time demand's volume
    (None: no capacity rationing). ``action_map`` and ``spec``: the catalogue's (batch) ones.
    """

    name = "lagrangian"
    exportable = "catalogue_params"

    def __init__(
        self,
        *,
        path_levels: np.ndarray,
        path: np.ndarray,
        lead: np.ndarray,
        lead_mean: np.ndarray,
        lead_sd: np.ndarray,
        volume: np.ndarray,
        unit_cost: np.ndarray,
        capacity: float | None,
        budget: float | None,
        z: float | None,
        action_map: ActionMap,
        spec: ObsSpec,
        info: dict[str, Any] | None = None,
        adapt: float | None = None,
        exact: Any = None,
    ) -> None:
        self.path_levels = np.asarray(path_levels, dtype=np.int64)
        self.path = np.asarray(path, dtype=float).reshape(-1, 2)
        n, g = self.path_levels.shape
        if g != len(self.path) or g < 1:
            raise PolicyError(f"lagrangian: {g} level columns for {len(self.path)} steps of the price path")
        self.lead = np.asarray(lead, dtype=np.int64)
        self.lead_mean = np.asarray(lead_mean, dtype=float)
        self.lead_sd = np.asarray(lead_sd, dtype=float)
        self.volume = np.asarray(volume, dtype=float)
        self.unit_cost = np.asarray(unit_cost, dtype=float)
        for name, arr in (("lead", self.lead), ("lead_mean", self.lead_mean), ("lead_sd", self.lead_sd),
                          ("volume", self.volume), ("unit_cost", self.unit_cost)):  # fmt: skip
            if arr.shape != (n,):
                raise PolicyError(f"lagrangian: {name} has shape {arr.shape}; expected ({n},)")
        self.capacity, self.budget, self.z = capacity, budget, z
        if adapt is not None and not 0.0 < float(adapt) <= 1.0:
            raise PolicyError(f"lagrangian: adapt (={adapt!r}) must be in (0, 1]")
        self.adapt = None if adapt is None else float(adapt)
        self._lag = max(1, round(float(np.mean(self.lead)))) if n else 1
        self.sigma = float(np.sqrt(np.sum((self.volume * self.lead_sd) ** 2)))
        self.action_map, self.spec = action_map, spec
        self._ip = spec.index("inventory_position").start
        self._on_hand = spec.index("on_hand").start
        self.info = dict(info or {})
        mo = np.broadcast_to(np.asarray(action_map.max_order, dtype=np.int64), (n,))
        self._max_order = mo[:, None]
        ml = action_map.max_level
        self._max_level = (
            None if ml is None else np.broadcast_to(np.asarray(ml, dtype=np.int64), (n,))[:, None]
        )
        #: Per-SKU DP-optimal orders at the path's first prices (an ExactOrders), replacing the
        #: base-stock levels of column 0 for the SKUs it covers; None: levels only.
        self.exact = exact
        #: Step of the price path used in each period of the episode so far (for reports).
        self.steps: list[int] = []
        self._predicted: list[float] = []
        #: Smoothed error of the projected volume (actual - projected, units of volume).
        self.bias = 0.0

    def reset(self) -> None:
        """Start a new episode (forget the steps taken)."""
        self.steps = []
        self._predicted = []
        self.bias = 0.0

    def _orders_at(self, ip: np.ndarray) -> np.ndarray:
        """(N, G) units ordered by the levels of every step, through the action map's limits."""
        q = np.minimum(np.maximum(self.path_levels - ip[:, None], 0), self._max_order)
        if self._max_level is not None:  # order-up-to actions stop at max_level
            q = np.minimum(q, np.maximum(self._max_level - ip[:, None], 0))
        return q

    def projected(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inventory positions, expected units on hand just before this period's orders arrive), (N,) each."""
        ip = np.rint(obs[:, self._ip]).astype(np.int64)
        on_hand = obs[:, self._on_hand].astype(float)
        before = expected_excess(ip.astype(float), self.lead_mean, self.lead_sd)
        return ip, np.where(self.lead == 0, on_hand, before)

    def orders(self, obs: np.ndarray, state: CatalogueState | None = None) -> np.ndarray:
        """Units per SKU: the first step of the price path whose orders fit, topped up towards the step before.

        Between the first step g that fits and step g - 1 (which does not), every SKU gets
        floor(theta (q_{g-1} - q_g)) more units, theta in [0, 1] the largest share that still fits:
        both checks are linear in theta, so the rationing is as fine as the units allow even where the
        path's steps are far apart (or an empty warehouse asks for every level at once).
        """
        ip, before = self.projected(np.asarray(obs))
        q = self._orders_at(ip)
        if self.exact is not None and len(self.exact.index):
            q[self.exact.index, 0] = self.exact.orders(obs)
        checks: list[tuple[np.ndarray, float]] = []  # (use of every step, limit)
        if self.capacity is not None and self.z is not None:
            use = self.volume @ before + self.volume @ q
            if self.adapt is not None:
                self._learn(float(self.volume @ np.asarray(obs)[:, self._on_hand]))
            checks.append((use, self.capacity - self.z * self.sigma - self.bias))
        if self.budget is not None:
            checks.append((self.unit_cost @ q, self.budget + 1e-9))
        fits = np.ones(q.shape[1], dtype=bool)
        for use, limit in checks:
            fits &= use <= limit
        step = int(np.argmax(fits)) if fits.any() else q.shape[1] - 1
        self.steps.append(step)
        out = q[:, step].copy()
        if step > 0 and fits[step]:
            theta = 1.0
            for use, limit in checks:
                extra = use[step - 1] - use[step]
                if extra > 0:
                    theta = min(theta, (limit - use[step]) / extra)
            out += np.floor(max(theta, 0.0) * (q[:, step - 1] - out)).astype(np.int64)
        if self.adapt is not None and self.capacity is not None:
            self._predicted.append(float(self.volume @ before + self.volume @ out))
        return out

    def _learn(self, actual: float) -> None:
        """Update :attr:`bias` with the volume on hand now against what was projected ``lag`` periods ago.

        The projection assumes each SKU's stationary demand; where the demand drifts (a replayed
        history, a trend) the error persists, and the bias (exponentially smoothed with weight
        ``adapt``) shifts the room the rationing keeps (lag: the mean lead time, >= 1 period).
        """
        if len(self._predicted) >= self._lag and self.adapt is not None:
            error = actual - self._predicted[-self._lag]
            self.bias = (1.0 - self.adapt) * self.bias + self.adapt * error

    def memory(self) -> dict[str, Any] | None:
        """The adaptive room's memory: the projections of the last ``lag`` periods and the bias (volume).

        None without ``adapt`` or a capacity (nothing is carried between periods then).
        """
        if self.adapt is None or self.capacity is None or self.z is None:
            return None
        return {"predicted": [float(v) for v in self._predicted[-self._lag :]], "bias": float(self.bias)}

    def restore(self, memory: dict[str, Any]) -> None:
        """Continue from :meth:`memory`'s output (PolicyError naming the member that does not fit)."""
        if self.memory() is None:
            super().restore(memory)
        if not isinstance(memory, dict) or set(memory) != {"predicted", "bias"}:
            raise PolicyError(f"{self.name} memory: expected an object with 'predicted' and 'bias'")
        predicted, bias = memory["predicted"], memory["bias"]
        if (
            not isinstance(predicted, list)
            or len(predicted) > self._lag
            or not all(_finite(v) for v in predicted)
        ):
            raise PolicyError(
                f"{self.name} memory.predicted: expected at most {self._lag} finite numbers (volume)"
            )
        if not _finite(bias):
            raise PolicyError(f"{self.name} memory.bias: {bias!r} is not a finite number")
        self._predicted = [float(v) for v in predicted]
        self.bias = float(bias)

    @property
    def lambda_(self) -> float:
        """The fitted price of capacity (money per unit of volume per period)."""
        return float(self.path[0, 0])

    @property
    def mu(self) -> float:
        """The fitted price of the budget (money per unit of money spent)."""
        return float(self.path[0, 1])

    def params(self) -> dict[str, Any]:
        """JSON-ready: the levels at the fitted prices, the prices, the path and the rationing's inputs."""
        return {
            "levels": self.path_levels[:, 0].tolist(),
            "prices": {"capacity": self.lambda_, "budget": self.mu},
            "path": self.path.tolist(),
            "path_levels": self.path_levels.tolist(),
            "lead": self.lead.tolist(),
            "lead_mean": self.lead_mean.tolist(),
            "lead_sd": self.lead_sd.tolist(),
            "volume": self.volume.tolist(),
            "unit_cost": self.unit_cost.tolist(),
            "capacity": self.capacity,
            "budget": self.budget,
            "z": None if self.z is None or not math.isfinite(self.z) else float(self.z),
            "adapt": self.adapt,
            "exact": None if self.exact is None else self.exact.params(),
            "info": self.info,
        }

    @classmethod
    def from_params(
        cls, params: dict[str, Any], action_map: ActionMap, spec: ObsSpec, catalogue: Any = None
    ) -> LagrangianCoordinator:
        """The coordinator :meth:`params` describes, for a catalogue's action map and observation layout.

        With per-SKU DP orders (``params["exact"]``), the DPs are solved again at the saved prices for
        ``catalogue`` (deterministic: the same tables); PolicyError without a catalogue.
        """
        exact = params.get("exact") if isinstance(params, dict) else None
        if exact is not None:
            exact = _exact_again(exact, catalogue, spec)
        try:
            return cls(exact=exact,
                path_levels=np.asarray(params["path_levels"]), path=np.asarray(params["path"]),
                lead=np.asarray(params["lead"]), lead_mean=np.asarray(params["lead_mean"]),
                lead_sd=np.asarray(params["lead_sd"]), volume=np.asarray(params["volume"]),
                unit_cost=np.asarray(params["unit_cost"]), capacity=params.get("capacity"),
                budget=params.get("budget"), z=params.get("z"), action_map=action_map, spec=spec, adapt=params.get("adapt"),
                info=params.get("info"),
            )  # fmt: skip
        except PolicyError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"lagrangian: bad parameters ({type(exc).__name__}: {exc})") from None
