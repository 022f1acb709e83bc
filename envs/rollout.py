"""Roll a policy out in InventoryEnv: the one simulation loop that evaluation and tuning share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from stocklab.envs.config import EnvConfig
from stocklab.envs.core.policy import Policy
from stocklab.envs.inventory_env import InventoryEnv

Act = Callable[[np.ndarray], int]


def start_episode(policy: Policy | Act) -> Act:
    """The action function of ``policy`` (a Policy or its ``act``), reset for a new episode.

    Resetting makes per-episode memory (a forecast's period counter) start afresh.
    """
    owner = policy if isinstance(policy, Policy) else getattr(policy, "__self__", None)
    if isinstance(owner, Policy):
        owner.reset()
    return policy.act if isinstance(policy, Policy) else policy


def episode_infos(
    config: EnvConfig, policy: Policy | Act, seed: int, periods: int, warmup: int = 0
) -> Iterator[dict[str, Any]]:
    """Yield the ``info`` dict of each of the ``periods`` periods after ``warmup`` periods.

    ``policy`` is a Policy or a function from an observation vector to an action (e.g. ``policy.act``).
    The episode's randomness comes from ``seed`` alone, so every policy run on the same seed sees the
    same demand.
    """
    act = start_episode(policy)
    env = InventoryEnv(config)
    obs, _ = env.reset(seed=seed)
    for t in range(warmup + periods):
        obs, _, terminated, _, info = env.step(act(obs))
        if t >= warmup:
            yield info
        if terminated:
            return


def episode_costs(
    config: EnvConfig, policy: Policy | Act, seeds: list[int], periods: int, warmup: int = 0
) -> np.ndarray:
    """Average cost per period of each episode (one per seed), after ``warmup`` periods."""
    out = np.empty(len(seeds))
    for i, seed in enumerate(seeds):
        total = n = 0
        for info in episode_infos(config, policy, seed, periods, warmup):
            total += info["cost"]
            n += 1
        out[i] = total / max(n, 1)
    return out
