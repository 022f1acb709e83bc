"""Long-run checks against closed forms: the newsvendor cost and lead-time means."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from stocklab.envs import InventoryEnv, parse_env_config
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs


def newsvendor_cost(mean: float, h: float, p: float, level: int) -> float:
    """E[h (S - D)^+ + p (D - S)^+] for Poisson(mean) demand D, summed over the pmf."""
    d = np.arange(0, 200)
    pmf = stats.poisson.pmf(d, mean)
    return float(np.sum(pmf * (h * np.maximum(level - d, 0) + p * np.maximum(d - level, 0))))


def test_backorder_base_stock_lead_time_0_equals_newsvendor():
    h, p, mean = 1.0, 9.0, 5.0
    level = int(stats.poisson.ppf(p / (p + h), mean))  # critical fractile
    cfg = parse_env_config(
        {"unmet_demand": "backorder", "lead_time": 0, "demand": {"dist": "poisson", "mean": mean},
         "costs": {"holding": h, "shortage": p}}
    )  # fmt: skip
    ip = InventoryEnv(cfg).obs_spec.index("inventory_position").start

    def base_stock(obs: np.ndarray) -> int:
        return max(0, level - int(obs[ip]))

    costs = episode_costs(cfg, base_stock, episode_seeds(2024, 20), periods=3000, warmup=5)
    half = stats.t.ppf(0.975, len(costs) - 1) * costs.std(ddof=1) / np.sqrt(len(costs))
    exact = newsvendor_cost(mean, h, p, level)
    assert abs(costs.mean() - exact) <= half, (costs.mean(), half, exact)


LEAD_TIMES = [
    ({"dist": "discrete", "values": [1, 2, 4], "probs": [0.5, 0.3, 0.2]}, 0.5 + 0.6 + 0.8),
    ({"dist": "poisson", "mean": 2.5}, 2.5),
    ({"dist": "uniform", "low": 1, "high": 4}, 2.5),
    ({"dist": "gamma", "mean": 2.0, "cv": 0.5}, 2.0),
    ({"dist": "lognormal", "mean": 1.5, "cv": 0.8}, 1.5),
]


@pytest.mark.parametrize(("spec", "mean"), LEAD_TIMES, ids=lambda x: str(x)[:30])
def test_simulated_lead_times_match_the_distribution(spec, mean):
    # Order one unit every period and record, inside the simulator, how far ahead each arrival is
    # scheduled. Orders with lead time 0 are received at once and never scheduled, so the recorded
    # sample has the distribution of L given L > 0.
    env = InventoryEnv({"lead_time": spec, "max_order": 1})
    env.reset(seed=9)
    sim = env.sim
    leads: list[float] = []
    schedule = sim._schedule_arrival

    def record(due: float, units: int) -> None:
        leads.append(due - sim.sim.now)
        schedule(due, units)

    sim._schedule_arrival = record
    for _ in range(20000):
        env.step(1)
    x = np.asarray(leads)
    half = 4 * x.std(ddof=1) / np.sqrt(len(x))
    assert abs(x.mean() - positive_mean(spec, mean)) <= half


def positive_mean(spec: dict, mean: float) -> float:
    """E[L | L > 0]."""
    if spec["dist"] == "poisson":
        return mean / (1 - stats.poisson.pmf(0, mean))
    return mean
