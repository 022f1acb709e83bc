"""Long runs of the batched engine against independent answers: the exact DP, and the SimPy engine.

* Base-stock simulated on the batched engine (shared random streams: the alias sampler, not the
  SimPy engine's numbers) reproduces the exact long-run cost of the best base-stock level, computed
  by the DP's policy-chain evaluation, on three of Zipkin's (2008) lost-sales instances, within 0.2%.
* On their own random streams, the two engines' long-run costs agree within the 99.9% confidence
  interval of their difference, for a config the DP cannot do (backorders, random crossing lead
  times, capacity, fixed order cost).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.solver import best_base_stock
from stocklab.envs import parse_env_config
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.rollout import rollout

ZIPKIN = Path(__file__).resolve().parents[2] / "configs" / "zipkin"


def base_stock_average(config, level: int, size: int, periods: int, warmup: int, seed: int) -> np.ndarray:
    """Average cost per period of each of ``size`` replications of base-stock ``level`` (units)."""
    engine = BatchedEngine(config, size, streams="shared")
    engine.reset(seed)
    amap = engine.action_map
    total = np.zeros(size)
    for t in range(warmup + periods):
        ip = engine.inventory_position
        flows = engine.step(amap.orders(amap.actions(np.maximum(level - ip, 0), ip), ip))
        if t >= warmup:
            total += flows.cost
    return total / periods


@pytest.mark.parametrize("instance", ["lost_p4_L1", "lost_p9_L2", "lost_p19_L3"])
def test_base_stock_on_the_batched_engine_reproduces_the_exact_dp_cost(instance):
    config = parse_env_config(yaml.safe_load((ZIPKIN / f"{instance}.yaml").read_text())["env"])
    level, exact = best_base_stock(DPInstance.from_config(config))
    costs = base_stock_average(config, level, size=2048, periods=3000, warmup=100, seed=2024)
    mean = costs.mean()
    half = 4 * costs.std(ddof=1) / math.sqrt(len(costs))
    assert abs(mean - exact) / exact < 0.002, (level, mean, exact)
    assert abs(mean - exact) < half + 1e-3 * exact  # and within the simulation's own error bars


def test_long_run_costs_of_both_engines_agree_within_the_confidence_interval():
    config = parse_env_config({
        "unmet_demand": "backorder", "lead_time": {"dist": "uniform", "low": 1, "high": 4},
        "demand": {"dist": "negative_binomial", "mean": 4, "dispersion": 2}, "capacity": 40,
        "costs": {"holding": 1.0, "shortage": 9.0, "fixed_order": 5.0}, "max_order": 30,
    })  # fmt: skip
    from stocklab.baselines.policies.classic import build_policy

    policy = build_policy("ss", config, {"s": 20, "S": 32})
    seeds = list(range(100, 112))
    simpy = rollout(config, policy, seeds, 1500, 100, engine="simpy", record=False).costs()
    batched = rollout(
        config, policy, [s + 1000 for s in seeds], 1500, 100, engine="batched", record=False
    ).costs()
    diff = simpy.mean() - batched.mean()
    se = math.sqrt(simpy.var(ddof=1) / len(simpy) + batched.var(ddof=1) / len(batched))
    assert abs(diff) < 3.3 * se, (simpy.mean(), batched.mean(), se)
    assert se < 0.02 * simpy.mean()  # the interval is tight enough to mean something
