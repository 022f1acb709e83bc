"""The batched rollout API and the shared pieces it stands on (ActionMap's batch form, ObsSpec.assemble)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import InventoryEnv, ObsSpec, parse_env_config
from stocklab.envs.core.actions import ActionMap
from stocklab.envs.rollout import COLUMNS, batch_policy, episode_costs, episode_infos, rollout

CFG = parse_env_config({
    "lead_time": {"dist": "discrete", "values": [1, 2, 3], "probs": [0.3, 0.4, 0.3]}, "max_order": 20,
    "action": {"mode": "order_up_to", "max_level": 40}, "initial": {"on_hand": 10},
})  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    mode=st.sampled_from(["quantity", "order_up_to"]),
    max_order=st.integers(1, 30),
    max_level=st.integers(1, 60),
    pairs=st.lists(st.tuples(st.integers(-5, 70), st.integers(-40, 80)), min_size=1, max_size=20),
)
def test_action_map_batch_form_equals_the_scalar_one(mode, max_order, max_level, pairs):
    amap = ActionMap(mode, max_order, max_level)
    value, ip = (np.asarray(x) for x in zip(*pairs))
    assert amap.actions(value, ip.astype(np.float32)).tolist() == [amap.action(v, p) for v, p in pairs]
    actions = np.clip(value, 0, max_level if mode == "order_up_to" else max_order)
    assert amap.orders(actions, ip).tolist() == [
        amap.order(a, p) for a, p in zip(actions.tolist(), ip.tolist())
    ]


def test_assemble_builds_one_state_and_a_batch_alike():
    cfg = parse_env_config({"unmet_demand": "backorder", "lead_time": 3, "observation": {"recent_demand": 2}})
    spec = ObsSpec.for_config(cfg)
    env = InventoryEnv(cfg)
    env.reset(seed=0)
    for q in (4, 0, 9):
        env.step(q)
    state = env.state_dict()
    one = spec.assemble(state)
    np.testing.assert_array_equal(one, spec.vector(state))  # the validated path agrees
    batch = spec.assemble({k: np.asarray([v, v]) for k, v in state.items()})
    np.testing.assert_array_equal(batch, np.stack([one, one]))
    assert list(state) == [f.name for f in spec.fields]


def same_rollouts(config, policy, seeds, periods=200, warmup=30) -> None:
    a = rollout(config, policy, seeds, periods, warmup, engine="simpy")
    b = rollout(config, policy, seeds, periods, warmup, engine="batched")
    assert (a.engine, b.engine, a.periods, b.periods) == ("simpy", "batched", periods, periods)
    for name in COLUMNS:
        np.testing.assert_array_equal(a.flows[name], b.flows[name], err_msg=name)
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.totals, b.totals)
    if a.forecast is not None:
        np.testing.assert_array_equal(a.forecast, b.forecast)
    assert list(a.infos(1)) == list(b.infos(1))


@pytest.mark.parametrize("kind,params", [("base_stock", {"level": 19}), ("ss", {"s": 12, "S": 24}),
                                         ("rq", {"r": 14, "Q": 8}), ("newsvendor", {})])  # fmt: skip
def test_both_engines_give_the_same_rollout(kind, params):
    policy = build_policy(kind, CFG, params)
    assert (batch_policy(policy) is None) == (kind == "newsvendor")  # stateful: episode by episode
    same_rollouts(CFG, policy, [3, 4, 5])


def test_a_stateful_forecasting_policy_keeps_its_memory_per_episode():
    cfg = parse_env_config({
        "demand": {"dist": "seasonal", "base": 6, "weekly": [1, 1, 1, 1, 1.6, 2, 0.4]},
        "lead_time": 1, "max_order": 40,
    })  # fmt: skip
    hook = lambda t: cfg.demand.expected(t, 4)[0]  # noqa: E731  (period counter inside the policy)
    policy = build_policy("newsvendor", cfg, {"forecast": hook})
    assert policy.stateful
    same_rollouts(cfg, policy, [1, 2])
    # the same episode alone gives the same flows: no memory leaks from one episode to the next
    alone = rollout(cfg, policy, [2], 200, 30)
    np.testing.assert_array_equal(
        alone.flows["order"][0], rollout(cfg, policy, [1, 2], 200, 30).flows["order"][1]
    )


def test_forecast_seen_by_the_policy_is_recorded():
    cfg = parse_env_config({
        "demand": {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "naive"},
        "observation": {"information": "forecast", "forecast_horizon": 3}, "lead_time": 2, "max_order": 60,
    })  # fmt: skip
    policy = build_policy("base_stock", cfg, {"level": 40})
    same_rollouts(cfg, policy, [7, 8], periods=60, warmup=5)
    ro = rollout(cfg, policy, [7], 60, 5)
    np.testing.assert_allclose(ro.forecast[0], cfg.demand.forecast(5, 60)[0].astype(np.float32))


def test_episode_costs_equal_a_plain_loop_over_inventory_env():
    policy = build_policy("capped_base_stock", CFG, {"level": 22, "cap": 9})
    seeds, periods, warmup = [10, 11, 12], 150, 20
    expected = []
    for seed in seeds:
        env = InventoryEnv(CFG)
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for t in range(warmup + periods):
            obs, _, _, _, info = env.step(policy.act(obs))
            total += info["cost"] if t >= warmup else 0.0
        expected.append(total / periods)
    for engine in ("simpy", "batched", None):
        assert episode_costs(CFG, policy, seeds, periods, warmup, engine=engine).tolist() == expected
        assert episode_costs(CFG, policy.act, seeds, periods, warmup, engine=engine).tolist() == expected
    act = lambda obs: policy.act(obs)  # noqa: E731  (a bare function: stepped episode by episode)
    assert episode_costs(CFG, act, seeds, periods, warmup).tolist() == expected


def test_a_replay_that_stops_ends_every_episode_early():
    cfg = parse_env_config(
        {"demand": {"dist": "replay", "values": [4, 1, 6, 2, 5], "at_end": "stop"}, "lead_time": 1}
    )
    infos = list(episode_infos(cfg, build_policy("base_stock", cfg, {"level": 8}), 0, periods=10, warmup=2))
    assert [i["demand"] for i in infos] == [6, 2, 5]
    assert rollout(cfg, build_policy("constant", cfg, {"quantity": 3}), [0, 1], 10, 2).periods == 3
