"""KPIs of an evaluation episode and the across-episode statistics, against numbers worked out by hand.

The episode: demand replayed as [4, 1, 2, 6, 3], 5 units on hand at the start, lead time 1, base-stock
level 6 on the inventory position, h = 1, p = 9, K = 2, c = 0.5. With L = 1 the order of period t
arrives at the start of t + 1, so the inventory position seen at t is the stock on hand.

Lost sales, period by period (on hand after arrivals -> order -> demand -> end on hand, lost, cost):
  t0: 5 -> q 1 -> d 4 -> 1, lost 0, cost K + c q + h 1          = 2 + 0.5 + 1      = 3.5
  t1: 1+1 = 2 -> q 4 -> d 1 -> 1, lost 0, 2 + 2 + 1              = 5.0
  t2: 1+4 = 5 -> q 1 -> d 2 -> 3, lost 0, 2 + 0.5 + 3            = 5.5
  t3: 3+1 = 4 -> q 2 -> d 6 -> 0, lost 2, 2 + 1 + 0 + 9*2        = 21.0
  t4: 0+2 = 2 -> q 4 -> d 3 -> 0, lost 1, 2 + 2 + 0 + 9*1        = 13.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stocklab.envs.core.kinds import BuildContext
from stocklab.experiments.analysis.evaluate import episode_row, run_episode
from stocklab.experiments.analysis.kpis import EpisodeStats
from stocklab.experiments.analysis.stats import paired_difference, summarize_policies
from stocklab.experiments.config import parse_config
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run.units import load_policy

ENV = {
    "unmet_demand": "lost",
    "lead_time": 1,
    "demand": {"dist": "replay", "values": [4, 1, 2, 6, 3]},
    "costs": {"holding": 1.0, "shortage": 9.0, "fixed_order": 2.0, "unit_order": 0.5},
    "initial": {"on_hand": 5},
}


def episode(env: dict, warmup: int = 0, periods: int = 5, trace: int = 5):
    cfg = parse_config(
        {
            "env": env,
            "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 6}}],
            "evaluation": {"episodes": 1, "periods": periods, "warmup": warmup},
        }
    )
    spec = cfg.policies[0]
    policy = REGISTRY.get(spec.kind).build(_ctx(cfg)).policy
    return run_episode(cfg.env, policy, 123, cfg.eval_periods, cfg.evaluation.warmup, trace_periods=trace)


def _ctx(cfg):
    return BuildContext(cfg.env, cfg.policies[0], seed=0, eval_seeds=frozenset(), workdir=None)  # type: ignore[arg-type]


def test_lost_sales_episode_by_hand():
    stats, trace = episode(ENV)
    k = stats.kpis()
    assert stats.periods == 5
    assert k["avg_cost"] == pytest.approx((3.5 + 5 + 5.5 + 21 + 13) / 5)  # 9.6
    assert k["holding_cost"] == pytest.approx((1 + 1 + 3 + 0 + 0) / 5)
    assert k["shortage_cost"] == pytest.approx(9 * 3 / 5)
    assert k["fixed_cost"] == pytest.approx(2.0)  # an order every period
    assert k["unit_cost"] == pytest.approx(0.5 * 12 / 5)
    assert k["fill_rate"] == pytest.approx(13 / 16)  # served 4 + 1 + 2 + 4 + 2 of 16
    assert k["cycle_service_level"] == pytest.approx(3 / 5)  # stock-outs in t3 and t4
    assert k["avg_on_hand"] == pytest.approx(1.0)
    assert k["avg_backlog"] == 0.0
    assert k["order_frequency"] == 1.0
    assert k["mean_order_size"] == pytest.approx(12 / 5)
    # orders 1,4,1,2,4: mean 2.4, population variance 9.2/5; demand 4,1,2,6,3: mean 3.2, variance 14.8/5
    assert k["bullwhip"] == pytest.approx((9.2 / 5) / (14.8 / 5))
    assert all(math.isnan(k[f]) for f in ("forecast_mae", "forecast_rmse", "forecast_bias", "forecast_mape"))
    # the trace: inventory position seen, orders, demand, lost
    assert [r[1] for r in trace] == [5, 2, 5, 4, 2]
    assert [r[4] for r in trace] == [1, 4, 1, 2, 4]
    assert [r[5] for r in trace] == [4, 1, 2, 6, 3]
    assert [r[6] for r in trace] == [0, 0, 0, 2, 1]
    row = episode_row("bs", "base_stock", 0, 123, stats)
    assert row["demand"] == 16 and row["served_from_stock"] == 13


def test_warmup_periods_are_not_counted():
    stats, trace = episode(ENV, warmup=2, periods=3)
    assert stats.periods == 3
    assert stats.kpis()["avg_cost"] == pytest.approx((5.5 + 21 + 13) / 3)
    assert [r[1] for r in trace] == [5, 4, 2]  # the trace starts after the warm-up


def test_backorder_episode_by_hand():
    # t0: 5 -> q 1 -> d 4 -> 1;  t1: 2 -> q 4 -> d 1 -> 1;  t2: 5 -> q 1 -> d 2 -> 3
    # t3: 4 -> q 2 -> d 6 -> 0, backlog 2 (cost 9*2);  t4: arrival 2 serves the backlog -> IP 0 -> q 6,
    # d 3 -> backlog 3 (cost 9*3). Served from stock in its period: 4, 1, 2, 4, 0 = 11 of 16.
    env = {**ENV, "unmet_demand": "backorder", "costs": {"holding": 1.0, "shortage": 9.0}}
    stats, trace = episode(env)
    k = stats.kpis()
    assert k["avg_cost"] == pytest.approx((1 + 1 + 3 + 18 + 27) / 5)
    assert k["fill_rate"] == pytest.approx(11 / 16)
    assert k["cycle_service_level"] == pytest.approx(3 / 5)
    assert k["avg_backlog"] == pytest.approx((2 + 3) / 5)
    assert k["avg_on_hand"] == pytest.approx(1.0)
    assert [r[4] for r in trace] == [1, 4, 1, 2, 6]
    assert [r[3] for r in trace] == [0, 0, 0, 2, 3]


def test_forecast_accuracy_by_hand():
    s = EpisodeStats()
    base = {"cost": 0.0, "holding_cost": 0.0, "shortage_cost": 0.0, "fixed_cost": 0.0, "unit_cost": 0.0,
            "lost": 0, "backordered": 0, "on_hand": 0, "backlog": 0, "order": 0}  # fmt: skip
    for d, f in [(4, 5.0), (0, 1.0), (2, 1.0)]:
        s.add({**base, "demand": d, "forecast": f})
    k = s.kpis()
    # errors f - d: 1, 1, -1
    assert k["forecast_mae"] == pytest.approx(1.0)
    assert k["forecast_rmse"] == pytest.approx(1.0)
    assert k["forecast_bias"] == pytest.approx(1 / 3)
    assert k["forecast_mape"] == pytest.approx(100 * (1 / 4 + 1 / 2) / 2)  # periods with demand > 0


def test_paired_difference_by_hand():
    a = [10.0, 12.0, 11.0, 13.0, 9.0]
    b = [9.0, 10.0, 10.0, 11.0, 10.0]
    # d = 1, 2, 1, 2, -1: mean 1, sample sd sqrt(((0+1+0+1+4)/4)) = sqrt(1.5); t(0.975, 4) = 2.776445
    mean, half = paired_difference(a, b)
    assert mean == pytest.approx(1.0)
    assert half == pytest.approx(2.776445 * math.sqrt(1.5) / math.sqrt(5), rel=1e-6)


def test_summary_gaps_and_differences_by_hand():
    rows = []
    for i, (c_opt, c_a) in enumerate([(10.0, 11.0), (12.0, 12.5), (8.0, 9.5)]):
        for name, kind, c in [("opt", "optimal", c_opt), ("a", "base_stock", c_a)]:
            rows.append({"policy": name, "kind": kind, "episode": i, "seed": 100 + i, "avg_cost": c,
                         "fill_rate": 0.9, "bullwhip": np.nan})  # fmt: skip
    frame = pd.DataFrame(rows)
    kinds = {"opt": "optimal", "a": "base_stock"}
    out = summarize_policies(frame, kinds, optimum_cost=10.0, exact_costs={"opt": 10.0, "a": None})
    assert list(out) == ["opt", "a"]  # cheapest first
    a = out["a"]
    # paired differences 1.0, 0.5, 1.5: mean 1, sd 0.5, CI 4.302653 * 0.5 / sqrt(3)
    assert a["diff_to_best"] == pytest.approx(1.0)
    assert a["diff_to_best_ci95"] == pytest.approx(4.302653 * 0.5 / math.sqrt(3), rel=1e-6)
    assert a["gap_method"] == "simulated" and a["gap_pct"] == pytest.approx(10.0)  # 100 * 1 / 10
    assert out["opt"]["gap_method"] == "exact" and out["opt"]["gap_pct"] == 0.0
    assert a["avg_cost"] == pytest.approx(11.0) and a["fill_rate"] == pytest.approx(0.9)
    assert a["bullwhip"] is None  # no finite value
    exact = summarize_policies(frame, kinds, optimum_cost=10.0, exact_costs={"opt": 10.0, "a": 10.8})
    assert exact["a"]["gap_pct"] == pytest.approx(8.0) and exact["a"]["gap_method"] == "exact"
    unknown = summarize_policies(frame, kinds, optimum_cost=None)
    assert unknown["a"]["gap_pct"] is None


def test_load_policy_roundtrip(tmp_path):
    """A classic policy rebuilt from its record acts like the one that was built."""
    from stocklab.experiments.run.units import PolicyUnit, build_job

    cfg = parse_config(
        {"env": ENV, "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 6}}]}
    )
    unit = PolicyUnit(cfg.policies[0], seed=1, hash="h")
    build_job(cfg, tmp_path, unit, [], exact=False)
    policy = load_policy(cfg, tmp_path, unit)
    assert policy.params() == {"level": 6}


def test_forecast_accuracy_of_a_forecast_fed_episode():
    """The evaluation scores the forecast the policy saw for each period against that period's demand,
    as a manual walk through the env computes it."""
    env_cfg = {
        "unmet_demand": "lost", "lead_time": 1, "max_order": 120, "initial": {"on_hand": 80},
        "demand": {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "ets", "noise": "residual"},
        "observation": {"information": "forecast", "forecast_horizon": 2},
    }  # fmt: skip
    cfg = parse_config(
        {
            "env": env_cfg,
            "policies": [{"name": "c", "kind": "constant", "params": {"quantity": 40}}],
            "evaluation": {"episodes": 1, "periods": 24, "warmup": 3},
        }  # fmt: skip
    )
    from stocklab.envs import InventoryEnv

    env = InventoryEnv(cfg.env)
    env.reset(seed=99)
    errors = []
    for t in range(27):
        forecast = env.demand_information()[0][0]
        _, _, _, _, info = env.step(40)
        if t >= 3:
            errors.append(float(np.float32(forecast)) - info["demand"])
    policy = REGISTRY.get("constant").build(_ctx(cfg)).policy
    stats, _ = run_episode(cfg.env, policy, 99, cfg.eval_periods, cfg.evaluation.warmup)
    k = stats.kpis()
    e = np.asarray(errors)
    assert k["forecast_mae"] == pytest.approx(np.abs(e).mean())
    assert k["forecast_rmse"] == pytest.approx(np.sqrt((e**2).mean()))
    assert k["forecast_bias"] == pytest.approx(e.mean())
