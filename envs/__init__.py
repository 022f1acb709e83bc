"""stocklab.envs: the SimPy stocking-point simulator, demand and lead-time models, and InventoryEnv.

Importing this package registers ``stocklab/Inventory-v0`` and the presets ``stocklab/LostSales-v0``
and ``stocklab/Backorder-v0`` with gymnasium. This is the lowest layer: it imports no other stocklab
package.
"""

from stocklab.envs.config import EnvConfig, parse_env_config
from stocklab.envs.core.errors import ConfigError, DataError, PolicyError, StocklabError
from stocklab.envs.core.obs import ObsSpec
from stocklab.envs.core.policy import Policy
from stocklab.envs.engines.simpy_engine import PeriodResult, StockPoint
from stocklab.envs.inventory_env import InventoryEnv
from stocklab.envs.registration import ENV_ID, PRESETS, make_env, register_envs

register_envs()

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
