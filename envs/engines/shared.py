"""Shared limits of a catalogue as array operations: the purchasing budget and the warehouse capacity.

A catalogue is a batch of stocking points (SKUs) coupled only by two optional limits (the
``catalogue.shared`` section, :class:`~stocklab.envs.catalogue.config.SharedLimits`). Per period t,
in this order:

1. **Budget** B (money per period) on the orders placed at t, which cost c_i q_i (c_i: the SKU's
   ``unit_cost``). When sum_i c_i q_i > B:

   * ``pro_rata``: every order becomes floor(q_i B / S), S = sum_i c_i q_i (whole units; the
     leftover B - sum_i c_i q_i' is not redistributed);
   * ``priority``: SKUs in descending ``priority`` (ties: catalogue order) get their whole order
     while the running total sum c_i q_i stays <= B; the first SKU that would cross it gets the
     whole units that still fit, floor((B - spent) / c_i), and every later SKU gets nothing.

2. **Capacity** C (units, or volume with ``measure: volume``) on the stock on hand after arrivals.
   The arrivals due at one instant are rationed together: after the backlog is served and each
   SKU's own ``capacity`` has refused its excess, the free room is R = max(0, C - sum_i v_i x_i)
   (x_i on hand before the arrivals, v_i the SKU's volume, 1 with ``measure: units``) and the
   arriving volume A = sum_i v_i a_i. When A > R:

   * ``pro_rata``: SKU i keeps floor(a_i R / A) units;
   * ``priority``: as the budget's priority rule, with volume in place of money and R in place of B;
   * ``overflow``: everything is kept; at the end of the period the volume above C,
     O = max(0, sum_i v_i I_i - C) (I_i: on hand at the end of the period), is charged
     ``overflow_cost`` per unit of volume, shared among SKUs in proportion to v_i I_i.

   Units refused are counted per SKU in ``refused`` and cost nothing else.

Sums run in catalogue order, one after the other (``np.cumsum``, never numpy's pairwise ``sum``), so
that the SimPy catalogue engine, which adds in a Python loop, gets the same floats bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stocklab.envs.core.errors import ConfigError


def total(x: np.ndarray) -> float:
    """Sum of ``x`` added left to right (the order a Python loop adds in)."""
    return float(np.cumsum(x)[-1]) if len(x) else 0.0


def ration(amount: np.ndarray, weight: np.ndarray, room: float, rule: str, order: np.ndarray) -> np.ndarray:
    """Whole units of ``amount`` that fit in ``room`` when each unit of SKU i takes ``weight[i]``.

    ``rule`` is ``pro_rata`` or ``priority`` (module docstring); ``order`` lists the SKUs from the
    highest priority down. Returns ``amount`` itself when everything fits.
    """
    need = total(weight * amount)
    room = max(room, 0.0)
    if need <= room:
        return amount
    if rule == "pro_rata":
        return np.floor(amount * room / need).astype(np.int64)
    a = amount[order]
    w = weight[order]
    running = np.cumsum(w * a)
    full = running <= room
    kept = np.where(full, a, 0)
    k = int(np.argmin(full))  # the first SKU that crosses (one does: need > room)
    spent = float(running[k - 1]) if k else 0.0
    kept[k] = min(int(a[k]), int(np.floor((room - spent) / w[k])))
    out = np.empty_like(amount)
    out[order] = kept
    return out


@dataclass(frozen=True)
class SharedArrays:
    """The shared limits of a batch, as the engines use them.

    ``capacity`` / ``budget``: the limits (None when absent); ``volume`` (B,) units of capacity per
    unit of stock (ones with ``measure: units``); ``unit_cost`` (B,) money per unit ordered;
    ``order`` the SKUs by descending priority (ties: catalogue order).
    """

    capacity: float | None
    capacity_rule: str
    overflow_rate: float
    budget: float | None
    budget_rule: str
    volume: np.ndarray
    unit_cost: np.ndarray
    order: np.ndarray

    @classmethod
    def build(cls, shared: Any, size: int, volume: Any, unit_cost: Any, priority: Any) -> SharedArrays:
        """Arrays for ``size`` SKUs from a SharedLimits section (or None) and the per-SKU attributes."""
        cap = getattr(shared, "capacity", None)
        bud = getattr(shared, "budget", None)
        vol = _per_sku("volume", volume, size, 1.0)
        if cap is not None and cap.measure == "units":
            vol = np.ones(size)
        cost = _per_sku("unit_cost", unit_cost, size, 1.0)
        prio = _per_sku("priority", priority, size, 0.0)
        if (vol <= 0).any() or (cost <= 0).any():
            raise ConfigError("volume and unit_cost must be > 0 for every SKU")
        order = np.lexsort((np.arange(size), -prio))
        return cls(
            capacity=None if cap is None else float(cap.limit),
            capacity_rule="pro_rata" if cap is None else cap.rule,
            overflow_rate=0.0 if cap is None else float(cap.overflow_cost),
            budget=None if bud is None else float(bud.limit),
            budget_rule="pro_rata" if bud is None else bud.rule,
            volume=vol,
            unit_cost=cost,
            order=order,
        )

    def budget_orders(self, q: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Orders after the budget rule, the money they cost and the money asked (step 1)."""
        spend = self.unit_cost * q
        asked = total(spend)
        if self.budget is None or asked <= self.budget:
            return q, asked, asked
        placed = ration(q, self.unit_cost, self.budget, self.budget_rule, self.order)
        return placed, total(self.unit_cost * placed), asked

    def admit(self, on_hand: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """On hand after a batch of arrivals under the capacity rule (step 2).

        ``on_hand``: before the batch; ``kept``: after the backlog and each SKU's own capacity.
        """
        if self.capacity is None or self.capacity_rule == "overflow":
            return kept
        arriving = np.maximum(kept - on_hand, 0)
        if not arriving.any():
            return kept
        room = self.capacity - total(self.volume * on_hand)
        accepted = ration(arriving, self.volume, room, self.capacity_rule, self.order)
        if accepted is arriving:
            return kept
        return kept - arriving + accepted

    def overflow(self, on_hand: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Per-SKU overflow charge (money, or None without one) and the volume above capacity (units).

        ``on_hand``: stock at the end of the period.
        """
        if self.capacity is None:
            return None, 0.0
        held = self.volume * on_hand
        used = total(held)
        over = max(used - self.capacity, 0.0)
        if self.capacity_rule != "overflow":
            return None, over
        charge = self.overflow_rate * over
        if charge == 0.0:
            return np.zeros(len(on_hand)), over
        return charge * held / used, over


def _per_sku(name: str, values: Any, size: int, default: float) -> np.ndarray:
    if values is None:
        return np.full(size, default)
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (size,):
        raise ConfigError(f"{name} has {arr.size} values for {size} SKUs")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} must be finite for every SKU")
    return arr
