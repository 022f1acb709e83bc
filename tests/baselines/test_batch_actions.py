"""Batch actions (Policy.act_batch) of the classic and DP policies equal their one-state actions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.solver import base_stock_orders, solve_optimal
from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import ObsSpec, parse_env_config

MODES = [{"mode": "quantity"}, {"mode": "order_up_to", "max_level": 35}]
KINDS = {
    "base_stock": st.fixed_dictionaries({"level": st.integers(0, 40)}),
    "ss": st.integers(-3, 30).flatmap(
        lambda s: st.fixed_dictionaries({"s": st.just(s), "S": st.integers(s + 1, s + 20)})
    ),
    "rq": st.fixed_dictionaries({"r": st.integers(-3, 30), "Q": st.integers(1, 12)}),
    "constant": st.fixed_dictionaries({"quantity": st.integers(0, 15)}),
    "capped_base_stock": st.fixed_dictionaries({"level": st.integers(0, 40), "cap": st.integers(1, 12)}),
}


def observations(cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random observations laid out by the config's ObsSpec (stock states, whole units)."""
    spec = ObsSpec.for_config(cfg)
    obs = rng.integers(0, 25, size=(n, spec.size)).astype(np.float32)
    if spec.has("backlog"):
        obs[:, spec.index("backlog")] = rng.integers(0, 10, size=(n, 1))
    obs[:, spec.index("inventory_position")] = rng.integers(-12, 45, size=(n, 1))
    return obs


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data(), mode=st.sampled_from(MODES),
       backorder=st.booleans(), seed=st.integers(0, 2**31))  # fmt: skip
def test_classic_policies_batch_equals_one_by_one(kind, data, mode, backorder, seed):
    cfg = parse_env_config({"lead_time": 2, "max_order": 15, "action": mode,
                            "unmet_demand": "backorder" if backorder else "lost"})  # fmt: skip
    policy = build_policy(kind, cfg, data.draw(KINDS[kind]))
    obs = observations(cfg, np.random.default_rng(seed), 64)
    assert policy.act_batch(obs).tolist() == [policy.act(o) for o in obs]


def test_dp_policy_batch_equals_one_by_one_inside_and_outside_its_table():
    for unmet in ("lost", "backorder"):
        cfg = parse_env_config({"lead_time": 3, "unmet_demand": unmet, "max_order": 20, "costs": {"shortage": 4},
                                "action": {"mode": "order_up_to", "max_level": 40}})  # fmt: skip
        policy = solve_optimal(DPInstance.from_config(cfg)).policy
        spec = policy.obs_spec
        table = [  # every state of the DP's table, as the env would observe it
            spec.vector({"on_hand": max(x, 0), "backlog": max(-x, 0), "pipeline": [p0, p1]})
            for x, p0, p1 in policy.instance.states.tolist()
        ]
        obs = np.concatenate([np.stack(table), observations(cfg, np.random.default_rng(1), 200)])
        obs[-50:, 0] = 60  # on hand beyond the table: the scalar fallback
        batch = policy.act_batch(obs)
        assert batch.tolist() == [policy.act(o) for o in obs]
        assert len(set(batch[: len(table)].tolist())) > 5  # the table's answers, not one default


def test_base_stock_orders_of_the_solver_follow_the_action_map():
    cfg = parse_env_config(
        {"lead_time": 1, "max_order": 6, "action": {"mode": "order_up_to", "max_level": 12}}
    )
    inst = DPInstance.from_config(cfg)
    ip = np.arange(-3, 16)
    # want min(6, max(0, 10 - ip)), but a target above max_level 12 cannot be asked for
    expected = [min(6, max(0, min(12, p + min(6, max(0, 10 - p))) - p)) for p in ip.tolist()]
    assert base_stock_orders(inst, 10, ip).tolist() == expected
