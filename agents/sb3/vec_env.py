"""An SB3 ``VecEnv`` over the batched engine: hundreds of InventoryEnvs in one process, no Python loop.

:class:`BatchedVecEnv` gives Stable-Baselines3 (PPO, A2C, DQN, ...) what ``DummyVecEnv`` of
``Monitor(TimeLimit(InventoryEnv))`` gives it, from one
:class:`~stocklab.envs.vector_env.InventoryVectorEnv`:

* ``reset()`` -> (n_envs, n) float32 observations; the seeds set by ``seed(s)`` (s + i for env i) are
  used at the next reset, then each env's generator continues, exactly as in DummyVecEnv; so with
  ``streams: exact`` env i sees the demand of the DummyVecEnv's env i, and training on either gives
  the same observations, rewards and episode ends.
* ``step_async(actions)`` / ``step_wait()`` -> observations, rewards (float32, -cost), dones and one
  info dict per env: ``{}`` within an episode; at its end ``terminal_observation``,
  ``TimeLimit.truncated`` and Monitor's ``episode`` = {r: return, l: length, t: seconds since start}.
  A finished env is reset in the same step (SB3's convention).
* ``get_attr`` / ``set_attr`` / ``env_method`` act on the InventoryVectorEnv (the same value for every
  index); ``env_is_wrapped`` is False for every wrapper. The per-env flows of the last step are in
  ``venv.last_flows`` (a :class:`~stocklab.envs.engines.flows.PeriodFlows` of (n_envs,) arrays).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from stocklab.envs.config import EnvConfig
from stocklab.envs.engines.batched import Streams
from stocklab.envs.vector_env import InventoryVectorEnv


class BatchedVecEnv(VecEnv):
    """SB3 VecEnv of ``n_envs`` InventoryEnvs (TimeLimit ``periods``) stepped by the batched engine."""

    def __init__(self, config: EnvConfig | dict[str, Any], n_envs: int, streams: Streams = "exact") -> None:
        self.venv = InventoryVectorEnv(n_envs, config, streams=streams)
        self.render_mode = None
        super().__init__(n_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(n_envs)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self._t0 = time.time()

    @property
    def config(self) -> EnvConfig:
        """The env config every sub-environment runs."""
        return self.venv.config

    @property
    def last_flows(self) -> Any:
        """PeriodFlows of the last step ((n_envs,) arrays), or None before the first step."""
        return self.venv.last_flows

    def reset(self) -> np.ndarray:
        """Reset every env; seeds from :meth:`seed` are used once, then the envs' generators continue."""
        seeds = None if all(s is None for s in self._seeds) else [int(s) for s in self._seeds]  # type: ignore[arg-type]
        obs, _ = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions of the next :meth:`step_wait`."""
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        """One period in every env; ended episodes are reset (SB3 semantics, see the module docstring)."""
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        self._returns += reward
        self._lengths += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            elapsed = round(time.time() - self._t0, 6)
            final = info["final_obs"]
            for i in np.flatnonzero(dones).tolist():
                infos[i] = {
                    "terminal_observation": final[i],
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {
                        "r": round(float(self._returns[i]), 6),
                        "l": int(self._lengths[i]),
                        "t": elapsed,
                    },
                }
            self._returns[dones] = 0.0
            self._lengths[dones] = 0
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        """Release the engine (nothing to stop: no worker processes)."""
        self.venv.close()

    # ------------------------------------------------------------ VecEnv plumbing
    def _count(self, indices: VecEnvIndices) -> int:
        return len(list(self._get_indices(indices)))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute ``attr_name``, once per index (every env shares it)."""
        if attr_name == "render_mode":
            return [None] * self._count(indices)
        value = getattr(self.venv, attr_name)
        return [value] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set ``attr_name`` on the vector env (shared by every index)."""
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call the vector env's method once and return its result for each index."""
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * self._count(indices)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrapper sits around the sub-environments."""
        return [False] * self._count(indices)

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering."""
        return [None] * self.num_envs
