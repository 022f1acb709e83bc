"""ActionMap: the one mapping between an env's Discrete action and the units it orders.

``action.mode: quantity``: action a orders a units. ``action.mode: order_up_to``: action a is a target
inventory position, and orders q = min(max_order, max(0, a - round(IP))) units, IP = the inventory
position (on hand + on order - backlog, units) at the decision. Every place that turns actions into
orders or back (InventoryEnv, the batched engine, the vector envs, the exact DP) goes through this
class; its methods take one state (ints) or a batch (NumPy arrays, one entry per stocking point, and
then ``max_order`` / ``max_level`` may be arrays too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the config composes demand models; the core contract only reads it
    from stocklab.envs.config import EnvConfig


@dataclass(frozen=True)
class ActionMap:
    """Converts an order quantity (units) into the env's action and back, for either action mode.

    ``max_order`` (units per order) and ``max_level`` (largest order-up-to action, units) are ints for
    one stocking point, or (B,) int arrays for a batch of stocking points with their own limits.
    """

    mode: str
    max_order: Any
    max_level: Any

    @classmethod
    def for_config(cls, config: EnvConfig) -> ActionMap:
        """The action map of an env built from ``config``."""
        return cls(config.action.mode, config.max_order, config.action.max_level)

    @property
    def order_up_to(self) -> bool:
        """True when an action is a target inventory position."""
        return self.mode == "order_up_to"

    # ------------------------------------------------------------------- one state
    def action(self, order: int, inventory_position: float) -> int:
        """The action that orders ``order`` units (clipped to what the action space allows)."""
        order = max(0, min(int(order), int(self.max_order)))
        if not self.order_up_to:
            return order
        return int(max(0, min(int(self.max_level), round(inventory_position) + order)))

    def order(self, action: int, inventory_position: float) -> int:
        """The units ``action`` orders when the inventory position is ``inventory_position``."""
        if not self.order_up_to:
            return int(action)
        return int(min(int(self.max_order), max(0, int(action) - round(inventory_position))))

    # ------------------------------------------------------------------------ batch
    def actions(self, orders: np.ndarray, inventory_position: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`action`: int64 actions for arrays of orders and positions (units)."""
        q = np.minimum(np.maximum(np.asarray(orders, dtype=np.int64), 0), self.max_order)
        if not self.order_up_to:
            return q
        return np.minimum(np.maximum(_whole(inventory_position) + q, 0), self.max_level)

    def orders(self, actions: np.ndarray, inventory_position: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`order`: int64 units ordered for arrays of actions and positions."""
        a = np.asarray(actions, dtype=np.int64)
        if not self.order_up_to:
            return a
        return np.minimum(np.maximum(a - _whole(inventory_position), 0), self.max_order)


def _whole(x: np.ndarray) -> np.ndarray:
    """Positions as int64, rounded half to even like Python's ``round`` (they are whole already).

    (np.minimum / np.maximum rather than np.clip below: the same result at a third of the call cost.)
    """
    x = np.asarray(x)
    return x if x.dtype.kind in "iu" else np.rint(x).astype(np.int64)
