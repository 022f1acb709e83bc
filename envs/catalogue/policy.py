"""The one interface of catalogue policies, and the state of the shared limits they see.

A catalogue policy decides the orders of every SKU of a catalogue at once (so that it can ration a
shared capacity or budget itself): :meth:`CataloguePolicy.orders` takes the per-SKU observations
((N, obs_size), the engine's ObsSpec layout in units) and a :class:`CatalogueState` and returns N
orders in units. The engine then applies the budget rule to them, and the capacity rule to what
arrives (``stocklab.envs.engines.shared``), so a policy that ignores the limits is still simulated
correctly, only rationed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.engines.shared import total


@dataclass(frozen=True)
class CatalogueState:
    """What a catalogue policy knows beyond the per-SKU observations, at the decision of period t.

    ``period``: periods since the episode's start. ``on_hand``, ``on_order``, ``inventory_position``:
    (N,) units, after the arrivals due at t. ``volume`` / ``unit_cost``: (N,) the SKUs' attributes.
    ``capacity``: the shared limit C (units, or volume with ``measure: volume``; None without one),
    ``capacity_used`` = sum_i v_i on_hand_i now, ``inbound`` = sum_i v_i on_order_i (volume on the
    way). ``budget``: B, the money the orders of this period may cost (None without a budget).
    """

    period: int
    on_hand: np.ndarray
    on_order: np.ndarray
    inventory_position: np.ndarray
    volume: np.ndarray
    unit_cost: np.ndarray
    capacity: float | None
    capacity_used: float
    inbound: float
    budget: float | None

    @property
    def capacity_free(self) -> float | None:
        """C - capacity_used (negative when stock is above the capacity), None without a capacity."""
        return None if self.capacity is None else self.capacity - self.capacity_used

    @classmethod
    def of(cls, engine: Any, period: int = 0) -> CatalogueState:
        """The state of a catalogue engine (BatchedEngine or SimPyCatalogue built for a catalogue)."""
        sh = engine.shared  # SharedArrays (both engines), None for independent stocking points
        n = engine.size
        volume = np.ones(n) if sh is None else sh.volume
        cost = np.ones(n) if sh is None else sh.unit_cost
        fields = engine.fields()
        on_hand = np.asarray(fields["on_hand"])
        ip = np.asarray(engine.inventory_position)
        on_order = ip - on_hand + np.asarray(fields.get("backlog", 0))
        return cls(
            period=period, on_hand=on_hand, on_order=on_order, inventory_position=ip,
            volume=volume, unit_cost=cost, capacity=None if sh is None else sh.capacity,
            capacity_used=total(volume * on_hand), inbound=total(volume * on_order),
            budget=None if sh is None else sh.budget,
        )  # fmt: skip


class CataloguePolicy(ABC):
    """A policy deciding the orders (units) of every SKU of a catalogue in one call."""

    #: Short name used in reports and exports.
    name: str = "catalogue_policy"
    #: How the policy can be exported: ``"catalogue_params"``, ``"catalogue_onnx"`` or None.
    exportable: str | None = None

    def reset(self) -> None:
        """Forget per-episode memory; called at the start of every episode."""
        return None

    @abstractmethod
    def orders(self, obs: np.ndarray, state: CatalogueState) -> np.ndarray:
        """Orders (units, int64, shape (N,)) for observations ``obs`` (N, obs_size) and ``state``."""

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters that define the policy (for reports and export)."""
        return {}

    def memory(self) -> dict[str, Any] | None:
        """What the policy carries from one period to the next, JSON-ready; None when it carries nothing.

        A deployed policy decides one period per call: passing this back with the next period's
        states (:meth:`restore`) makes a stateful policy decide as it did in simulation.
        """
        return None

    def restore(self, memory: dict[str, Any]) -> None:
        """Continue from the output of :meth:`memory`; PolicyError when it does not fit this policy."""
        raise PolicyError(
            f"{self.name}: this policy keeps no memory between periods, so none can be restored"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
