"""The shared PPO catalogue policy: its exported form decides as the trained torch network does.

A short training run on the small catalogue (4 SKUs trained on, 2 held out; held-out SKU C has a
longer lead time than every training SKU, so its observations use pipeline slots the training SKUs
leave at 0). On held-out states, the NumPy network of the export, read back from JSON, must pick the
same levels as SB3's own ``predict`` on VecNormalize's normalised observations (an independent
implementation: torch), and the orders must be min(max_order, max(0, round(level x scale) - IP)).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stocklab.agents.catalogue.evaluate import generalization, grid_reference, sku_costs
from stocklab.agents.catalogue.network import SharedNetwork
from stocklab.agents.catalogue.shared_ppo import (
    SharedPPOPolicy,
    scaled_limits,
    split_skus,
    subset,
    train_shared_ppo,
)
from stocklab.envs.catalogue.build import build_catalogue, load_catalogue
from stocklab.envs.catalogue.policy import CatalogueState
from stocklab.envs.catalogue_env import CatalogueVectorEnv
from stocklab.envs.core.errors import ConfigError, PolicyError

SMALL = Path(__file__).resolve().parents[1] / "data" / "catalogue_small.yaml"
TRAIN = ["A", "B", "D", "F"]


@pytest.fixture(scope="module")
def small():
    return load_catalogue(SMALL)


@pytest.fixture(scope="module")
def trained(small):
    return train_shared_ppo(small, 768, seed=3, train_skus=TRAIN, episode_periods=40)


def test_the_split_and_the_training_run(small, trained):
    assert trained.train_skus == TRAIN and trained.heldout_skus == ["C", "E"]
    assert trained.steps >= 768
    assert trained.policy.catalogue is small
    # the network's input layout holds the whole catalogue's pipeline (C's lead time 2), not just TRAIN's
    assert dict(trained.policy.network.layout)["pipeline"] == 1
    assert subset(small, TRAIN).configs[0].lead_time.mean == 1


def test_export_decides_exactly_as_the_trained_network_on_heldout_states(small, trained):
    held = small.subset([small.index(s) for s in trained.heldout_skus])
    exported = json.loads(json.dumps(trained.policy.params()))
    policy = SharedPPOPolicy.from_params(exported, held)
    original = trained.policy.bind(held)
    net = policy.network
    env = CatalogueVectorEnv(held, 30, 0, levels=net.levels, layout=net.layout)
    env_obs, _ = env.reset(seed=5)
    scale = held.demand_scale
    max_order = np.asarray([c.max_order for c in held.configs])
    for t in range(30):
        obs, state = env.engine.observe(), CatalogueState.of(env.engine, t)
        feats = policy.features(obs, state)
        np.testing.assert_array_equal(feats, env_obs)  # the policy sees what the env shows
        torch_actions, _ = trained.model.predict(trained.vecnorm.normalize_obs(feats), deterministic=True)
        actions = policy.actions(obs, state)
        np.testing.assert_array_equal(actions, torch_actions)
        np.testing.assert_array_equal(net.logits(feats), original.network.logits(feats))
        level = np.rint(net.levels[actions] * scale).astype(int)
        expected = np.minimum(max_order, np.maximum(0, level - state.inventory_position))
        np.testing.assert_array_equal(policy.orders(obs, state), expected)
        np.testing.assert_array_equal(original.orders(obs, state), expected)
        np.testing.assert_array_equal(env.orders(actions), expected)
        env_obs, *_ = env.step(actions)


def test_same_seed_same_network(small):
    a = train_shared_ppo(small, 256, seed=9, train_skus=TRAIN, episode_periods=20)
    b = train_shared_ppo(small, 256, seed=9, train_skus=TRAIN, episode_periods=20)
    for wa, wb in zip(a.policy.network.weights, b.policy.network.weights):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.policy.network.obs_mean, b.policy.network.obs_mean)


def test_split_and_scaled_limits_by_hand(small):
    train, held = split_skus(small.skus, 0.34, seed=0)
    assert len(held) == 2 and sorted(train + held) == sorted(small.skus) and not set(train) & set(held)
    assert split_skus(small.skus, 0.34, seed=0) == (train, held)
    with pytest.raises(ConfigError, match="holdout"):
        split_skus(small.skus, 1.0, 0)
    # volume x scale: A 4, B 16, C 3, D 9, E 1.5, F 6 (sum 39.5); capacity 80
    limits = scaled_limits(small, [0, 1])
    assert limits.capacity.limit == pytest.approx(80 * 20 / 39.5)
    assert limits.capacity.rule == "pro_rata"


def test_grid_reference_and_sku_costs_are_per_sku(small):
    """Without limits a SKU's cost does not depend on the others: the catalogue = each SKU alone."""
    free = replace(small, shared=None)
    levels = np.asarray([1.0, 2.0, 3.0])
    best, cost = grid_reference(free, levels, 2, 25, seed=4)
    for i in range(free.size):
        alone = free.subset([i])
        b, c = grid_reference(alone, levels, 2, 25, seed=4)
        assert (b[0], c[0]) == (best[i], cost[i])


def test_sku_costs_equal_the_env_under_the_same_actions(small, trained):
    """The evaluation loop and the env (the training path) see the same demand and costs."""
    env = CatalogueVectorEnv(
        small, 15, 0, levels=trained.policy.network.levels, layout=trained.policy.network.layout
    )
    obs, _ = env.reset(seed=7)
    total = np.zeros(small.size)
    for _ in range(15):
        a = trained.policy.network.actions(obs)
        obs, reward, *_ = env.step(a)
        total -= reward
    np.testing.assert_allclose(sku_costs(trained.policy, small, 1, 15, seed=7)[0], total / 15, rtol=1e-12)


def test_generalization_report(small, trained):
    rep = generalization(trained.policy, small, trained.train_skus, episodes=1, periods=20, seed=2)
    assert rep["train"]["skus"] == 4 and rep["heldout"]["skus"] == 2
    costs = sku_costs(trained.policy, small, 1, 20, seed=2)[0]
    is_train = np.isin(small.skus, TRAIN)
    assert rep["train"]["cost"] == pytest.approx(costs[is_train].sum())
    assert rep["heldout"]["cost"] == pytest.approx(costs[~is_train].sum())
    for group in ("train", "heldout"):
        g = rep[group]
        assert g["gap"] == pytest.approx(g["relaxed_cost"] / g["reference_cost"] - 1)
        assert g["reference_cost"] > 0


def test_bad_exports_and_catalogues_are_refused(small, trained):
    params = trained.policy.params()
    bad = json.loads(json.dumps(params))
    bad["network"]["layers"][0]["bias"] = [0.0]
    with pytest.raises(PolicyError, match=r"layers\[0\]"):
        SharedPPOPolicy.from_params(bad, small)
    with pytest.raises(PolicyError, match="format"):
        SharedNetwork.from_dict({"format": "other"})
    longer = build_catalogue(
        {"skus": [{"sku": "Z", "lead_time": 4}, {"sku": "Y"}]}, {"demand": {"dist": "poisson", "mean": 3}}
    )
    with pytest.raises(PolicyError, match="pipeline"):
        trained.policy.bind(longer)


def test_the_kind_checks_trains_saves_and_reloads(small, tmp_path):
    from stocklab.agents.catalogue.kind import SHARED_PPO, load_policy
    from stocklab.envs.core.kinds import PolicySpec

    with pytest.raises(ConfigError, match="train.steps"):
        SHARED_PPO.check(None, PolicySpec(name="p", kind="shared_ppo"))
    with pytest.raises(ConfigError, match=r"policies.p.params.*holdout"):
        SHARED_PPO.check(
            None, PolicySpec(name="p", kind="shared_ppo", params={"holdout": 1.5}, train={"steps": 9})
        )
    with pytest.raises(ConfigError, match="holdot"):
        SHARED_PPO.check(
            None, PolicySpec(name="p", kind="shared_ppo", params={"holdot": 0.2}, train={"steps": 9})
        )
    spec = PolicySpec(
        name="p", kind="shared_ppo", params={"train_skus": TRAIN, "episode_periods": 10}, train={"steps": 128}
    )
    SHARED_PPO.check(None, spec, deep=True)
    policy, info = SHARED_PPO.build_for(small, spec, seed=1, workdir=tmp_path)
    assert info["train_skus"] == TRAIN and info["heldout_skus"] == ["C", "E"]
    again = SHARED_PPO.load_for(small, tmp_path)
    for obs, state in _states(small, policy):
        np.testing.assert_array_equal(again.orders(obs, state), policy.orders(obs, state))
    (tmp_path / "bad.json").write_text('{"format": "stocklab-shared-ppo", "format_version": 99}')
    with pytest.raises(PolicyError, match="version 99"):
        load_policy(tmp_path / "bad.json", small)


def _states(catalogue, policy, periods=10):
    env = CatalogueVectorEnv(catalogue, periods, 0)
    env.reset(seed=1)
    for t in range(periods):
        obs, state = env.engine.observe(), CatalogueState.of(env.engine, t)
        yield obs, state
        env.engine.step(policy.orders(obs, state))


def test_bad_hyperparams_are_named():
    from stocklab.agents.catalogue.kind import SHARED_PPO
    from stocklab.envs.core.kinds import PolicySpec

    spec = PolicySpec(name="p", kind="shared_ppo", train={"steps": 9}, hyperparams={"n_step": 8})
    with pytest.raises(
        PolicyError, match=r"hyperparams.n_step: not a parameter of PPO. Did you mean 'n_steps'"
    ):
        SHARED_PPO.check(None, spec, deep=True)
