"""PeriodFlows: what happened in one period at B stocking points, as arrays (the batched PeriodResult)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Field names of a period's flows, in the order of :class:`~stocklab.envs.engines.simpy_engine.PeriodResult`.
FLOW_FIELDS = (
    "order", "demand", "sold", "lost", "backordered", "backlog", "received", "refused", "on_hand",
    "holding_cost", "shortage_cost", "fixed_cost", "unit_cost",
)  # fmt: skip
#: Per-SKU fields a catalogue's shared limits add (None outside a catalogue).
SHARED_FIELDS = ("overflow_cost", "cut")
#: Catalogue totals of the period (one float each; None outside a catalogue).
TOTAL_FIELDS = ("capacity_used", "overflow", "budget_used", "budget_asked")


@dataclass(slots=True)
class PeriodFlows:
    """One period at B stocking points: every per-point field is an array of shape (B,).

    Units of stock (int64) for ``order`` .. ``on_hand``, money for the period (float64) for the four
    costs; the meaning of each field is that of
    :class:`~stocklab.envs.engines.simpy_engine.PeriodResult`: ``on_hand`` and ``backlog`` are the
    end-of-period values the costs are charged on (before the arrivals due at t + 1); ``received``,
    ``refused`` and ``sold`` include what those arrivals did. Fields that a configuration makes zero
    (``lost`` under backorders, ``refused`` without capacity, ...) may share one read-only array of zeros.

    A catalogue (stocking points coupled by shared limits, :mod:`stocklab.envs.engines.shared`) also
    fills, per stocking point, ``overflow_cost`` (money: its share of the overflow charge, in
    proportion to the volume it holds at the end of the period) and ``cut`` (units the budget rule
    removed from its order; ``order`` is what was placed), and the period's totals:
    ``capacity_used`` (volume on hand after the step's last arrivals, i.e. at the start of period
    t + 1, where refusal rules keep it <= the capacity), ``overflow`` (volume above the capacity at
    the end of the period, charged under rule ``overflow``), ``budget_used`` (sum of c q placed,
    money) and ``budget_asked`` (sum of c q asked). Outside a catalogue they are None.
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
    overflow_cost: np.ndarray | None = None
    cut: np.ndarray | None = None
    capacity_used: float | None = None
    overflow: float | None = None
    budget_used: float | None = None
    budget_asked: float | None = None

    @property
    def cost(self) -> np.ndarray:
        """Total cost of the period (money, (B,)); summed in PeriodResult's order, so bit for bit equal.

        In a catalogue the overflow charge is added last.
        """
        total = self.holding_cost + self.shortage_cost + self.fixed_cost + self.unit_cost
        return total if self.overflow_cost is None else total + self.overflow_cost

    @property
    def coupled(self) -> bool:
        """True when the flows come from a catalogue (the shared fields and totals are filled)."""
        return self.overflow_cost is not None

    def row(self, i: int) -> dict[str, Any]:
        """Stocking point ``i``'s flows as the ``info`` dict of ``InventoryEnv.step`` (Python numbers).

        A catalogue's rows also hold ``overflow_cost`` and ``cut``.
        """
        out: dict[str, Any] = {"cost": float(self.cost[i])}
        for name in FLOW_FIELDS + SHARED_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value[i].item()
        return out

    def totals(self) -> dict[str, float]:
        """The catalogue totals of the period by name (empty outside a catalogue)."""
        return {name: getattr(self, name) for name in TOTAL_FIELDS if getattr(self, name) is not None}

    def take(self, index: np.ndarray) -> PeriodFlows:
        """The flows of the stocking points ``index`` (an index array or boolean mask); totals are kept."""
        values: dict[str, Any] = {
            name: None if getattr(self, name) is None else getattr(self, name)[index]
            for name in FLOW_FIELDS + SHARED_FIELDS
        }
        values.update({name: getattr(self, name) for name in TOTAL_FIELDS})
        return PeriodFlows(**values)
