"""The catalogue benchmark's shard simulation: the batched engine under base-stock, checked against a
bare loop of the same dynamics written here (backorders, lead time 2, arrivals before demand)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from stocklab.envs.sales.synth import blocks
from stocklab.experiments.bench.scaleout import Z90, base_stock_levels, simulate_shard


def bare_costs(
    demand: np.ndarray, levels: np.ndarray, lead: int = 2, h: float = 1, p: float = 9
) -> np.ndarray:
    n, days = demand.shape
    on_hand, backlog = levels.astype(float), np.zeros(n)
    pipe = [np.zeros(n) for _ in range(lead - 1)]  # orders of earlier periods, oldest first
    cost = np.zeros(n)
    for t in range(days):
        pipe.append(np.maximum(levels - (on_hand - backlog + sum(pipe)), 0))
        net = on_hand - backlog - demand[:, t]
        on_hand, backlog = np.maximum(net, 0), np.maximum(-net, 0)
        cost += h * on_hand + p * backlog
        net = on_hand - backlog + pipe.pop(0)  # the order placed L - 1 periods ago arrives
        on_hand, backlog = np.maximum(net, 0), np.maximum(-net, 0)
    return cost


def test_shard_costs_match_a_bare_loop():
    q = next(blocks(40, 3, days=400)).quantity
    levels, demand = base_stock_levels(q[:, :300]), q[:, 300:]
    assert Z90 == stats.norm.ppf(0.9)
    y = q[0, :300]
    assert levels[0] == math.ceil(y.mean() * 3 + stats.norm.ppf(0.9) * y.std() * math.sqrt(3))
    assert np.array_equal(simulate_shard(demand, levels)["cost"], bare_costs(demand, levels))


def test_the_sweep_timed_is_runs_ppo_trainings_that_differ_by_seed(tmp_path):
    from stocklab.experiments.bench.scaleout import _ppo_sweep
    from stocklab.experiments.run.sweep import expand

    points = expand(_ppo_sweep(8, 5000), str(tmp_path))
    assert [p.values for p, _ in points] == [{"seed": s} for s in range(1, 9)]
    assert all(c.policies[0].kind == "ppo" and c.policies[0].train.steps == 5000 for _, c in points)
