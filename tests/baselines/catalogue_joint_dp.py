"""Brute-force joint DP of a tiny catalogue (two SKUs, lost sales, lead time 1), for the bound's tests.

Written independently of the per-SKU DP: it enumerates the joint states (x_1, x_2) = units on hand
after the period's arrivals and the joint orders (q_1, q_2), follows the catalogue's timing and
minimises the long-run average cost by relative value iteration. A period: the budget rule scales
the orders (``budget``: pro rata, floor(q_i B / sum c_i q_i) when sum c_i q_i > B); demand is served
from x; holding h_i per unit left (e_i), shortage p_i per unit lost, ``unit`` c_i per unit ordered;
the orders arrive at the start of the next period, where the capacity C acts by ``rule``:

* ``pro_rata``: with free room R = C - sum v_i e_i and arriving volume A = sum v_i q_i > R, SKU i
  keeps floor(q_i R / A) units (the engines' refusal rule);
* ``overflow``: everything is kept and ``overflow_cost`` is charged per unit of volume above C at
  the end of the period, max(0, sum v_i e_i - C);
* ``never``: only orders that no demand outcome can make overflow are allowed
  (sum v_i (x_i + q_i) <= C: a policy whose arrivals are never refused).
"""

from __future__ import annotations

import itertools

import numpy as np


def joint_optimum(
    pmfs: list[np.ndarray],
    holding: list[float],
    shortage: list[float],
    unit: list[float],
    volume: list[float],
    capacity: float | None,
    max_stock: list[int],
    max_order: list[int],
    rule: str = "pro_rata",
    overflow_cost: float = 0.0,
    budget: float | None = None,
    budget_cost: list[float] | None = None,
    tol: float = 1e-10,
    iters: int = 50_000,
) -> float:
    """Optimal long-run average cost per period of the two-SKU catalogue (money per period)."""
    v, h, p, c = (np.asarray(a, dtype=float) for a in (volume, holding, shortage, unit))
    x = np.array(list(itertools.product(*[range(m + 1) for m in max_stock])))  # (S, 2)
    q = np.array(list(itertools.product(*[range(m + 1) for m in max_order])))  # (A, 2)
    d = np.array(list(itertools.product(*[range(len(pm)) for pm in pmfs])))  # (O, 2)
    prob = pmfs[0][d[:, 0]] * pmfs[1][d[:, 1]]
    if budget is not None:  # the budget scales the orders before anything else
        cb = np.asarray(budget_cost if budget_cost is not None else [1.0, 1.0], dtype=float)
        spend = q @ cb
        scale = np.where(spend > budget, budget / np.maximum(spend, 1e-300), 1.0)
        q = np.where((spend > budget)[:, None], np.floor(q * scale[:, None]), q).astype(np.int64)
    X, Q, D = x[:, None, None, :], q[None, :, None, :], d[None, None, :, :]
    e = np.maximum(X - D, 0)  # (S, 1, O, 2) end-of-period stock
    lost = np.maximum(D - X, 0)
    stage = (e * h).sum(-1) + (lost * p).sum(-1)  # (S, 1, O)
    kept = np.broadcast_to(Q, (len(x), len(q), len(d), 2)).astype(float)
    if capacity is not None and rule == "pro_rata":
        room = np.maximum(0.0, capacity - (e * v).sum(-1))  # (S, 1, O)
        need = (Q * v).sum(-1)  # (1, A, 1)
        over = need > room
        kept = np.where(over[..., None], np.floor(Q * (room / np.maximum(need, 1e-300))[..., None]), kept)
    if capacity is not None and rule == "overflow":
        stage = stage + overflow_cost * np.maximum((e * v).sum(-1) - capacity, 0.0)
    nxt_x = np.minimum(e + kept.astype(np.int64), np.asarray(max_stock))
    nxt = nxt_x[..., 0] * (max_stock[1] + 1) + nxt_x[..., 1]  # (S, A, O) state index
    cost = (stage * prob).sum(-1) + (q @ c)[None, :]  # (S, A)
    if capacity is not None and rule == "never":
        unsafe = (((x[:, None, :] + q[None, :, :]) * v).sum(-1) > capacity) & (q.sum(-1) > 0)[None, :]
        cost = np.where(unsafe, np.inf, cost)
    val = np.zeros(len(x))
    for _ in range(iters):
        tv = (cost + (val[nxt] * prob).sum(-1)).min(axis=1)
        diff = tv - val
        if diff.max() - diff.min() < tol:
            return float(0.5 * (diff.max() + diff.min()))
        val = tv - tv[0]
    raise RuntimeError("joint value iteration did not converge")
