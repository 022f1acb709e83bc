"""The batched engine against the SimPy engine: identical flows, costs and observations, period by period.

The SimPy engine (InventoryEnv over StockPoint) is the reference; the batched engine is a second,
independent implementation of the same timing contract. Driven by the same seeds (hence the same
demand and lead-time streams) and the same actions, every field of every period must be equal, not
close: costs are summed in the same order, so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocklab.envs import ConfigError, InventoryEnv, parse_env_config
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.flows import FLOW_FIELDS
from stocklab.envs.rollout import env_seed


def assert_same_run(config: dict, seeds: list[int], actions: np.ndarray) -> None:
    """Step len(seeds) InventoryEnvs and one BatchedEngine with the same actions; compare everything.

    ``actions[t, i]`` is the action of env i in period t (interpreted by the env's action mode).
    """
    cfg = parse_env_config(config)
    envs = [InventoryEnv(cfg) for _ in seeds]
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)])
    engine = BatchedEngine(cfg, len(seeds))
    engine.reset([env_seed(s) for s in seeds])
    for t, row in enumerate(actions):
        np.testing.assert_array_equal(engine.observe(), obs, err_msg=f"observation before period {t}")
        states = [env.state_dict() for env in envs]
        assert engine.obs_spec.select(engine.fields()).keys() == states[0].keys()
        flows = engine.step(engine.action_map.orders(row, engine.inventory_position))
        steps = [env.step(int(a)) for env, a in zip(envs, row)]
        obs = np.stack([s[0] for s in steps])
        for i, (_, reward, terminated, _, info) in enumerate(steps):
            got = flows.row(i)
            assert got == {k: info[k] for k in got}, f"period {t}, env {i}"
            assert reward == -flows.cost[i]
            assert terminated == engine.terminated[i]
    np.testing.assert_array_equal(engine.observe(), obs)


LEAD_TIMES = st.one_of(
    st.integers(0, 4),
    st.builds(
        lambda values, seq: {
            "dist": "discrete",
            "values": values,
            "probs": [1 / len(values)] * len(values),
            "in_sequence": seq,
        },
        st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
        st.booleans(),
    ),  # fmt: skip
    st.builds(
        lambda m, seq: {"dist": "poisson", "mean": m, "in_sequence": seq},
        st.sampled_from([0.5, 1.5, 3.0]),
        st.booleans(),
    ),
    st.builds(
        lambda lo, w, seq: {"dist": "uniform", "low": lo, "high": lo + w, "in_sequence": seq},
        st.integers(0, 2),
        st.integers(0, 3),
        st.booleans(),
    ),  # fmt: skip
)


@st.composite
def configs(draw: st.DrawFn) -> dict:
    backorder = draw(st.booleans())
    cfg: dict = {
        "unmet_demand": "backorder" if backorder else "lost",
        "lead_time": draw(LEAD_TIMES),
        "demand": draw(
            st.sampled_from(
                [
                    {"dist": "poisson", "mean": 4},
                    {"dist": "negative_binomial", "mean": 3, "dispersion": 2.5},
                    {"dist": "empirical", "values": [0, 3, 9], "probs": [0.5, 0.3, 0.2]},
                ]
            )
        ),  # fmt: skip
        "costs": {
            "holding": draw(st.sampled_from([0.5, 1.0, 1.3])),
            "shortage": draw(st.sampled_from([4.0, 9.0, 19.5])),
            "fixed_order": draw(st.sampled_from([0.0, 2.5])),
            "unit_order": draw(st.sampled_from([0.0, 0.7])),
        },
        "max_order": draw(st.integers(3, 15)),
        "initial": {
            "on_hand": draw(st.integers(0, 25)),
            "backlog": draw(st.integers(0, 6)) if backorder else 0,
            "pipeline": draw(st.lists(st.integers(0, 8), max_size=3)),
        },
        "observation": {"recent_demand": draw(st.integers(0, 2))},
    }
    if draw(st.booleans()):
        cfg["capacity"] = draw(st.integers(5, 30))
    if draw(st.booleans()):
        cfg["action"] = {"mode": "order_up_to", "max_level": draw(st.integers(5, 40))}
    return cfg


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), seed=st.integers(0, 2**31), action_seed=st.integers(0, 2**31))
def test_random_configs_give_identical_flows_costs_and_observations(cfg, seed, action_seed):
    parsed = parse_env_config(cfg)
    n_actions = (parsed.action.max_level if parsed.action.mode == "order_up_to" else parsed.max_order) + 1
    rng = np.random.default_rng(action_seed)
    actions = rng.integers(0, n_actions, size=(60, 3)) * (rng.random((60, 3)) < 0.7)
    assert_same_run(cfg, [seed, seed + 1, seed + 7], actions)


def test_blocks_of_streams_line_up_over_many_periods():
    # > 2 blocks of 512 demand draws and of 512 lead-time draws (an order every period)
    cfg = {
        "lead_time": {"dist": "poisson", "mean": 2, "in_sequence": True},
        "unmet_demand": "backorder",
        "capacity": 40,
    }
    actions = np.random.default_rng(0).integers(1, 9, size=(1100, 2))
    assert_same_run(cfg, [3, 4], actions)


DEMAND_MODELS = {
    "gamma": {"dist": "gamma", "mean": 6, "std": 3},
    "normal": {"dist": "normal", "mean": 5, "std": 2},
    "intermittent": {"dist": "intermittent", "occurrence": 0.3, "size": {"dist": "poisson", "mean": 6}},
    "seasonal": {
        "dist": "seasonal", "base": 5, "trend": 0.02, "weekly": [1, 1, 1, 1.2, 1.5, 0.6, 0.4],
        "yearly": [0.8, 1.2], "periods_per_year": 52, "noise": "negative_binomial", "dispersion": 2,
        "promotions": [{"start": 3, "length": 2, "uplift": 2.0, "every": 20}],
    },
    "replay_cycle": {"dist": "replay", "values": [3, 0, 7, 2, 5]},
    "replay_stop": {"dist": "replay", "values": [3, 0, 7, 2, 5, 1, 1, 4], "at_end": "stop"},
    "history_replay": {"dist": "history", "path": "demo", "sku": "SEASONAL", "scale": 0.5},
    "history_bootstrap": {"dist": "history", "path": "demo", "sku": "SEASONAL", "mode": "bootstrap"},
    "forecast_fed": {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "naive"},
}  # fmt: skip


@pytest.mark.parametrize("name", DEMAND_MODELS)
def test_every_demand_model_and_information_field(name):
    demand = DEMAND_MODELS[name]
    info = "forecast" if name == "forecast_fed" else "oracle_mean"
    cfg = {
        "demand": demand, "lead_time": 2, "unmet_demand": "backorder", "max_order": 40,
        "observation": {"information": info, "forecast_horizon": 3, "recent_demand": 2},
    }  # fmt: skip
    periods = 8 if name == "replay_stop" else 600  # replay_stop ends the episode after 8 periods
    actions = np.random.default_rng(1).integers(0, 41, size=(periods, 2))
    assert_same_run(cfg, [5, 6], actions)


def test_exact_streams_reproduce_the_simpy_engine_under_any_episode_seed():
    from stocklab.envs import StockPoint

    cfg = parse_env_config(
        {"lead_time": {"dist": "uniform", "low": 0, "high": 3}, "unmet_demand": "backorder"}
    )
    engine = BatchedEngine(cfg, 2)
    seeds = [np.random.SeedSequence(99), 12345]
    engine.reset(seeds)
    points = [StockPoint(cfg) for _ in seeds]
    points[0].reset(np.random.SeedSequence(99))
    points[1].reset(12345)
    for t in range(50):
        q = np.asarray([t % 7, (3 * t) % 5])
        flows = engine.step(q)
        for i, sp in enumerate(points):
            r = sp.step(int(q[i]))
            assert [getattr(r, f) for f in FLOW_FIELDS] == [getattr(flows, f)[i].item() for f in FLOW_FIELDS]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead_time": {"dist": "gamma", "mean": 2, "cv": 0.5}}, "env.lead_time"),
        ({"lead_time": {"dist": "discrete", "values": [1.5, 2], "probs": [0.5, 0.5]}}, "env.lead_time"),
        ({"holding_accrual": "time_weighted"}, "env.holding_accrual"),
        ({"simulation": "per_customer"}, "env.simulation"),
    ],
)
def test_the_batched_engine_refuses_what_only_the_simpy_engine_simulates(change, field):
    with pytest.raises(ConfigError, match=field):
        BatchedEngine(change, 4)
    with pytest.raises(ConfigError, match=field.split(".")[1]):
        parse_env_config({**change, "engine": "batched"})
    assert parse_env_config(change).resolved_engine == "simpy"
    assert parse_env_config({}).resolved_engine == "batched"


def test_a_catalogue_of_stocking_points_with_their_own_parameters():
    # one config per SKU: own lead time (fixed or random), costs, demand, capacity, max_order, start
    skus = [
        {"lead_time": 1, "capacity": 12, "costs": {"holding": 2.0, "shortage": 19.0}},
        {"lead_time": 3, "demand": {"dist": "seasonal", "base": 4, "weekly": [1, 1, 1, 1, 2, 2, 0.5]},
         "costs": {"fixed_order": 4.0, "unit_order": 1.0}, "max_order": 25, "initial": {"on_hand": 15}},
        {"lead_time": {"dist": "poisson", "mean": 1.5, "in_sequence": True}, "initial": {"pipeline": [4, 2]}},
        {"lead_time": 0, "demand": {"dist": "replay", "values": [9, 0, 3]}},
    ]  # fmt: skip
    configs = [parse_env_config({**s, "unmet_demand": "backorder"}) for s in skus]
    engine = BatchedEngine(configs)
    seeds = [21, 22, 23, 24]
    engine.reset([env_seed(s) for s in seeds])
    envs = [InventoryEnv(c) for c in configs]
    for env, s in zip(envs, seeds):
        env.reset(seed=s)
    rng = np.random.default_rng(4)
    for t in range(700):
        q = rng.integers(0, 12, size=4)
        flows = engine.step(q)
        for i, env in enumerate(envs):
            _, reward, _, _, info = env.step(int(q[i]))
            assert flows.row(i) == {k: info[k] for k in flows.row(i)}, (t, i)
        # each SKU's own observation is its part of the batch's (extra pipeline slots are zeros)
        for i, env in enumerate(envs):
            own = env.state_dict()
            pipe = engine.pipeline()[i]
            assert (
                engine.on_hand[i] == own["on_hand"]
                and engine.inventory_position[i] == own["inventory_position"]
            )
            assert pipe.tolist()[: len(own.get("pipeline", []))] == own.get("pipeline", [])[: len(pipe)]
            assert pipe.sum() == env.sim.on_order
    with pytest.raises(ConfigError, match="unmet_demand"):
        BatchedEngine([configs[0], parse_env_config({})])
