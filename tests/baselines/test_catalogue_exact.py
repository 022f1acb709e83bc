"""Per-SKU DP-optimal orders in the coordinator: the bulk lookup against each SKU's own table.

The reference is each SKU's :class:`OptimalPolicy` asked state by state (its own dict of states);
``ExactOrders`` must give the same order for every SKU of a catalogue in one call, inside the tables
and outside them (states the DP truncated away). With a capacity that never binds the fitted price is
0 (or a calibration step above it) and the rationing never acts, so the coordinator with exact orders must place exactly the orders of
the SKUs' DP optima at its first prices along a simulated episode.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.catalogue.exact_rule import ExactOrders, priced_policies
from stocklab.baselines.catalogue.fit import fit_coordinator
from stocklab.baselines.exact.model import DPInstance
from stocklab.baselines.exact.solver import solve_optimal
from stocklab.envs.catalogue.build import build_catalogue
from stocklab.envs.catalogue.catalogue import sku_seeds
from stocklab.envs.catalogue.policy import CatalogueState
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.params import batch_layout


def _catalogue(unmet: str, capacity: float | None = None):
    skus = [
        {"sku": "A", "demand": {"dist": "poisson", "mean": 3}, "lead_time": 1, "volume": 1.0},
        {"sku": "B", "demand": {"dist": "poisson", "mean": 2}, "lead_time": 2, "volume": 2.0,
         "costs": {"holding": 0.5, "shortage": 4.0}},
        {"sku": "C", "demand": {"dist": "poisson", "mean": 4}, "lead_time": 0, "volume": 1.5},
        {"sku": "D", "demand": {"dist": "poisson", "mean": 1.5}, "lead_time": 3, "volume": 1.0,
         "costs": {"holding": 1.0, "shortage": 19.0}},
    ]  # fmt: skip
    shared = {"capacity": {"limit": capacity, "measure": "volume", "rule": "pro_rata"}} if capacity else None
    env = {"unmet_demand": unmet, "max_order": 15, "costs": {"holding": 1.0, "shortage": 9.0}}
    return build_catalogue({"skus": skus, "shared": shared}, env)


RULES = {}


def _rule(unmet: str) -> ExactOrders:
    if unmet not in RULES:
        cat = _catalogue(unmet)
        policies = priced_policies(
            cat.configs, cat.volume, cat.unit_cost, 0.3, 0.0, "arrival", max_states=100_000
        )
        assert all(p is not None for p in policies)
        RULES[unmet] = ExactOrders(policies, batch_layout(list(cat.configs)))
    return RULES[unmet]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["lost", "backorder"]), st.data())
def test_bulk_lookup_equals_each_skus_own_table(unmet, data) -> None:
    rule = _rule(unmet)
    spec = rule.spec
    obs = np.zeros((4, spec.size))
    pipe = spec.index("pipeline")
    for i, p in enumerate(rule.policies):
        obs[i, spec.index("on_hand").start] = data.draw(st.integers(0, 60))  # beyond the tables too
        if spec.has("backlog"):
            obs[i, spec.index("backlog").start] = data.draw(st.integers(0, 12)) if unmet == "backorder" else 0
        for k in range(p.instance.pipeline_length):
            obs[i, pipe.start + k] = data.draw(st.integers(0, 20))
    got = rule.orders(obs)
    states = rule.states(obs)
    want = [p.order(tuple(int(v) for v in states[i, : 1 + p.instance.pipeline_length]))
            for i, p in enumerate(rule.policies)]  # fmt: skip
    assert got.tolist() == want


def test_price_zero_tables_are_the_unpriced_dp_optima() -> None:
    cat = _catalogue("lost")
    policies = priced_policies(
        cat.configs, cat.volume, cat.unit_cost, 0.0, 0.0, "arrival", max_states=100_000
    )
    for config, p in zip(cat.configs, policies):
        sol = solve_optimal(DPInstance.from_config(config, max_states=100_000), tol=1e-7)
        assert np.array_equal(sol.instance.states, p.instance.states)
        assert np.array_equal(sol.orders, p.orders)


def test_slack_capacity_coordinator_places_the_skus_dp_orders() -> None:
    cat = _catalogue("lost", capacity=10_000.0)
    policy = fit_coordinator(
        cat, episodes=1, periods=200, warmup=20, seed=3, calibration=(1, 200), exact=100_000
    )
    assert policy.exact is not None and len(policy.exact.index) == 4
    # the path's first prices (0, or a calibration step above them): each SKU's DP at those prices
    alone = priced_policies(
        cat.configs, cat.volume, cat.unit_cost, policy.lambda_, policy.mu, "arrival", max_states=100_000
    )
    engine = BatchedEngine.for_catalogue(cat)
    engine.reset(sku_seeds(11, list(cat.skus)))
    policy.reset()
    for t in range(60):
        obs = engine.observe()
        q = policy.orders(obs, CatalogueState.of(engine, t))
        state = [tuple(int(v) for v in s[: 1 + p.instance.pipeline_length])
                 for s, p in zip(policy.exact.states(obs), alone)]  # fmt: skip
        assert q.tolist() == [p.order(s) for p, s in zip(alone, state)], t
        engine.step(q)
    assert set(policy.steps) == {0}  # the capacity never bound: the rationing never acted
