"""LP (model-predictive) policy: hand-solved programmes, a degenerate one, and a seasonal rolling run."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from stocklab.baselines import BaseStock, LPPolicy, build_policy
from stocklab.envs import ObsSpec, parse_env_config
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs


def lp(env: dict, forecast, **params) -> tuple[LPPolicy, ObsSpec]:
    cfg = parse_env_config(env)
    policy = build_policy("lp", cfg, {"forecast": lambda t: forecast[t:], **params})
    return policy, ObsSpec.for_config(cfg)


def test_deterministic_backorders_order_exactly_the_next_demand():
    # L = 0, H = 3, demand 4, 6, 5, 3 units on hand: q = (1, 6, 5) gives zero cost, and every other plan
    # holds or backorders something; the first order is 1.
    policy, spec = lp(
        {"unmet_demand": "backorder", "lead_time": 0, "initial": {"on_hand": 3}}, [4, 6, 5], horizon=3
    )
    assert policy.act(spec.vector({"on_hand": 3, "backlog": 0})) == 1
    assert policy.last_objective == pytest.approx(0.0, abs=1e-9)


def test_lost_sales_lead_time_one_pays_for_the_unavoidable_shortage():
    # L = 1, 2 on hand, demand 3 per period: period 0 loses 1 unit whatever is ordered (cost p = 9);
    # ordering 3 per period from now on covers periods 1..3 exactly: objective 9, first order 3.
    policy, spec = lp(
        {"unmet_demand": "lost", "lead_time": 1, "costs": {"holding": 1, "shortage": 9}},
        [3, 3, 3, 3],
        horizon=3,
    )
    assert policy.act(spec.vector({"on_hand": 2})) == 3
    assert policy.last_objective == pytest.approx(9.0)


def test_pipeline_arrivals_are_planned_for():
    # L = 2: on hand 7, 4 units arrive next period, demand 5 per period. End stock: period 0: 2
    # (holding 2), period 1: 2 + 4 - 5 = 1 (holding 1), period 2 onwards covered by q_0 = 4, q_1 = 5.
    policy, spec = lp({"unmet_demand": "backorder", "lead_time": 2}, [5] * 10, horizon=3)
    assert policy.act(spec.vector({"on_hand": 7, "backlog": 0, "pipeline": [4]})) == 4
    assert policy.last_objective == pytest.approx(3.0)


def test_fixed_cost_solved_as_a_mixed_integer_programme():
    # L = 0, K = 10, h = 1, p = 100, nothing on hand, demand 4, 6, 5. The plans that never run short:
    # order in {0}: 15 -> holding 11 + 5 = 16, +10 = 26; {0, 1}: 4 then 11 -> holding 5, +20 = 25;
    # {0, 2}: 10 then 5 -> holding 6, +20 = 26; {0, 1, 2}: 30. Optimum 25 with q_0 = 4.
    policy, spec = lp(
        {
            "unmet_demand": "backorder", "lead_time": 0, "max_order": 30,
            "costs": {"holding": 1, "shortage": 100, "fixed_order": 10},
        },
        [4, 6, 5], horizon=3,
    )  # fmt: skip
    assert policy.act(spec.vector({"on_hand": 0, "backlog": 0})) == 4
    assert policy.last_objective == pytest.approx(25.0)


def brute_force_optimum(demand, on_hand, max_order, h, p) -> float:
    """Backorders, L = 0: the cheapest integer order plan, by enumeration. The LP's constraint matrix
    is a network (flow-balance) matrix, so with integer data an optimal vertex is integral and this is
    the LP optimum too."""
    best = math.inf
    for plan in itertools.product(range(max_order + 1), repeat=len(demand)):
        x, cost = on_hand, 0.0
        for q, d in zip(plan, demand):
            x += q - d
            cost += h * max(x, 0) + p * max(-x, 0)
        best = min(best, cost)
    return best


def test_degenerate_programme_reaches_the_optimum_whatever_vertex():
    # h = p = 1, at most 2 units per order, demand 1 then 3: ordering 1 or 2 now both cost 1 in total
    # (hold a unit in period 0, or backorder one in period 1), so several vertices are optimal.
    demand = [1, 3]
    policy, spec = lp(
        {"unmet_demand": "backorder", "lead_time": 0, "max_order": 2, "costs": {"holding": 1, "shortage": 1}},
        demand, horizon=2,
    )  # fmt: skip
    action = policy.act(spec.vector({"on_hand": 0, "backlog": 0}))
    assert policy.last_objective == pytest.approx(brute_force_optimum(demand, 0, 2, 1.0, 1.0))
    assert policy.last_objective == pytest.approx(1.0)
    assert action in (1, 2)


def test_scenarios_are_deterministic_and_reduce_to_the_point_forecast_for_constant_demand():
    env = {"unmet_demand": "lost", "lead_time": 2, "demand": {"dist": "poisson", "mean": 5}}
    cfg = parse_env_config(env)
    spec = ObsSpec.for_config(cfg)
    states = [spec.vector({"on_hand": h, "pipeline": [p]}) for h, p in [(0, 0), (3, 4), (9, 2), (15, 6)]]
    a = build_policy("lp", cfg, {"scenarios": 8, "seed": 3})
    b = build_policy("lp", cfg, {"scenarios": 8, "seed": 3})
    assert [a.act(o) for o in states] == [b.act(o) for o in states]
    # replayed constant demand: the empirical pmf is a point mass, every scenario is the mean path
    const = parse_env_config({**env, "demand": {"dist": "replay", "values": [5, 5, 5]}})
    saa = build_policy("lp", const, {"scenarios": 4})
    point = build_policy("lp", const, {})
    for o in states:
        assert saa.act(o) == point.act(o)
        assert saa.last_objective == pytest.approx(point.last_objective)


@pytest.mark.parametrize(("capacity", "first", "objective"), [(None, 15, 35.0), (8, 5, 60.0)])
def test_capacity_binds_a_fixed_cost_plan(capacity, first, objective):
    # Lost sales, L = 0, K = 20, h = 1, p = 100, nothing on hand, demand 5, 5, 5. Without a capacity
    # one order of 15 is cheapest: holding 10 + 5 = 15, plus K = 35 (two orders cost at least
    # 2K + 5 = 45). With at most 8 units on hand after arrivals, one order cannot cover two periods:
    # three orders of 5 cost 3K = 60; batching 8 early adds holding (8, 2, 5: 63) and two orders lose
    # 2 units (>= 200). So the first order is 15 without the capacity and 5 with it.
    policy, spec = lp(
        {
            "unmet_demand": "lost", "lead_time": 0, "max_order": 20, "capacity": capacity,
            "costs": {"holding": 1, "shortage": 100, "fixed_order": 20},
        },
        [5, 5, 5], horizon=3,
    )  # fmt: skip
    assert policy.act(spec.vector({"on_hand": 0})) == first
    assert policy.last_objective == pytest.approx(objective)


# ------------------------------------------------------------------- seasonal rolling horizon
PERIOD = 12
LEAD = 2


def seasonal_series(cycles: int = 20, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Monthly-like seasonal means 10 +- 8 and Poisson demand around them."""
    t = np.arange(PERIOD * cycles)
    means = 10.0 + 8.0 * np.sin(2 * np.pi * t / PERIOD)
    return means, np.random.default_rng(seed).poisson(means)


def test_rolling_lp_beats_stationary_base_stock_on_seasonal_demand():
    means, values = seasonal_series()
    env = {
        "unmet_demand": "backorder", "lead_time": LEAD, "max_order": 60,
        "demand": {"dist": "replay", "values": values.tolist()},
        "costs": {"holding": 1.0, "shortage": 9.0},
        "initial": {"on_hand": 30},
    }  # fmt: skip
    cfg = parse_env_config(env)
    n = len(values)

    def forecast(t: int) -> np.ndarray:  # the seasonal means (not the realised demand) ahead of t
        return means[(t + np.arange(24)) % n]

    lp_policy = build_policy("lp", cfg, {"forecast": forecast, "scenarios": 10, "horizon": 6})
    # base stock tuned on the stationary mean: the 0.9 fractile of Poisson over L + 1 periods
    level = int(stats.poisson.ppf(0.9, (LEAD + 1) * values.mean()))
    base = BaseStock(ObsSpec.for_config(cfg), lp_policy.action_map, level=level)
    seeds = episode_seeds(11, 2)
    lp_costs = []
    for seed in seeds:  # the forecast hook counts periods: restart it for each episode
        lp_policy.reset()
        lp_costs.append(episode_costs(cfg, lp_policy.act, [seed], n)[0])
    base_costs = episode_costs(cfg, base.act, seeds, n)
    assert np.mean(lp_costs) < 0.75 * np.mean(base_costs)


def test_lp_reads_the_oracle_forecast_fields_of_the_observation():
    # seasonal Poisson demand whose true means and standard deviations the env shows the policy
    yearly = (1.0 + 0.8 * np.sin(2 * np.pi * np.arange(PERIOD) / PERIOD)).round(3).tolist()
    cfg = parse_env_config(
        {
            "unmet_demand": "backorder", "lead_time": LEAD, "max_order": 60,
            "demand": {"dist": "seasonal", "base": 10, "yearly": yearly},
            "observation": {"information": "oracle_mean", "forecast_horizon": 8},
            "costs": {"holding": 1.0, "shortage": 9.0}, "initial": {"on_hand": 30},
        }
    )  # fmt: skip
    lp_policy = build_policy("lp", cfg, {"scenarios": 10, "horizon": 6})
    level = int(stats.poisson.ppf(0.9, (LEAD + 1) * cfg.demand.mean))
    base = BaseStock(ObsSpec.for_config(cfg), lp_policy.action_map, level=level)
    seeds = episode_seeds(5, 2)
    lp_cost = episode_costs(cfg, lp_policy.act, seeds, 120, warmup=12).mean()
    base_cost = episode_costs(cfg, base.act, seeds, 120, warmup=12).mean()
    assert lp_cost < 0.75 * base_cost
