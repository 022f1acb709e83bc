"""One SKU's DP optimum when the shared limits of its catalogue are priced: g*(stock price, order price).

The Lagrangian relaxation of a catalogue (:mod:`stocklab.baselines.catalogue.bound`) charges every
SKU a price per unit of the stock that counts against the shared capacity and a surcharge per unit
ordered for the budget; each SKU is then an ordinary stocking point with modified costs, solved
exactly by the DP of :mod:`stocklab.baselines.exact`:

* ``stock_price`` pi (money per unit per period) on the stock the capacity measures:
  ``measure="arrival"``: the units on hand after the period's arrivals (what the refusal rules
  ``pro_rata`` and ``priority`` keep <= C), charged as pi * max(y, 0) on the stock y that faces the
  period's demand; ``measure="end"``: the units on hand at the end of the period (what the rule
  ``overflow`` charges), i.e. the holding cost h becomes h + pi;
* ``order_price`` kappa (money per unit ordered) added to the unit order cost: c becomes c + kappa.

:func:`priced_optimum` returns the optimal long-run average cost of the priced SKU (the value
iteration's lower bound on it, so that a bound built from it stays a bound) and, for the search over
the prices, the long-run averages of the priced stock and of the units ordered under the optimal
policy (the supergradient of the dual function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from stocklab.baselines.exact.chain import chain_average_cost
from stocklab.baselines.exact.limits import Deadline
from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.solver import solve_optimal, transitions
from stocklab.envs.config import EnvConfig

Measure = Literal["arrival", "end"]

#: Span of relative value iteration (money per period) of every priced solve.
VI_TOL = 1e-7


@dataclass(frozen=True, eq=False)
class PricedInstance(DPInstance):
    """A :class:`DPInstance` whose period cost also charges ``stock_price`` per unit on hand after arrivals.

    The stock facing a period's demand (``DPInstance.available``) is the stock on hand after the
    period's arrivals (net stock under backorders, of which max(y, 0) is on hand), so the extra cost
    of a (state, order) row is ``stock_price * max(available, 0)`` (money per period).
    """

    stock_price: float = 0.0

    @classmethod
    def priced(cls, inst: DPInstance, stock_price: float) -> PricedInstance:
        """``inst`` with the price ``stock_price`` (money per unit on hand after arrivals, per period)."""
        values = {f.name: getattr(inst, f.name) for f in fields(DPInstance)}
        return cls(**values, stock_price=float(stock_price))

    def period_cost(self, y: np.ndarray) -> np.ndarray:
        """L(y) + pi max(y, 0): holding, shortage and the price of the y units on hand (money per period)."""
        # DPInstance.period_cost reduces y to its distinct values and calls itself (this method) on
        # them; reduce first so that the price is added exactly once.
        arr = np.asarray(y)
        values, inverse = np.unique(arr, return_inverse=True)
        cost = DPInstance.period_cost(self, values) + self.stock_price * np.maximum(values, 0)
        return cost[inverse.reshape(arr.shape)]

    def with_bounds(self, **bounds: Any) -> PricedInstance:
        """The same priced instance with other bounds (the solver widens a binding position bound)."""
        return PricedInstance.priced(super().with_bounds(**bounds), self.stock_price)


@dataclass(frozen=True)
class PricedOptimum:
    """The optimum of one priced SKU (money per period; units per period for the averages).

    ``cost``: a lower bound on the optimal long-run average cost of the priced SKU (the smallest
    change of the last value-iteration step, Odoni 1969), within ``VI_TOL`` of it; ``policy_cost``:
    the exact average cost of the greedy policy found (>= ``cost``). ``stock``: the long-run average
    of the priced stock (units on hand after arrivals, or at the end of the period) and ``ordered``
    of the units ordered per period, under that policy. ``states``: the DP's size.
    """

    cost: float
    policy_cost: float
    stock: float
    ordered: float
    states: int


def priced_config(config: EnvConfig, stock_price: float, order_price: float, measure: Measure) -> EnvConfig:
    """``config`` with the prices folded into its costs where a cost rate can carry them.

    ``end``: holding + stock_price; always: unit_order + order_price. (The ``arrival`` price is
    charged by :class:`PricedInstance` instead.) The copy is not re-validated: prices may exceed the
    config's bounds on cost rates.
    """
    costs = config.costs
    update: dict[str, float] = {"unit_order": costs.unit_order + order_price}
    if measure == "end":
        update["holding"] = costs.holding + stock_price
    return config.model_copy(update={"costs": costs.model_copy(update=update)})


def priced_solution(
    config: EnvConfig,
    stock_price: float,
    order_price: float,
    measure: Measure = "arrival",
    *,
    max_states: int,
    deadline: Deadline | None = None,
) -> Any:
    """The DP solution (``instance``, ``orders`` per state, ``cost_bounds``) of ``config`` with the prices.

    ValueError for a negative or non-finite price; ConfigError / TimeLimitError as :func:`priced_optimum`.
    """
    if stock_price < 0 or order_price < 0 or not math.isfinite(stock_price + order_price):
        raise ValueError(f"prices must be finite and >= 0 (stock {stock_price}, order {order_price})")
    cfg = priced_config(config, stock_price, order_price, measure)
    inst: DPInstance = DPInstance.from_config(cfg, max_states=max_states)
    if measure == "arrival" and stock_price > 0:
        inst = PricedInstance.priced(inst, stock_price)
    return solve_optimal(inst, tol=VI_TOL, deadline=deadline)


def priced_optimum(
    config: EnvConfig,
    stock_price: float,
    order_price: float,
    measure: Measure = "arrival",
    *,
    max_states: int,
    deadline: Deadline | None = None,
) -> PricedOptimum:
    """Solve the DP of ``config`` with the prices (see the module docstring), and measure its policy.

    Raises ConfigError (ResourceLimitError) when the DP is outside its scope or above ``max_states``,
    TimeLimitError when ``deadline`` passes.
    """
    sol = priced_solution(config, stock_price, order_price, measure, max_states=max_states, deadline=deadline)
    inst = sol.instance
    rows = np.arange(inst.n_states)
    mat, cost, _ = transitions(inst, rows, sol.orders).rows(rows)
    start = inst.index(inst.start_state())
    if start < 0:  # the initial state lies outside the truncated space: start from the top state
        start = int(np.argmax(inst.states[:, 0] + inst.states[:, 1:].sum(axis=1)))
    gain, occ = chain_average_cost(mat, cost, start, deadline)
    x = inst.states[:, 0]
    y = inst.available(x, sol.orders)
    held = np.maximum(y, 0) if measure == "arrival" else _expected_excess(inst.pmf, y)
    return PricedOptimum(
        cost=min(float(sol.cost_bounds[0]), gain),
        policy_cost=gain,
        stock=float(occ @ held),
        ordered=float(occ @ sol.orders),
        states=inst.n_states,
    )


def _expected_excess(pmf: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E(y - D)^+ (units) for stock levels y and demand pmf ``pmf``: the stock left at the period's end."""
    d = np.arange(len(pmf))
    values, inverse = np.unique(np.asarray(y), return_inverse=True)
    out = np.maximum(values[:, None] - d[None, :], 0) @ pmf
    return out[inverse.reshape(np.shape(y))]


__all__ = ["Measure", "PricedInstance", "PricedOptimum", "priced_config", "priced_optimum", "priced_solution"]
