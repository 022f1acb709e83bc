"""``InventoryEnv``: the Gymnasium face of the SimPy stocking-point simulator."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.actions import ActionMap
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD, ObsSpec
from stocklab.envs.engines.simpy_engine import PeriodResult, StockPoint


class InventoryEnv(gym.Env[np.ndarray, np.int64]):
    """A Gymnasium env of one stocking point under periodic review, simulated with SimPy.

    ## Description
    Periodic-review replenishment of one stocking point. Each period the agent decides how much to
    order; customers arrive during the period and buy from stock on hand; unmet demand is lost or
    backordered. The dynamics are a SimPy discrete-event simulation (:class:`StockPoint`): customer
    arrivals in continuous time, orders arriving after fixed or random (possibly fractional) lead
    times, storage capacity, lost sales or backorders.

    ## Timing of a period
    1. Orders due at t arrive (under backorders the backlog is served first).
    2. The agent observes the state and orders q_t. With lead time L the order arrives at t + L;
       L = 0 means before this period's demand. A fractional arrival time makes the stock usable
       from that instant. Orders may cross unless ``lead_time.in_sequence`` is true.
    3. Customers arrive during [t, t + 1) and are served from on-hand stock; what is missing is lost
       (``unmet_demand: lost``) or backordered (``unmet_demand: backorder``).
    4. At t + 1 the period's costs are charged (below). The next observation includes the orders due
       at t + 1.

    ## Costs
    cost_t = K * [q_t > 0] + c * q_t + h * I_t + p * S_t, with K = ``costs.fixed_order``,
    c = ``costs.unit_order``, h = ``costs.holding`` per unit per period, p = ``costs.shortage``,
    I_t the units on hand at the end of the period (with ``holding_accrual: time_weighted``, the time
    integral of on-hand stock over the period) and S_t the units lost in the period (lost sales) or
    the backlog at the end of the period (backorders).

    ## Action Space
    ``Discrete(max_order + 1)`` with ``action.mode: quantity``: action a orders a units.
    ``Discrete(max_level + 1)`` with ``action.mode: order_up_to``: action a orders
    min(max_order, max(0, a - inventory position)) units.

    ## Observation Space
    A float32 ``Box`` whose layout is given by ``env.obs_spec`` (an :class:`ObsSpec`):

    | field              | size | min        | max      | meaning                                      |
    |--------------------|------|------------|----------|----------------------------------------------|
    | on_hand            | 1    | 0          | capacity | units on hand after this period's arrivals   |
    | backlog            | 1    | 0          | 1e9      | backordered units (backorder mode only)      |
    | pipeline           | n    | 0          | 1e9      | units due within k+1 periods, k = 0..n-1     |
    | inventory_position | 1    | -1e9 or 0  | 1e9      | on hand + on order - backlog                 |
    | recent_demand      | k    | 0          | 1e9      | last k period demands, oldest first          |
    | forecast_mean      | H    | 0          | 1e9      | mean demand of periods t .. t+H-1            |
    | forecast_std       | H    | 0          | 1e9      | std of the demand of periods t .. t+H-1      |

    n = ceil(max lead time) - 1 (0 for L <= 1; for unbounded lead-time distributions the 99.99%
    quantile, later arrivals folded into the last entry); k = ``observation.recent_demand``.
    The forecast fields exist when ``observation.information`` is ``forecast`` (a forecaster's view,
    ``demand.dist: forecast_fed``) or ``oracle_mean`` (the demand model's true mean and spread);
    H = ``observation.forecast_horizon``; entry 0 is the period about to be served.
    ``env.obs_spec.names()`` gives the name of every index.

    ## Rewards
    reward = - cost_t (money per period). ``info`` holds ``cost`` and its components
    ``holding_cost``, ``shortage_cost``, ``fixed_cost``, ``unit_cost``, and the period's ``order``,
    ``demand``, ``sold``, ``lost``, ``backordered``, ``backlog``, ``received``, ``refused`` and
    ``on_hand`` (units on hand at the end of the period, the ones charged for holding).

    ## Starting State
    ``initial.on_hand`` units on hand, ``initial.backlog`` backordered, ``initial.pipeline[k]`` units
    arriving at the start of period k + 1. The start is deterministic; randomness (demand totals,
    customer instants, lead times) flows from the ``reset`` seed through one generator per source, so
    demand never depends on the actions and two policies under one seed face the same demand.

    ## Episode End
    ``truncated`` after ``periods`` steps through gymnasium's ``TimeLimit`` (applied at registration).
    ``terminated`` only when a replayed demand history with ``at_end: stop`` runs out.

    ## Arguments
    The keys of the config's ``env`` section (:class:`EnvConfig`), as a dict in ``config`` or as
    keyword arguments::

        gymnasium.make("stocklab/Inventory-v0", lead_time=2, demand={"dist": "poisson", "mean": 5})

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, config: EnvConfig | dict[str, Any] | None = None, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        if config is not None and kwargs:
            raise TypeError("pass either config or keyword arguments, not both")
        self.config = parse_env_config(config if config is not None else kwargs)
        self.sim = StockPoint(self.config)
        self.obs_spec = ObsSpec.for_config(self.config)
        self.observation_space = self.obs_spec.space()
        self.action_map = ActionMap.for_config(self.config)
        self.order_up_to = self.action_map.order_up_to
        action = self.config.action
        top = action.max_level if self.order_up_to else self.config.max_order
        assert top is not None  # EnvConfig requires max_level in order_up_to mode
        n_actions = top + 1
        self.action_space = spaces.Discrete(n_actions)
        self.max_order = self.config.max_order
        self.render_mode = render_mode
        self._last: PeriodResult | None = None
        # Demand information (observation.information): mean and std per period, computed once for
        # the first periods and extended by doubling, so a step only slices two lists.
        obs_cfg, demand = self.config.observation, self.config.demand
        self._info_h = obs_cfg.forecast_horizon if obs_cfg.information != "none" else 0
        self._info_source = demand.forecast if obs_cfg.information == "forecast" else demand.expected
        self._info_mean: list[float] = []
        self._info_std: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode; ``seed`` reseeds the env's generator (Gymnasium's contract).

        Returns the first observation and an info dict.
        """
        super().reset(seed=seed)
        # One draw from the env's generator seeds the whole episode, so reset(seed=s) is reproducible
        # and reset() without a seed continues the seeded sequence.
        self.sim.reset(int(self.np_random.integers(2**63)))
        self._last = None
        return self._observe(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Place the order ``action`` asks for and simulate one period (Gymnasium's contract).

        Returns (observation, reward = -cost of the period, terminated, truncated, info).
        """
        r = self.sim.step(self.action_map.order(action, self.sim.inventory_position))
        self._last = r
        horizon = self.sim.horizon
        terminated = horizon is not None and self.sim.period >= horizon
        # Truncation after `periods` steps is TimeLimit's job, so it is never set here.
        return self._observe(), -r.cost, terminated, False, period_info(r)

    def order_quantity(self, action: int) -> int:
        """The units that ``action`` orders in the current state."""
        return self.action_map.order(action, self.sim.inventory_position)

    def state_dict(self) -> dict[str, Any]:
        """The current state by field name (what the observation encodes, in its order)."""
        return self.obs_spec.select(self._fields())

    def _fields(self) -> dict[str, Any]:
        """Every state field the observation may hold, by ObsSpec name (units)."""
        sim = self.sim
        fields: dict[str, Any] = {
            "on_hand": sim.on_hand,
            "backlog": sim.backlog,
            "pipeline": sim.pipeline(),
            "inventory_position": sim.inventory_position,
            "recent_demand": list(sim.recent_demand),
        }
        if self._info_h:
            fields[FORECAST_MEAN], fields[FORECAST_STD] = self.demand_information()
        return fields

    def demand_information(self) -> tuple[list[float], list[float]]:
        """Mean and standard deviation (units) of the demand of this period and the next ones.

        Covers the current period and the next ``forecast_horizon`` - 1 ones, as
        ``observation.information`` shows them to the policy.
        """
        t = self.sim.period
        end = t + self._info_h
        have = len(self._info_mean)
        if end > have:
            n = max(end, 2 * have, 256) - have
            mean, std = self._info_source(have, n)
            self._info_mean.extend(np.asarray(mean, dtype=float).tolist())
            self._info_std.extend(np.asarray(std, dtype=float).tolist())
        return self._info_mean[t:end], self._info_std[t:end]

    def _observe(self) -> np.ndarray:
        return self.obs_spec.assemble(self._fields())

    def render(self) -> str | None:
        """One text line of the state and last period with ``render_mode='ansi'``, else None."""
        if self.render_mode != "ansi":
            return None
        s = self.sim
        line = f"t={s.period} on_hand={s.on_hand} backlog={s.backlog} pipeline={s.pipeline()}"
        if self._last is not None:
            line += f" | last: order={self._last.order} demand={self._last.demand} cost={self._last.cost:g}"
        return line


def period_info(r: PeriodResult) -> dict[str, Any]:
    """The ``info`` dict of one step: cost components (money) and flows (units)."""
    return {
        "cost": r.cost,
        "holding_cost": r.holding_cost,
        "shortage_cost": r.shortage_cost,
        "fixed_cost": r.fixed_cost,
        "unit_cost": r.unit_cost,
        "order": r.order,
        "demand": r.demand,
        "sold": r.sold,
        "lost": r.lost,
        "backordered": r.backordered,
        "backlog": r.backlog,
        "received": r.received,
        "refused": r.refused,
        "on_hand": r.on_hand,
    }
