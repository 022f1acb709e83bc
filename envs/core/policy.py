"""The one policy interface shared by baselines, agents and exported policies.

Every policy answers SB3's ``PolicyPredictor`` call, ``predict(observation, state=None,
episode_start=None, deterministic=True) -> (action, state)``, so one evaluator (ours, or SB3's
``evaluate_policy``) serves all. Subclasses implement :meth:`act` for one observation vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stocklab.envs.core.obs import ObsSpec

if TYPE_CHECKING:  # the config composes demand models; the core contract only reads it
    from stocklab.envs.config import EnvConfig


@dataclass(frozen=True)
class ActionMap:
    """Converts an order quantity (units) into the env's action and back, for either action mode."""

    mode: str
    max_order: int
    max_level: int | None

    @classmethod
    def for_config(cls, config: EnvConfig) -> ActionMap:
        """The action map of an env built from ``config``."""
        return cls(config.action.mode, config.max_order, config.action.max_level)

    def action(self, order: int, inventory_position: float) -> int:
        """The action that orders ``order`` units (clipped to what the action space allows)."""
        order = max(0, min(int(order), self.max_order))
        if self.mode == "quantity":
            return order
        assert self.max_level is not None
        return int(max(0, min(self.max_level, round(inventory_position) + order)))

    def order(self, action: int, inventory_position: float) -> int:
        """The units ``action`` orders when the inventory position is ``inventory_position``."""
        if self.mode == "quantity":
            return int(action)
        return int(min(self.max_order, max(0, int(action) - round(inventory_position))))


class Policy(ABC):
    """A replenishment policy acting on observation vectors laid out by ``obs_spec``."""

    #: Short name used in reports and exports.
    name: str = "policy"

    def __init__(self, obs_spec: ObsSpec, action_map: ActionMap) -> None:
        self.obs_spec = obs_spec
        self.action_map = action_map
        self._ip = obs_spec.index("inventory_position").start

    @abstractmethod
    def act(self, observation: np.ndarray) -> int:
        """The action (an index into the env's Discrete action space) for one observation."""

    def reset(self) -> None:
        """Forget per-episode memory (e.g. a period counter); called at the start of every episode."""
        return None  # stateless by default

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3-style prediction for one observation or a batch (first axis)."""
        obs = np.asarray(observation)
        if obs.ndim == 1:
            return np.asarray(self.act(obs)), state
        return np.asarray([self.act(o) for o in obs]), state

    def inventory_position(self, observation: np.ndarray) -> float:
        """Inventory position (units) read from an observation."""
        return float(observation[self._ip])

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters that define the policy (for reports and export)."""
        return {}

    @property
    def exportable(self) -> str | None:
        """How the policy can be exported (``"params"``, ``"table"``, ``"onnx"``), or None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params()})"
