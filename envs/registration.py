"""Gymnasium registration of stocklab's environments and presets.

Each id makes an InventoryEnv in TimeLimit with ``gymnasium.make``, and an InventoryVectorEnv (the
batched engine, no Python loop over sub-environments) with ``gymnasium.make_vec(id, num_envs=N,
vectorization_mode="vector_entry_point", ...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym

if TYPE_CHECKING:
    from stocklab.envs.config import EnvConfig

ENV_ID = "stocklab/Inventory-v0"

#: Preset instances: the lost-sales and backorder cases of the classic literature (Zipkin 2008).
PRESETS: dict[str, dict[str, Any]] = {
    "stocklab/LostSales-v0": {
        "unmet_demand": "lost",
        "demand": {"dist": "poisson", "mean": 5},
        "costs": {"holding": 1.0, "shortage": 9.0},
        "lead_time": 2,
    },
    "stocklab/Backorder-v0": {
        "unmet_demand": "backorder",
        "demand": {"dist": "poisson", "mean": 5},
        "costs": {"holding": 1.0, "shortage": 9.0},
        "lead_time": 1,
    },
}


def make_inventory_env(preset: dict[str, Any] | None = None, **kwargs: Any) -> gym.Env:
    """Build an InventoryEnv wrapped in TimeLimit(``periods``), the env config's episode length."""
    from gymnasium.wrappers import TimeLimit

    from stocklab.envs.config import parse_env_config
    from stocklab.envs.inventory_env import InventoryEnv

    config = kwargs.pop("config", None)
    render_mode = kwargs.pop("render_mode", None)
    if config is None:
        config = {**(preset or {}), **kwargs}
    cfg = parse_env_config(config)
    return TimeLimit(InventoryEnv(cfg, render_mode=render_mode), max_episode_steps=cfg.periods)


def make_env(config: EnvConfig | dict[str, Any], **make_kwargs: Any) -> gym.Env:
    """``gymnasium.make`` of the generic id for an env config (what experiments use)."""
    from stocklab.envs.config import parse_env_config

    return gym.make(ENV_ID, config=parse_env_config(config), **make_kwargs)


def register_envs() -> None:
    """Register the generic id and the presets (idempotent)."""
    for env_id, preset in [(ENV_ID, None), *PRESETS.items()]:
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="stocklab.envs.registration:make_inventory_env",
            vector_entry_point="stocklab.envs.vector_env:make_inventory_vector_env",
            kwargs={} if preset is None else {"preset": preset},
            max_episode_steps=None,
        )
