"""Classic policies: actions on hand-made observations, parameter checks, and the long-lead-time regression.

Every expected action below is worked out by hand from the policy's rule and the observation's
inventory position (IP = on hand + pipeline - backlog).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from stocklab.baselines import (
    RQ,
    SS,
    BaseStock,
    CappedBaseStock,
    ConstantOrder,
    Newsvendor,
    build_policy,
)
from stocklab.envs import InventoryEnv, ObsSpec, PolicyError, parse_env_config
from stocklab.envs.core.obs import FORECAST_MEAN, FORECAST_STD, ObsField
from stocklab.envs.core.policy import ActionMap

# Backorders, L = 3: observation (on_hand, backlog, pipeline[0], pipeline[1], inventory_position).
BACKORDER_L3 = parse_env_config(
    {"unmet_demand": "backorder", "lead_time": 3, "max_order": 10, "demand": {"dist": "poisson", "mean": 5}}
)
UP_TO = parse_env_config(
    {
        "unmet_demand": "backorder",
        "lead_time": 3,
        "max_order": 10,
        "action": {"mode": "order_up_to", "max_level": 40},
    }
)


def obs(config, on_hand: int, backlog: int = 0, pipeline=(0, 0)) -> np.ndarray:
    state = {"on_hand": on_hand, "backlog": backlog, "pipeline": list(pipeline)}
    return ObsSpec.for_config(config).vector(state)


def make(cls, config=BACKORDER_L3, **params):
    return cls(ObsSpec.for_config(config), ActionMap.for_config(config), **params)


def test_base_stock_acts_on_inventory_position_in_both_action_modes():
    o = obs(BACKORDER_L3, on_hand=4, backlog=1, pipeline=(2, 3))  # IP = 4 + 5 - 1 = 8
    assert make(BaseStock, level=12).act(o) == 4
    assert make(BaseStock, level=8).act(o) == 0
    assert make(BaseStock, level=30).act(o) == 10  # clipped to max_order
    # order_up_to mode: the action is the level the order lifts IP to
    assert make(BaseStock, UP_TO, level=12).act(obs(UP_TO, 4, 1, (2, 3))) == 12
    assert make(BaseStock, UP_TO, level=5).act(obs(UP_TO, 4, 1, (2, 3))) == 8  # no order: IP stays 8


def test_ss_orders_up_to_S_only_at_or_below_s():
    policy = make(SS, s=5, S=12)
    assert policy.act(obs(BACKORDER_L3, 6, 0, (2, 0))) == 0  # IP 8 > s
    assert policy.act(obs(BACKORDER_L3, 6, 1, (0, 0))) == 7  # IP 5 = s -> 12 - 5
    assert policy.act(obs(BACKORDER_L3, 0, 3, (1, 5))) == 9  # IP 3 -> 9
    assert policy.act(obs(BACKORDER_L3, 0, 6, (0, 0))) == 10  # IP -6 -> 18, clipped to 10
    up = make(SS, UP_TO, s=5, S=12)
    assert up.act(obs(UP_TO, 6, 1, (0, 0))) == 12
    assert up.act(obs(UP_TO, 6, 0, (2, 0))) == 8


def test_rq_orders_the_smallest_multiple_of_Q_that_lifts_ip_above_r():
    policy = make(RQ, r=5, Q=4)
    assert policy.act(obs(BACKORDER_L3, 6)) == 0  # IP 6 > r
    assert policy.act(obs(BACKORDER_L3, 5)) == 4  # 5 + 4 = 9 > 5
    assert policy.act(obs(BACKORDER_L3, 0, 2, (0, 0))) == 8  # IP -2: -2 + 8 = 6 > 5, -2 + 4 = 2 is not
    assert policy.act(obs(BACKORDER_L3, 0, 9, (0, 0))) == 8  # wants 16; max_order 10 allows 2 batches
    assert make(RQ, UP_TO, r=5, Q=4).act(obs(UP_TO, 5)) == 9


def test_constant_and_capped_base_stock():
    assert make(ConstantOrder, quantity=3).act(obs(BACKORDER_L3, 50)) == 3
    capped = make(CappedBaseStock, level=20, cap=5)
    assert capped.act(obs(BACKORDER_L3, 8)) == 5  # min(5, 12)
    assert capped.act(obs(BACKORDER_L3, 14, 0, (3, 0))) == 3  # min(5, 20 - 17)
    assert capped.act(obs(BACKORDER_L3, 21)) == 0
    assert make(CappedBaseStock, UP_TO, level=20, cap=5).act(obs(UP_TO, 8)) == 13


def test_policies_describe_themselves():
    for policy, params in [
        (make(BaseStock, level=3), {"level": 3}),
        (make(SS, s=1, S=4), {"s": 1, "S": 4}),
        (make(RQ, r=2, Q=3), {"r": 2, "Q": 3}),
        (make(ConstantOrder, quantity=2), {"quantity": 2}),
        (make(CappedBaseStock, level=9, cap=4), {"level": 9, "cap": 4}),
    ]:
        assert policy.params() == params
        assert policy.exportable == "params"
        assert policy.name in ("base_stock", "ss", "rq", "constant", "capped_base_stock")


def test_newsvendor_level_is_the_fractile_of_lead_time_demand():
    # backorders, L = 1, Poisson(5), h = 1, p = 9: level = 0.9-quantile of Poisson(10)
    cfg = parse_env_config(
        {"unmet_demand": "backorder", "lead_time": 1, "demand": {"dist": "poisson", "mean": 5}}
    )
    policy = build_policy("newsvendor", cfg, {})
    level = int(stats.poisson.ppf(0.9, 10))
    assert policy.level == level
    o = ObsSpec.for_config(cfg).vector({"on_hand": 3, "backlog": 0})
    assert policy.act(o) == level - 3
    assert build_policy("newsvendor", cfg, {"fractile": 0.5}).level == int(stats.poisson.ppf(0.5, 10))


def test_newsvendor_follows_a_forecast_hook_and_restarts_each_episode():
    cfg = parse_env_config({"unmet_demand": "backorder", "lead_time": 1})
    means = [1.0, 2.0, 6.0, 6.0, 6.0]
    policy = build_policy("newsvendor", cfg, {"forecast": lambda t: means[t:]})
    o = ObsSpec.for_config(cfg).vector({"on_hand": 0, "backlog": 0})
    # period 0 covers periods 0..1 (mean 3), period 1 covers 1..2 (mean 8), period 2 covers 2..3 (12)
    expected = [int(stats.poisson.ppf(0.9, m)) for m in (3.0, 8.0, 12.0)]
    assert [policy.act(o) for _ in range(3)] == expected
    policy.predict(o, episode_start=np.array([True]))  # a new episode: back to period 0, then period 1
    assert policy.forecast.period == 1
    policy.reset()
    assert policy.act(o) == expected[0]


def forecast_spec(with_std: bool) -> ObsSpec:
    fields = [
        ObsField("on_hand", 1, 0, 1e9, "units", ""),
        ObsField("inventory_position", 1, 0, 1e9, "units", ""),
        ObsField(FORECAST_MEAN, 3, 0, 1e9, "units", ""),
    ]
    if with_std:
        fields.append(ObsField(FORECAST_STD, 3, 0, 1e9, "units", ""))
    return ObsSpec(tuple(fields))


def test_newsvendor_reads_the_forecast_fields_of_the_observation():
    amap = ActionMap("quantity", 100, None)
    plain = Newsvendor(forecast_spec(False), amap, demand_pmf=np.array([1.0]), lead_time=2, fractile=0.75)
    o = np.array([2.0, 2.0, 4.0, 5.0, 6.0], dtype=np.float32)  # lead-time demand ~ Poisson(15)
    assert plain.act(o) == int(stats.poisson.ppf(0.75, 15)) - 2
    # with standard deviations 1, 2, 2: normal, sigma = 3; level = ceil(15 + z_0.75 * 3) = ceil(17.02) = 18
    normal = Newsvendor(forecast_spec(True), amap, demand_pmf=np.array([1.0]), lead_time=2, fractile=0.75)
    o = np.array([2.0, 2.0, 4.0, 5.0, 6.0, 1.0, 2.0, 2.0], dtype=np.float32)
    assert normal.act(o) == 18 - 2


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (SS, {"s": 12, "S": 10}, "ss: s (=12) must be < S (=10)"),
        (BaseStock, {"level": -1}, "base_stock: level (=-1) must be >= 0"),
        (BaseStock, {"level": 2.5}, "base_stock: level (=2.5) must be a whole number"),
        (RQ, {"r": 3, "Q": 0}, "rq: Q (=0) must be >= 1"),
        (RQ, {"r": 3, "Q": 11}, "rq: Q (=11) must be <= max_order (=10)"),
        (ConstantOrder, {"quantity": -2}, "constant: quantity (=-2) must be >= 0"),
        (CappedBaseStock, {"level": 5, "cap": 0}, "capped_base_stock: cap (=0) must be >= 1"),
    ],
)
def test_bad_parameters_show_their_values(cls, params, message):
    with pytest.raises(PolicyError) as info:
        make(cls, **params)
    assert message in str(info.value)


def test_build_policy_checks_kind_and_parameter_names():
    with pytest.raises(PolicyError, match="Did you mean 'base_stock'"):
        build_policy("bse_stock", BACKORDER_L3, {"level": 3})
    with pytest.raises(PolicyError, match="unknown parameter 'levle'. Did you mean 'level'"):
        build_policy("base_stock", BACKORDER_L3, {"levle": 3})
    with pytest.raises(PolicyError, match="missing parameter"):
        build_policy("ss", BACKORDER_L3, {"s": 3})
    with pytest.raises(PolicyError, match="fractile"):
        build_policy("newsvendor", BACKORDER_L3, {"fractile": 1.5})
    assert build_policy("rq", BACKORDER_L3, {"r": 3, "Q": 4}).params() == {"r": 3, "Q": 4}


# --------------------------------------------------------------------- long lead time, slow demand
SLOW = {"lead_time": 8, "demand": {"dist": "poisson", "mean": 1}, "initial": {"on_hand": 3}, "max_order": 30}


def trace(config: dict, params: dict, kind: str, periods: int = 300, seed: int = 5):
    env = InventoryEnv(config)
    policy = build_policy(kind, env.config, params)
    o, _ = env.reset(seed=seed)
    rows = []
    for _ in range(periods):
        ip = env.sim.inventory_position
        assert ip == policy.inventory_position(o)
        o, _, _, _, info = env.step(policy.act(o))
        rows.append((ip, info["order"], info["sold"], info["demand"]))
    return rows


@pytest.mark.parametrize("unmet", ["lost", "backorder"])
def test_long_lead_time_no_reorder_while_enough_is_on_order(unmet):
    cfg = {**SLOW, "unmet_demand": unmet}
    rows = trace(cfg, {"s": 4, "S": 12}, "ss")
    assert all(order == 0 for ip, order, _, _ in rows if ip > 4)
    assert all(order == 12 - ip for ip, order, _, _ in rows if ip <= 4)
    assert rows[0][1] == 9  # IP 3 <= s: order 12 - 3
    if unmet == "lost":
        # IP stays >= 12 - 3 = 9 > s until the order lands in period 8 (only the 3 units on hand can
        # be sold), so periods 0..7 order 9 in total.
        assert sum(order for _, order, _, _ in rows[:8]) == 9
    else:
        # backorders: IP falls by each period's demand; the rule re-orders only when it reaches s
        ip, expected = 3, 0
        for _, _, _, demand in rows[:8]:
            q = 12 - ip if ip <= 4 else 0
            expected += q
            ip += q - demand
        assert sum(order for _, order, _, _ in rows[:8]) == expected
    # base stock S = 12: orders 9 in period 0, then replaces each period's IP decrease: the units sold
    # (lost sales) or demanded (backorders) in the previous period.
    rows = trace(cfg, {"level": 12}, "base_stock")
    assert all(order == 0 for ip, order, _, _ in rows if ip >= 12)
    used = [sold if unmet == "lost" else demand for _, _, sold, demand in rows]
    assert sum(order for _, order, _, _ in rows[:8]) == 9 + sum(used[:7])
    if unmet == "lost":
        assert sum(order for _, order, _, _ in rows[:8]) <= 12  # at most the 3 units on hand are sold
