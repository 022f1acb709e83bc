"""Independent oracles for the tests: small exact computations written without stocklab's code.

Each follows the documented timing contract of a period (README, "Timing of a period t"):
1. orders due at t arrive (under backorders the backlog is served first);
2. the policy observes and orders q_t (K if q_t > 0, c per unit), arriving at t + L;
3. demand D_t is served from stock on hand; the rest is lost or backordered;
4. at t + 1: h per unit on hand, p per unit lost (or per unit backordered at the end of the period).
and the documented seeding contract: ``InventoryEnv.reset(seed=s)`` seeds gymnasium's generator with
s and draws one integer from it, which seeds the episode; the episode's demand comes from the first
of the generators spawned from that integer's ``SeedSequence`` (``stocklab.envs.core.seeding``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def poisson_demand(seed: int, mean: float, n: int) -> np.ndarray:
    """The Poisson(``mean``) demand of the first ``n`` periods of the episode with seed ``seed``."""
    episode = int(np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed))).integers(2**63))
    child = np.random.SeedSequence(episode).spawn(4)[0]  # streams: demand, instants, lead times, extra
    return np.random.Generator(np.random.PCG64(child)).poisson(mean, n)


def simulate(
    demand: np.ndarray,
    lead: int,
    order: Callable[[int, list[int]], int],
    h: float,
    p: float,
    on_hand: int = 0,
    lost: bool = True,
    fixed: float = 0.0,
    unit: float = 0.0,
) -> np.ndarray:
    """Cost of each period of a periodic-review system, in plain Python (``lead`` >= 1 whole periods).

    ``order(inventory_position, pipeline)`` returns the units ordered; ``pipeline[k]`` is due in
    k + 1 periods. Backlog is tracked as negative net stock under backorders.
    """
    net, pipe, costs = on_hand, [0] * lead, []
    for d in demand:
        arriving, pipe = pipe[0], pipe[1:]
        net += arriving
        q = order(net + sum(pipe), list(pipe))
        pipe.append(q)
        if lost:
            short = max(0, d - net)
            net = max(0, net - d)
            cost = h * net + p * short
        else:
            net -= d
            cost = h * max(net, 0) + p * max(-net, 0)
        costs.append(cost + (fixed if q > 0 else 0.0) + unit * q)
    return np.asarray(costs, dtype=float)


def _pmf(mean: float, top: int) -> np.ndarray:
    pmf = stats.poisson.pmf(np.arange(top + 1), mean)
    pmf[-1] += 1.0 - pmf.sum()
    return pmf


def lost_sales_l1_policy_cost(
    order: Callable[[int], int], mean: float, h: float, p: float, top: int = 80
) -> float:
    """Exact long-run average cost of a stationary policy q(x) for lost sales with lead time 1.

    With L = 1 an order arrives before the next decision, so the state is the stock on hand x after
    arrivals; x' = (x - D)^+ + q(x); the period costs h (x - D)^+ + p (D - x)^+. The chain's
    stationary distribution pi solves pi P = pi, sum pi = 1 (states 0..top).
    """
    pmf = _pmf(mean, top)
    d = np.arange(top + 1)
    n = top + 1
    mat, cost = np.zeros((n, n)), np.zeros(n)
    for x in range(n):
        left = np.maximum(x - d, 0)
        cost[x] = pmf @ (h * left + p * np.maximum(d - x, 0))
        np.add.at(mat[x], np.minimum(left + order(x), top), pmf)
    a = np.vstack([(mat - np.eye(n)).T, np.ones(n)])
    pi = np.linalg.lstsq(a, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return float(pi @ cost)


def lost_sales_l1_optimum(mean: float, h: float, p: float, max_order: int, top: int = 60) -> float:
    """Optimal long-run average cost for lost sales with lead time 1, by relative value iteration."""
    pmf = _pmf(mean, top)
    d = np.arange(top + 1)
    x = np.arange(top + 1)
    left = np.maximum(x[:, None] - d[None, :], 0)
    cost = (h * left + p * np.maximum(d[None, :] - x[:, None], 0)) @ pmf
    v = np.zeros(top + 1)
    for _ in range(20_000):
        q_values = np.stack([cost + v[np.minimum(top, left + q)] @ pmf for q in range(max_order + 1)], axis=1)
        tv = q_values.min(axis=1)
        gain, done = tv[0] - v[0], np.ptp(tv - v) < 1e-11
        v = tv - tv[0]
        if done:
            return float(gain)
    raise AssertionError("value iteration did not converge")
