"""``InventoryVectorEnv``: a native ``gymnasium.vector.VectorEnv`` over the batched engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import ConfigError
from stocklab.envs.engines.batched import BatchedEngine, Streams
from stocklab.envs.engines.flows import FLOW_FIELDS, PeriodFlows


class InventoryVectorEnv(VectorEnv):
    """``num_envs`` copies of InventoryEnv, stepped together by the batched NumPy engine.

    ## Description
    The same stocking point, timing, costs, actions and observations as
    :class:`~stocklab.envs.InventoryEnv` (read its docstring for them), for ``num_envs`` independent
    sub-environments at once: one :class:`~stocklab.envs.engines.batched.BatchedEngine` step per call,
    no Python loop over the sub-environments. With ``streams: exact`` (the default) sub-environment i
    reset with seed s sees exactly the demand and lead times of ``InventoryEnv`` reset with seed s.
    Only configs the batched engine simulates exactly are accepted (whole-period lead times,
    end-of-period holding); others raise ConfigError naming the field.

    ## Creation
    ``gymnasium.make_vec("stocklab/Inventory-v0", num_envs=256, vectorization_mode="vector_entry_point",
    lead_time=2, demand={"dist": "poisson", "mean": 5})`` (or ``config=EnvConfig(...)``; ``streams=
    "shared"`` for the faster shared random streams, see BatchedEngine).

    ## Spaces
    ``single_observation_space``: InventoryEnv's float32 Box (``obs_spec`` names each index);
    ``observation_space``: its batch, shape (num_envs, n). ``single_action_space``: ``Discrete``;
    ``action_space``: ``MultiDiscrete`` of num_envs of them.

    ## Step
    ``step(actions)`` returns observations (num_envs, n) float32, rewards (num_envs,) float64 = -cost
    of the period (money), ``terminations`` (a replayed demand with ``at_end: stop`` ran out),
    ``truncations`` (``periods`` steps since the sub-environment's reset: TimeLimit's semantics, with
    ``max_episode_steps`` overriding ``periods``) and ``info``, a dict of (num_envs,) arrays: ``cost``
    and the flows of InventoryEnv's ``info`` (``holding_cost`` .. ``unit_cost``, ``order``, ``demand``,
    ``sold``, ``lost``, ``backordered``, ``backlog``, ``received``, ``refused``, ``on_hand``).

    ## Autoreset (``AutoresetMode.SAME_STEP``)
    A sub-environment that terminates or truncates is reset within the same ``step``: the returned
    observation is the first of its new episode, and ``info["final_obs"]`` (an object array, set where
    ``info["_final_obs"]``) holds the last observation of the episode that ended; ``info["final_info"]``
    holds that step's info arrays (mask ``info["_final_info"]``). The new episode's seed is the next
    draw of the sub-environment's generator, as ``InventoryEnv.reset()`` without a seed does.

    ## Reset
    ``reset(seed=s)`` seeds sub-environment i with s + i (``seed=[s0, s1, ...]``: one each);
    ``reset(options={"reset_mask": mask})`` resets only the masked sub-environments.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    #: Outputs of the last step, not state: a training checkpoint leaves them out (envs.core.state).
    __transient__ = ("last_flows",)

    def __init__(
        self,
        num_envs: int = 1,
        config: EnvConfig | dict[str, Any] | None = None,
        *,
        streams: Streams = "exact",
        max_episode_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        if config is not None and kwargs:
            raise TypeError("pass either config or keyword arguments, not both")
        self.config = parse_env_config(config if config is not None else kwargs)
        if num_envs < 1:
            raise ConfigError(f"num_envs (={num_envs}) must be >= 1")
        self.num_envs = int(num_envs)
        self.engine = BatchedEngine(self.config, self.num_envs, streams=streams)
        self.obs_spec, self.action_map = self.engine.obs_spec, self.engine.action_map
        self.periods = int(max_episode_steps or self.config.periods)
        act = self.config.action
        top = act.max_level if act.mode == "order_up_to" else self.config.max_order
        assert top is not None  # EnvConfig requires max_level in order_up_to mode
        n_actions = top + 1
        self.single_observation_space = self.obs_spec.space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.Discrete(n_actions)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = []
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self.last_flows: PeriodFlows | None = None

    # ----------------------------------------------------------------------------- reset
    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-environment (or those of ``options["reset_mask"]``); see the class docstring."""
        mask = None if options is None else options.get("reset_mask")
        index = np.arange(self.num_envs) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset: {len(seeds)} seeds for {self.num_envs} sub-environments")
            self._rngs = [seeding.np_random(int(s))[0] for s in seeds]
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        elif not self._rngs:
            self._rngs = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._start(index, full=mask is None)
        return self.engine.observe(), {}

    def _start(self, index: np.ndarray, full: bool) -> None:
        """New episodes at ``index``, each seeded by its sub-environment's generator."""
        draws = [int(self._rngs[i].integers(2**63)) for i in index.tolist()]
        if self.engine.streams == "shared":
            self.engine.reset(draws[0] if full else None, None if full else index)
        else:
            self.engine.reset(draws, None if full else index)
        self._elapsed[index] = 0

    # ------------------------------------------------------------------------------ step
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One period at every sub-environment; ended ones are reset in the same step."""
        eng = self.engine
        flows = eng.step(self.action_map.orders(np.asarray(actions), eng.inventory_position))
        self.last_flows = flows
        self._elapsed += 1
        cost = flows.cost
        info: dict[str, Any] = {"cost": cost, **{name: getattr(flows, name) for name in FLOW_FIELDS}}
        terminated = eng.terminated
        truncated = self._elapsed >= self.periods
        obs = eng.observe()
        done = terminated | truncated
        if done.any():
            index = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in index.tolist():
                final_obs[i] = obs[i].copy()  # obs[i] is overwritten by the reset below
            info["final_info"], info["_final_info"] = dict(info), done
            info["final_obs"], info["_final_obs"] = final_obs, done
            self._start(index, full=bool(done.all()))
            obs[index] = eng.observe()[index]
        return obs, -cost, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: the engine is arrays in this process."""
        return None


def make_inventory_vector_env(
    num_envs: int = 1, preset: dict[str, Any] | None = None, **kwargs: Any
) -> InventoryVectorEnv:
    """Vector entry point of the registered ids: ``preset`` (a preset's config) updated by ``kwargs``.

    What ``gymnasium.make_vec(id, num_envs, vectorization_mode="vector_entry_point", **kwargs)`` calls.
    """
    streams = kwargs.pop("streams", "exact")
    steps = kwargs.pop("max_episode_steps", None)
    config = kwargs.pop("config", None)
    kwargs.pop("render_mode", None)
    if config is None:
        config = {**(preset or {}), **kwargs}
    elif kwargs:
        raise TypeError(f"pass either config or keyword arguments, not both (got {sorted(kwargs)})")
    return InventoryVectorEnv(num_envs, config, streams=streams, max_episode_steps=steps)
