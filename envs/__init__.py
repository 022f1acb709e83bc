"""stocklab.envs: the stocking-point simulator, demand and lead-time models, and InventoryEnv.

Importing this package registers ``stocklab/Inventory-v0`` and the presets ``stocklab/LostSales-v0``
and ``stocklab/Backorder-v0`` with gymnasium (at once if gymnasium is loaded, else as it loads). This is the lowest layer: it imports no other stocklab
package. The names below load on first use, so that importing a small part of stocklab (the CLI's
``--help``, say) does not pay for simpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stocklab.envs.registration import ENV_ID, PRESETS, register_envs, register_when_gymnasium_loads

if TYPE_CHECKING:
    from stocklab.envs.config import EnvConfig, parse_env_config
    from stocklab.envs.core.errors import ConfigError, DataError, PolicyError, StocklabError
    from stocklab.envs.core.obs import ObsSpec
    from stocklab.envs.core.policy import Policy
    from stocklab.envs.engines.simpy_engine import PeriodResult, StockPoint
    from stocklab.envs.inventory_env import InventoryEnv
    from stocklab.envs.registration import make_env

register_when_gymnasium_loads()

#: Public name -> the module that defines it (imported on first access, PEP 562).
_LAZY = {
    "EnvConfig": "stocklab.envs.config",
    "parse_env_config": "stocklab.envs.config",
    "ConfigError": "stocklab.envs.core.errors",
    "DataError": "stocklab.envs.core.errors",
    "PolicyError": "stocklab.envs.core.errors",
    "StocklabError": "stocklab.envs.core.errors",
    "ObsSpec": "stocklab.envs.core.obs",
    "Policy": "stocklab.envs.core.policy",
    "PeriodResult": "stocklab.envs.engines.simpy_engine",
    "StockPoint": "stocklab.envs.engines.simpy_engine",
    "InventoryEnv": "stocklab.envs.inventory_env",
    "make_env": "stocklab.envs.registration",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stocklab.envs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ENV_ID",
    "PRESETS",
    "ConfigError",
    "DataError",
    "EnvConfig",
    "InventoryEnv",
    "ObsSpec",
    "PeriodResult",
    "Policy",
    "PolicyError",
    "StockPoint",
    "StocklabError",
    "make_env",
    "parse_env_config",
    "register_envs",
]
