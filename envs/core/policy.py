"""The one policy interface shared by baselines, agents and exported policies.

Every policy answers SB3's ``PolicyPredictor`` call, ``predict(observation, state=None,
episode_start=None, deterministic=True) -> (action, state)``, so one evaluator (ours, or SB3's
``evaluate_policy``) serves all. Subclasses implement :meth:`act` for one observation vector, and may
implement :meth:`act_batch` for a batch of observations (one row per stocking point or episode) as
array arithmetic. A policy with per-episode memory (it overrides :meth:`reset`) is ``stateful``: the
batched rollout then steps it one episode at a time, so its memory never mixes two episodes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from stocklab.envs.core.actions import ActionMap
from stocklab.envs.core.obs import ObsSpec

__all__ = ["ActionMap", "Policy"]


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

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Actions (int64, shape (B,)) for observations of shape (B, n), one row per state.

        The default calls :meth:`act` row by row; stateless policies override it with array arithmetic
        that gives the same actions. Only meaningful for policies that are not :attr:`stateful`.
        """
        return np.fromiter((self.act(o) for o in observations), dtype=np.int64, count=len(observations))

    def reset(self) -> None:
        """Forget per-episode memory (e.g. a period counter); called at the start of every episode."""
        return None  # stateless by default

    @property
    def stateful(self) -> bool:
        """True when the policy keeps per-episode memory (it overrides :meth:`reset`)."""
        return type(self).reset is not Policy.reset

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
