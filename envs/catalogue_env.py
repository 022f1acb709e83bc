"""``CatalogueVectorEnv``: the SKUs of one catalogue as the sub-environments of a gymnasium VectorEnv."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from stocklab.envs.catalogue.catalogue import Catalogue, sku_seeds
from stocklab.envs.core.actions import ActionMap
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.core.obs import UNBOUNDED, ObsSpec
from stocklab.envs.engines.batched import BatchedEngine, Streams
from stocklab.envs.engines.flows import FLOW_FIELDS, SHARED_FIELDS, TOTAL_FIELDS, PeriodFlows
from stocklab.envs.engines.shared import total

#: Per-SKU features appended to the scaled ObsSpec fields (``features="normalized"``), in order.
SKU_FEATURES = (
    "lead_time", "critical_fractile", "fixed_cost", "demand_cv", "zero_share", "max_order",
    "volume_share", "budget_share", "capacity_use", "inbound_use",
)  # fmt: skip


def default_levels(catalogue: Catalogue) -> np.ndarray:
    """Order-up-to levels in periods of mean demand: 0, 0.25, ..., 4 (L_max + 1) (every lead-time cover)."""
    longest = max(c.lead_time.upper for c in catalogue.configs)
    top = 4.0 * (np.ceil(longest) + 1.0)
    return np.arange(0.0, top + 0.125, 0.25)


def static_features(catalogue: Catalogue) -> np.ndarray:
    """(N, 8) the static SKU features of the observation table (``lead_time`` .. ``budget_share``)."""
    cat, s = catalogue, np.asarray(catalogue.demand_scale, dtype=float)
    cfg = cat.configs
    h = np.asarray([c.costs.holding for c in cfg])
    p = np.asarray([c.costs.shortage for c in cfg])
    k = np.asarray([c.costs.fixed_order for c in cfg])
    hp = h + p
    sh = cat.shared
    cap = None if sh is None or sh.capacity is None else sh.capacity.limit
    bud = None if sh is None or sh.budget is None else sh.budget.limit
    zeros = np.zeros(cat.size)
    return np.stack([
        np.asarray([c.lead_time.mean for c in cfg]),
        np.divide(p, hp, out=np.full(cat.size, 0.5), where=hp > 0),
        np.divide(k, hp * s, out=zeros.copy(), where=hp > 0),
        cat.stats.get("demand_cv", zeros), cat.stats.get("zero_share", zeros),
        np.asarray([c.max_order for c in cfg]) / s,
        zeros if cap is None else cat.volume * s / cap,
        zeros if bud is None else cat.unit_cost * s / bud,
    ], axis=1)  # fmt: skip


def scale_free_names(layout: Sequence[tuple[str, int]]) -> list[str]:
    """The name of every input of the scale-free table for stock fields ``layout`` ((name, size) pairs)."""
    names = [n if k == 1 else f"{n}[{i}]" for n, k in layout for i in range(k)]
    return names + list(SKU_FEATURES)


def limit_use(catalogue: Catalogue, on_hand: np.ndarray, on_order: np.ndarray) -> tuple[float, float]:
    """(sum_i v_i on_hand_i / C, sum_i v_i on_order_i / C): ``capacity_use`` and ``inbound_use`` (0, 0 without C)."""
    sh = catalogue.shared
    if sh is None or sh.capacity is None:
        return 0.0, 0.0
    cap = float(sh.capacity.limit)
    return total(catalogue.volume * on_hand) / cap, total(catalogue.volume * on_order) / cap


def scale_free(
    raw: np.ndarray, scale: np.ndarray, static: np.ndarray, capacity_use: float, inbound_use: float
) -> np.ndarray:
    """(N, n + 10) float32 observations (the env's table) from raw ObsSpec rows (N, n) in units."""
    m = raw.shape[1]
    out = np.empty((raw.shape[0], m + len(SKU_FEATURES)), dtype=np.float32)
    out[:, :m] = raw / scale[:, None]
    out[:, m : m + 8] = static
    out[:, m + 8] = capacity_use
    out[:, m + 9] = inbound_use
    return out


def level_orders(
    levels: np.ndarray, scale: np.ndarray, inventory_position: np.ndarray, max_order: np.ndarray | int
) -> np.ndarray:
    """Orders (int64 units) raising each SKU towards round(level_i x scale_i): min(max_order, max(0, target - IP))."""
    target = np.rint(np.asarray(levels) * scale).astype(np.int64)
    return ActionMap("order_up_to", max_order, None).orders(target, inventory_position)


def widen(raw: np.ndarray, spec: ObsSpec, fields: Sequence[tuple[str, int]]) -> np.ndarray:
    """Raw observations (N, spec.size) laid out as ``fields`` ((name, size) pairs), missing slots 0.

    A field of ``spec`` shorter than in ``fields`` (a shorter pipeline) is padded with zeros, as the
    batched engine pads SKUs with shorter lead times; ConfigError when ``spec`` has a field that
    ``fields`` lacks or makes longer (information the target layout cannot hold).
    """
    target = dict(fields)
    out = np.zeros((raw.shape[0], sum(target.values())), dtype=raw.dtype)
    starts, at = {}, 0
    for name, size in fields:
        starts[name], at = at, at + size
    for f in spec.fields:
        if f.name not in target or f.size > target[f.name]:
            have = ", ".join(f"{n}[{k}]" for n, k in fields)
            raise ConfigError(
                f"observation field {f.name}[{f.size}] does not fit the layout {have} (a longer lead time, "
                "backlog or forecasts that the policy never saw)"
            )
        out[:, starts[f.name] : starts[f.name] + f.size] = raw[:, spec.index(f.name)]
    return out


class CatalogueVectorEnv(VectorEnv):
    """The N SKUs of a catalogue as N sub-environments, coupled by shared limits, for one shared policy.

    ## Description
    Sub-environment i is SKU i of ``catalogue`` (a :class:`~stocklab.envs.catalogue.build.Catalogue`):
    a stocking point with its own costs, lead time, demand and limits, simulated by the batched
    engine (:meth:`BatchedEngine.for_catalogue`). The SKUs share the catalogue's warehouse capacity
    and purchasing budget (``catalogue.shared``), rationed by the rules of
    :mod:`stocklab.envs.engines.shared`: the orders of one step are first cut to the budget, and
    arrivals to the free capacity. One policy acts for every SKU, so observations and actions are
    scale-free: quantities in periods of the SKU's mean demand (``demand_scale``).

    ## Timing of a period
    As :class:`~stocklab.envs.InventoryEnv` (arrivals, order, demand, costs), with the budget rule
    between the orders and their placement and the capacity rule at every arrival instant.

    ## Action Space
    ``features="normalized"``: ``Discrete(len(levels))``; action k asks SKU i to raise its inventory
    position to ``round(levels[k] x demand_scale[i])`` units, so it orders
    min(max_order_i, max(0, that level - inventory position)) (``levels`` default: 0, 0.25, ..., 4 (L_max + 1)
    periods of demand). ``features="raw"``: the engine's actions in units, as InventoryVectorEnv
    (``Discrete`` of the largest max_order, or max_level in order-up-to mode).

    ## Observation Space
    A float32 ``Box`` of shape (n + 10,) per SKU (``features="normalized"``): the engine's ObsSpec
    fields (laid out as ``layout``: n columns; pipeline slots a SKU does not use are 0) divided by
    the SKU's ``demand_scale``, then the SKU's features:

    | index    | field              | meaning                                                           |
    |----------|--------------------|-------------------------------------------------------------------|
    | 0 .. n-1 | ObsSpec fields     | on_hand, [backlog], pipeline[..], inventory_position, ... / scale |
    | n        | lead_time          | mean lead time (periods)                                          |
    | n + 1    | critical_fractile  | p / (p + h) (0.5 when both are 0)                                 |
    | n + 2    | fixed_cost         | K / ((h + p) x scale): fixed order cost in scale-free money       |
    | n + 3    | demand_cv          | std / mean of the SKU's train demand (or its model's)             |
    | n + 4    | zero_share         | share of periods without demand                                   |
    | n + 5    | max_order          | largest order / scale (periods of demand)                         |
    | n + 6    | volume_share       | v x scale / C: the SKU's mean demand in capacity (0 without C)    |
    | n + 7    | budget_share       | c x scale / B: its mean demand in budget (0 without B)            |
    | n + 8    | capacity_use       | sum_j v_j on_hand_j / C now (the same for every SKU; 0 without C) |
    | n + 9    | inbound_use        | sum_j v_j on_order_j / C (volume on the way; 0 without C)         |

    ``obs_names()`` names every index. ``features="raw"``: the engine's observations in units
    (InventoryVectorEnv's layout), for policies written for one SKU.

    ## Rewards
    ``reward="cost"``: - the SKU's cost of the period (money: holding, shortage, fixed, unit and its
    share of the overflow charge), plus ``refusal_penalty`` x the SKU's units refused by the
    capacity (0 by default: refused units cost nothing, as in the engine; a training signal against
    crowding the others out, not part of ``info["cost"]``). ``reward="normalized"``: that / ((h + p) x demand_scale), so
    that SKUs of every size weigh alike in a shared policy's loss.

    ## Episode End and Autoreset (``AutoresetMode.SAME_STEP``)
    The SKUs share the warehouse, so they start and end their episodes together: every SKU is
    ``truncated`` after ``episode_periods`` steps (default: the catalogue's ``periods``, e.g. the
    replayed test window, else the env section's ``periods``); when a replayed demand runs out
    (``at_end: stop``) that SKU is ``terminated`` and the others truncated. The catalogue is then reset
    in the same step: the observation returned is the first of the new episode, and
    ``info["final_obs"]`` / ``info["final_info"]`` (masks ``_final_obs`` / ``_final_info``) hold the
    last observation and the step's info of the episode that ended.

    ## Info
    A dict of (N,) arrays: ``cost`` and the flows of InventoryEnv's ``info``, ``overflow_cost`` and
    ``cut``, and the catalogue totals ``capacity_used``, ``overflow``, ``budget_used`` and
    ``budget_asked`` (repeated for every SKU). ``last_flows`` holds the step's PeriodFlows.

    ## Seeding
    ``reset(seed=s)`` seeds the env's generator with s (a list: its first entry, for SB3's VecEnv);
    each episode's seed is its next draw, and SKU i's demand stream follows from the episode seed
    and the SKU's id (:func:`~stocklab.envs.catalogue.catalogue.sku_seeds`).

    ## Arguments
    ``catalogue``; ``episode_periods``; ``seed`` (used by a ``reset()`` without seed);
    ``features``: ``normalized`` | ``raw``; ``levels``: the action grid (periods of demand);
    ``streams``: ``exact`` | ``shared`` (see BatchedEngine); ``reward``: ``cost`` | ``normalized``;
    ``layout``: the stock fields of a normalized observation as (name, size) pairs (default: the
    engine's; a wider one pads missing pipeline slots with zeros, see :func:`widen`);
    ``refusal_penalty``: money per refused unit in the reward (a number or one per SKU, >= 0).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        catalogue: Catalogue,
        episode_periods: int | None = None,
        seed: int | None = None,
        features: Literal["normalized", "raw"] = "normalized",
        *,
        levels: Sequence[float] | np.ndarray | None = None,
        streams: Streams = "exact",
        reward: Literal["cost", "normalized"] = "cost",
        layout: Sequence[tuple[str, int]] | None = None,
        refusal_penalty: float | Sequence[float] | np.ndarray = 0.0,
    ) -> None:
        if features not in ("normalized", "raw"):
            raise ConfigError(f"features (={features!r}) must be 'normalized' or 'raw'")
        if reward not in ("cost", "normalized"):
            raise ConfigError(f"reward (={reward!r}) must be 'cost' or 'normalized'")
        self.catalogue = catalogue
        self.num_envs = catalogue.size
        self.engine = BatchedEngine.for_catalogue(catalogue, streams=streams)
        self.obs_spec = self.engine.obs_spec
        own = [(f.name, f.size) for f in self.obs_spec.fields]
        #: The stock fields of a normalized observation, (name, size) pairs: the engine's own layout,
        #: or ``layout`` (wider: e.g. a whole catalogue's when training on some of its SKUs)
        self.layout = own if layout is None else [(str(n), int(k)) for n, k in layout]
        if features == "normalized":
            widen(np.zeros((1, self.obs_spec.size), np.float32), self.obs_spec, self.layout)
        self.features = features
        self.periods = int(episode_periods or catalogue.periods or catalogue.configs[0].periods)
        if self.periods < 1:
            raise ConfigError(f"episode_periods (={episode_periods}) must be >= 1")
        self.scale = np.asarray(catalogue.demand_scale, dtype=float)
        self._static = static_features(catalogue)
        h = np.asarray([c.costs.holding for c in catalogue.configs])
        p = np.asarray([c.costs.shortage for c in catalogue.configs])
        unit = (h + p) * self.scale
        self._penalty = np.broadcast_to(np.asarray(refusal_penalty, dtype=float), (catalogue.size,)).copy()
        if not (np.isfinite(self._penalty).all() and (self._penalty >= 0).all()):
            raise ConfigError(f"refusal_penalty (={refusal_penalty}) must be >= 0 (money per refused unit)")
        self._reward_unit = np.where(unit > 0, unit, 1.0) if reward == "normalized" else None
        self.levels = np.asarray(default_levels(catalogue) if levels is None else levels, dtype=float)
        if self.levels.ndim != 1 or len(self.levels) < 1 or (self.levels < 0).any():
            raise ConfigError(
                "levels must be a non-empty list of order-up-to levels >= 0 (periods of demand)"
            )
        self._build_spaces()
        self._seed = seed
        self._rng: np.random.Generator | None = None
        self._elapsed = 0
        self.last_flows: PeriodFlows | None = None

    def _build_spaces(self) -> None:
        if self.features == "normalized":
            size = sum(k for _, k in self.layout) + len(SKU_FEATURES)
            low = np.full(size, -UNBOUNDED if self.obs_spec.has("backlog") else 0.0, dtype=np.float32)
            self.single_observation_space = spaces.Box(
                low, np.full(size, UNBOUNDED, np.float32), dtype=np.float32
            )
            self.single_action_space = spaces.Discrete(len(self.levels))
        else:
            self.single_observation_space = self.obs_spec.space()
            amap = self.engine.action_map
            top = amap.max_level if amap.order_up_to else amap.max_order
            self.single_action_space = spaces.Discrete(int(np.max(top)) + 1)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def obs_names(self) -> list[str]:
        """The name of every index of a SKU's observation."""
        if self.features == "raw":
            return self.obs_spec.names()
        return scale_free_names(self.layout)

    # ----------------------------------------------------------------------------- reset
    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new catalogue episode (every SKU); see the class docstring for seeding."""
        if options and options.get("reset_mask") is not None and not np.all(options["reset_mask"]):
            raise ConfigError("the SKUs of a catalogue share the warehouse: reset all of them or none")
        if seed is not None:
            first = seed if isinstance(seed, int | np.integer) else list(seed)[0]
            self._rng = np.random.default_rng(np.random.SeedSequence(int(first)))
        elif self._rng is None:
            self._rng = np.random.default_rng(
                None if self._seed is None else np.random.SeedSequence(self._seed)
            )
        self._start()
        return self.observe(), {}

    def _start(self) -> None:
        assert self._rng is not None
        episode = int(self._rng.integers(2**63))
        if self.engine.streams == "shared":
            self.engine.reset(episode)
        else:
            self.engine.reset(sku_seeds(episode, self.catalogue.skus))
        self._elapsed = 0

    # ------------------------------------------------------------------------------ step
    def orders(self, actions: Any) -> np.ndarray:
        """The orders (units, (N,)) the actions ask for at the current state."""
        a = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        ip = self.engine.inventory_position
        if self.features == "raw":
            return self.engine.action_map.orders(a, ip)
        if (a < 0).any() or (a >= len(self.levels)).any():
            raise ValueError(f"actions must be in 0 .. {len(self.levels) - 1}")
        return level_orders(self.levels[a], self.scale, ip, self.engine.action_map.max_order)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One period at every SKU; an ended catalogue episode is reset in the same step."""
        eng = self.engine
        flows = eng.step(self.orders(actions))
        self.last_flows = flows
        self._elapsed += 1
        cost = flows.cost
        n = self.num_envs
        info: dict[str, Any] = {"cost": cost}
        for name in FLOW_FIELDS + SHARED_FIELDS:
            info[name] = getattr(flows, name)
        for name in TOTAL_FIELDS:
            info[name] = np.full(n, getattr(flows, name))
        terminated = eng.terminated
        truncated = np.full(n, self._elapsed >= self.periods) | (terminated.any() & ~terminated)
        obs = self.observe()
        charged = cost + self._penalty * flows.refused if self._penalty.any() else cost
        reward = -charged if self._reward_unit is None else -charged / self._reward_unit
        done = terminated | truncated
        if done.any():
            final_obs = np.empty(n, dtype=object)
            for i in range(n):
                final_obs[i] = obs[i].copy()
            info["final_info"], info["_final_info"] = dict(info), done
            info["final_obs"], info["_final_obs"] = final_obs, done
            self._start()
            obs = self.observe()
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------------ observation
    def observe(self) -> np.ndarray:
        """(N, size) float32 observations of the current state (the class docstring's table)."""
        raw = self.engine.observe()
        if self.features == "raw":
            return raw
        use, inbound = limit_use(self.catalogue, self.engine.on_hand, self.engine.on_order)
        if self.layout != [(f.name, f.size) for f in self.obs_spec.fields]:
            raw = widen(raw, self.obs_spec, self.layout)
        return scale_free(raw, self.scale, self._static, use, inbound)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: the engine is arrays in this process."""
        return None
