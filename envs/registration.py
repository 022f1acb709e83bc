"""Gymnasium registration of stocklab's environments and presets.

Each id makes an InventoryEnv in TimeLimit with ``gymnasium.make``, and an InventoryVectorEnv (the
batched engine, no Python loop over sub-environments) with ``gymnasium.make_vec(id, num_envs=N,
vectorization_mode="vector_entry_point", ...)``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    import gymnasium as gym

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
    import gymnasium as gym

    from stocklab.envs.config import parse_env_config

    return gym.make(ENV_ID, config=parse_env_config(config), **make_kwargs)


def register_envs() -> None:
    """Register the generic id and the presets (idempotent)."""
    import gymnasium as gym

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


def register_when_gymnasium_loads() -> None:
    """Register now if gymnasium is loaded, else the moment anything imports it.

    Importing gymnasium costs a tenth of a second of every CLI start-up, and most commands never make
    an env; yet ``import stocklab.envs`` followed by ``gymnasium.make("stocklab/Inventory-v0")`` must
    work in either import order. A finder at the head of ``sys.meta_path`` waits for gymnasium's own
    import, lets the regular finders load it, and registers right after it has executed.
    """
    if "gymnasium" in sys.modules:
        register_envs()
    elif not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps gymnasium's loader so that :func:`register_envs` follows it."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one shot; and the search below must not find this finder again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """gymnasium's own loader, with the registration after the module has executed."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        register_envs()

    def __getattr__(self, name: str) -> Any:  # resource readers, is_package, get_code...
        return getattr(self._loader, name)
