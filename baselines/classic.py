"""Classic replenishment policies acting on the inventory position (on hand + on order - backlog).

Acting on on-hand stock alone would re-order every period while a long lead time keeps earlier
orders in transit; every policy here reads the inventory position from the observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stocklab.envs import PolicyError
from stocklab.envs.obs import ObsSpec
from stocklab.envs.policy import ActionMap, Policy


class BaseStock(Policy):
    """Order up to level S: q = max(0, S - inventory position), capped at max_order."""

    name = "base_stock"

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, level: int) -> None:
        if level < 0:
            raise PolicyError(f"base_stock: level (={level}) must be >= 0")
        super().__init__(obs_spec, action_map)
        self.level = int(level)

    def act(self, observation: np.ndarray) -> int:
        ip = self.inventory_position(observation)
        return self.action_map.action(max(0, self.level - round(ip)), ip)

    def params(self) -> dict[str, Any]:
        return {"level": self.level}

    @property
    def exportable(self) -> str | None:
        return "params"


class ConstantOrder(Policy):
    """Order the same ``quantity`` units every period, whatever the state."""

    name = "constant"

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap, quantity: int) -> None:
        if quantity < 0:
            raise PolicyError(f"constant: quantity (={quantity}) must be >= 0")
        super().__init__(obs_spec, action_map)
        self.quantity = int(quantity)

    def act(self, observation: np.ndarray) -> int:
        return self.action_map.action(self.quantity, self.inventory_position(observation))

    def params(self) -> dict[str, Any]:
        return {"quantity": self.quantity}

    @property
    def exportable(self) -> str | None:
        return "params"
