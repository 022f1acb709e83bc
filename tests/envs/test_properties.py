"""Property-based checks of the simulator's bookkeeping over random configs and action sequences."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocklab.envs import InventoryEnv

lead_times = st.one_of(
    st.integers(0, 4),
    st.builds(
        lambda v, in_seq: {
            "dist": "discrete",
            "values": v,
            "probs": [1 / len(v)] * len(v),
            "in_sequence": in_seq,
        },
        st.lists(st.sampled_from([0, 0.5, 1, 1.25, 2, 3.7]), min_size=1, max_size=3),
        st.booleans(),
    ),
    st.builds(lambda m, cv: {"dist": "gamma", "mean": m, "cv": cv}, st.floats(0.2, 3), st.floats(0.1, 1.5)),
)
demands = st.one_of(
    st.builds(lambda m: {"dist": "poisson", "mean": m}, st.floats(0.1, 12)),
    st.builds(
        lambda v: {"dist": "replay", "values": v}, st.lists(st.integers(0, 15), min_size=1, max_size=10)
    ),
    st.builds(
        lambda m, d: {"dist": "negative_binomial", "mean": m, "dispersion": d},
        st.floats(0.5, 8),
        st.floats(1.1, 4),
    ),
)


@st.composite
def configs(draw):
    unmet = draw(st.sampled_from(["lost", "backorder"]))
    cfg = {
        "unmet_demand": unmet,
        "lead_time": draw(lead_times),
        "demand": draw(demands),
        "costs": {
            "holding": draw(st.floats(0, 5)),
            "shortage": draw(st.floats(0, 50)),
            "fixed_order": draw(st.floats(0, 20)),
            "unit_order": draw(st.floats(0, 3)),
        },
        "max_order": draw(st.integers(1, 25)),
        "capacity": draw(st.one_of(st.none(), st.integers(1, 40))),
        "initial": {
            "on_hand": draw(st.integers(0, 20)),
            "backlog": draw(st.integers(0, 5)) if unmet == "backorder" else 0,
            "pipeline": draw(st.lists(st.integers(0, 10), max_size=3)),
        },
        "holding_accrual": draw(st.sampled_from(["end_of_period", "time_weighted"])),
        "simulation": draw(st.sampled_from(["auto", "per_customer"])),
        "observation": {"recent_demand": draw(st.integers(0, 2))},
    }
    if cfg["capacity"] is not None:
        cfg["initial"]["on_hand"] = min(cfg["initial"]["on_hand"], cfg["capacity"])
    return cfg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    actions=st.lists(st.integers(0, 25), min_size=1, max_size=60),
    seed=st.integers(0, 2**31),
)
def test_bookkeeping_invariants(config, actions, seed):
    env = InventoryEnv(config)
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    init = config["initial"]
    totals = dict.fromkeys(["received", "sold", "refused", "demand", "lost", "backordered", "order"], 0)
    backlog = init["backlog"]
    for a in actions:
        a = min(a, env.action_space.n - 1)
        obs, reward, terminated, truncated, info = env.step(a)
        assert env.observation_space.contains(obs), obs
        assert math.isfinite(info["cost"]) and info["cost"] >= 0
        for key in ("holding_cost", "shortage_cost", "fixed_cost", "unit_cost"):
            assert math.isfinite(info[key]) and info[key] >= 0
        assert reward == -info["cost"]
        for key in totals:
            totals[key] += info[key]
        # served at once from stock = demand - shortfall; the rest of `sold` filled the backlog
        filled = info["sold"] - (info["demand"] - info["lost"] - info["backordered"])
        assert filled >= 0
        if config["unmet_demand"] == "lost":
            assert info["backordered"] == 0 and filled == 0
            assert info["demand"] == info["sold"] + info["lost"]
        else:
            assert info["lost"] == 0
            backlog = backlog + info["backordered"] - filled
            assert env.sim.backlog == backlog
        if config["capacity"] is not None:
            assert env.sim.on_hand <= config["capacity"]
        if terminated:
            break
    sim = env.sim
    # units are conserved: what was there or arrived was sold, is on hand, or was refused
    assert init["on_hand"] + totals["received"] == totals["sold"] + sim.on_hand + totals["refused"]
    # everything ordered (or initially in the pipeline) has arrived or is still on order
    assert totals["order"] + sum(init["pipeline"]) == totals["received"] + sim.on_order
    assert sim.inventory_position == sim.on_hand + sim.on_order - sim.backlog
