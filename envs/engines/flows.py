"""PeriodFlows: what happened in one period at B stocking points, as arrays (the batched PeriodResult)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

#: Field names of a period's flows, in the order of :class:`~stocklab.envs.engines.simpy_engine.PeriodResult`.
FLOW_FIELDS = (
    "order", "demand", "sold", "lost", "backordered", "backlog", "received", "refused", "on_hand",
    "holding_cost", "shortage_cost", "fixed_cost", "unit_cost",
)  # fmt: skip


@dataclass(slots=True)
class PeriodFlows:
    """One period at B stocking points: every field is an array of shape (B,).

    Units of stock (int64) for ``order`` .. ``on_hand``, money for the period (float64) for the four
    costs; the meaning of each field is that of
    :class:`~stocklab.envs.engines.simpy_engine.PeriodResult`: ``on_hand`` and ``backlog`` are the
    end-of-period values the costs are charged on (before the arrivals due at t + 1); ``received``,
    ``refused`` and ``sold`` include what those arrivals did. Fields that a configuration makes zero
    (``lost`` under backorders, ``refused`` without capacity, ...) may share one read-only array of zeros.
    """

    order: np.ndarray
    demand: np.ndarray
    sold: np.ndarray
    lost: np.ndarray
    backordered: np.ndarray
    backlog: np.ndarray
    received: np.ndarray
    refused: np.ndarray
    on_hand: np.ndarray
    holding_cost: np.ndarray
    shortage_cost: np.ndarray
    fixed_cost: np.ndarray
    unit_cost: np.ndarray

    @property
    def cost(self) -> np.ndarray:
        """Total cost of the period (money, (B,)); summed in PeriodResult's order, so bit for bit equal."""
        return self.holding_cost + self.shortage_cost + self.fixed_cost + self.unit_cost

    def row(self, i: int) -> dict[str, Any]:
        """Stocking point ``i``'s flows as the ``info`` dict of ``InventoryEnv.step`` (Python numbers)."""
        out: dict[str, Any] = {"cost": float(self.cost[i])}
        for f in fields(self):
            out[f.name] = getattr(self, f.name)[i].item()
        return out

    def take(self, index: np.ndarray) -> PeriodFlows:
        """The flows of the stocking points ``index`` (an index array or boolean mask)."""
        return PeriodFlows(*(getattr(self, name)[index] for name in FLOW_FIELDS))
