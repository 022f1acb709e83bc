"""Per-SKU catalogue policies: the array rules match each SKU's own policy; tuning per SKU = tuning alone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from stocklab.baselines.catalogue.per_sku import per_sku_from_params, per_sku_policy
from stocklab.baselines.catalogue.rules import SkuRules
from stocklab.baselines.catalogue.simulate import simulate
from stocklab.baselines.policies.classic import build_policy
from stocklab.baselines.tuning.search import tune
from stocklab.envs.catalogue.build import build_catalogue
from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.params import batch_action_map, batch_layout


def _catalogue(n: int = 3, unmet: str = "lost", capacity: float | None = None):
    means = [2.0, 3.0, 1.5, 4.0, 2.5, 3.5][:n]
    skus = [
        {"sku": f"S{i}", "demand": {"dist": "poisson", "mean": m}, "lead_time": 1 + i % 2,
         "costs": {"holding": 1.0, "shortage": 4.0 + 3 * i}}
        for i, m in enumerate(means)
    ]  # fmt: skip
    shared = {"capacity": {"limit": capacity}} if capacity else None
    return build_catalogue({"skus": skus, "shared": shared}, {"unmet_demand": unmet, "max_order": 12})


def _mixed(configs):
    return [
        build_policy("base_stock", configs[0], {"level": 7}),
        build_policy("ss", configs[1], {"s": 4, "S": 11}),
        build_policy("rq", configs[2], {"r": 3, "Q": 4}),
        build_policy("capped_base_stock", configs[3], {"level": 12, "cap": 5}),
        build_policy("constant", configs[4], {"quantity": 3}),
        build_policy("newsvendor", configs[5]),
    ]


def test_rules_order_exactly_what_each_skus_own_policy_orders():
    cat = _catalogue(6)
    configs = list(cat.configs)
    policies = _mixed(configs)
    spec = batch_layout(configs)
    rules = SkuRules(policies, batch_action_map(configs), spec)
    assert len(rules.groups) == 6
    engine = BatchedEngine(configs)
    engine.reset(list(range(6)))
    rng = np.random.default_rng(0)
    for _ in range(60):
        obs = engine.observe()
        got = rules.orders(obs)
        for i, policy in enumerate(policies):  # the reference: each policy on its own observation
            own = policy.obs_spec.vector(spec.to_dict(obs[i]))
            ip = float(spec.to_dict(obs[i])["inventory_position"])
            assert got[i] == policy.action_map.order(policy.act(own), ip), (i, policy)
        # random orders drive the states away from the policies' own regimes
        engine.step(rng.integers(0, 9, size=6))


@pytest.mark.parametrize("kind", ["base_stock", "ss", "capped_base_stock"])
def test_tuning_per_sku_equals_tuning_each_sku_alone(kind):
    cat = _catalogue(1 if kind == "capped_base_stock" else 3)  # the capped search is the slowest
    policy = per_sku_policy(cat, kind, episodes=2, periods=300, warmup=50, seed=5)
    for i, cfg in enumerate(cat.configs):
        alone = tune(cfg, kind, episodes=2, periods=300, warmup=50, seed=5)
        assert policy.params()["skus"][f"S{i}"] == alone.params
        assert policy.info[i]["tuning_avg_cost"] == pytest.approx(alone.avg_cost)


def test_per_sku_newsvendor_uses_each_skus_critical_fractile():
    cat = _catalogue(3, unmet="backorder")
    policy = per_sku_policy(cat, "newsvendor")
    for i, cfg in enumerate(cat.configs):
        h, p = cfg.costs.holding, cfg.costs.shortage
        assert policy.params()["skus"][f"S{i}"]["fractile"] == pytest.approx(p / (p + h))
        # backorders, Poisson(m) per period, lead time L: the level is the fractile of Poisson((L+1) m)
        m, lead = [2.0, 3.0, 1.5][i], 1 + i % 2
        assert policy.policies[i].level == int(stats.poisson.ppf(p / (p + h), (lead + 1) * m))  # type: ignore[attr-defined]


def test_given_params_and_the_saved_params_rebuild_the_same_orders():
    cat = _catalogue(3, capacity=15.0)
    policy = per_sku_policy(cat, "base_stock", params={"level": 6})
    assert all(p == {"level": 6} for p in policy.params()["skus"].values())
    again = per_sku_from_params(cat, policy.params())
    a, b = simulate(cat, policy, [1, 2], 200), simulate(cat, again, [1, 2], 200)
    assert np.array_equal(a.sku_cost, b.sku_cost)
    assert a.within_capacity.mean() < 1.0  # three levels of 6 overflow a capacity of 15 units


def test_unknown_base_kind_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="base_stok.*base_stock"):
        per_sku_policy(_catalogue(2), "base_stok")
    with pytest.raises(ConfigError, match="no saved parameters for sku 'S1'"):
        per_sku_from_params(_catalogue(2), {"base": "base_stock", "skus": {"S0": {"level": 3}}})


def test_catalogue_kinds_build_and_rebuild_the_same_policy(tmp_path):
    from stocklab.baselines.registry import CATALOGUE_KINDS
    from stocklab.envs.core.kinds import KindRegistry, PolicySpec

    kinds = KindRegistry(CATALOGUE_KINDS)
    assert all(k.scope == "catalogue" for k in kinds)
    cat = _catalogue(3, capacity=15.0)
    spec = PolicySpec(name="b", kind="per_sku", params={"base": "ss"}, train={"episodes": 1, "periods": 200})
    policy, info = kinds.get("per_sku").build_for(cat, spec, 9, tmp_path)
    for i, cfg in enumerate(cat.configs):  # tuned on the training seed, each SKU alone
        assert policy.params()["skus"][f"S{i}"] == tune(cfg, "ss", episodes=1, periods=200, seed=9).params
    assert info["method"] == "tuned"
    reference = simulate(cat, policy, [4], 100).sku_cost
    for again in (
        kinds.get("per_sku").load_for(cat, tmp_path),
        kinds.get("per_sku").rebuild_for(cat, policy.params()),
    ):
        assert np.array_equal(reference, simulate(cat, again, [4], 100).sku_cost)
    with pytest.raises(PolicyError, match="not newsvendor"):
        kinds.get("newsvendor").load_for(cat, tmp_path)
    news = kinds.get("newsvendor").build_policy(cat, PolicySpec(name="n", kind="newsvendor"), seed=0)
    assert news.params["base"] == "newsvendor" and news.info["method"] == "default"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("per_sku", {}, "params.base is required"),
        ("per_sku", {"base": "basestock"}, "'basestock' is not a single-SKU kind.*base_stock"),
        ("per_sku", {"base": "base_stock", "levle": 3}, "levle"),
        ("newsvendor", {"base": "ss"}, "fixed to newsvendor"),
        ("lagrangian", {"target": 1.5}, r"target \(=1.5\) must be in \(0, 1\)"),
        ("lagrangian", {"z": 1}, "unknown parameter 'z'"),
    ],
)
def test_catalogue_kinds_reject_bad_params_with_one_message(kind, params, message):
    from stocklab.baselines.registry import CATALOGUE_KINDS
    from stocklab.envs.core.errors import StocklabError
    from stocklab.envs.core.kinds import KindRegistry, PolicySpec

    cat = _catalogue(2)
    with pytest.raises(StocklabError, match=message):
        KindRegistry(CATALOGUE_KINDS).get(kind).check(
            cat.configs[0], PolicySpec(name="x", kind=kind, params=params)
        )


def test_forecast_driven_newsvendor_orders_as_each_skus_own_policy():
    # seasonal SKUs whose observations carry the demand's mean and sd for the next periods: each
    # SKU's newsvendor level moves with them, computed for all SKUs at once by the array rule
    weekly = [1, 1.2, 0.8, 1, 1.5, 0.7, 0.8]
    skus = [
        {"sku": f"S{i}", "demand": {"dist": "seasonal", "base": 3 + i, "trend": 0.05, "weekly": weekly},
         "lead_time": 1 + i % 2}
        for i in range(4)
    ]  # fmt: skip
    env = {"unmet_demand": "lost", "costs": {"holding": 1, "shortage": 9.0}, "max_order": 40}
    cat = build_catalogue({"skus": skus}, {**env, "observation": {"information": "oracle_mean"}})
    policy = per_sku_policy(cat, "newsvendor")
    (group,) = policy.rules.groups
    assert group.varying  # type: ignore[attr-defined]
    spec = policy.rules.spec
    engine = BatchedEngine.for_catalogue(cat)
    engine.reset([1, 2, 3, 4])
    seen = set()
    for _ in range(30):
        obs = engine.observe()
        got = policy.orders(obs)
        for i, own_policy in enumerate(policy.policies):
            state = spec.to_dict(obs[i])
            own = own_policy.obs_spec.vector(state)
            assert got[i] == own_policy.action_map.order(
                own_policy.act(own), float(state["inventory_position"])
            )
            seen.add((i, own_policy.current_level(own)))  # type: ignore[attr-defined]
        engine.step(got)
    assert len(seen) > 4  # the levels moved with the forecasts


def test_replayed_skus_are_tuned_on_their_train_split_not_the_test_period():
    from stocklab.baselines.catalogue.training import training_catalogue

    cat = build_catalogue({"history": "demo"}, {"unmet_demand": "lost", "lead_time": 1, "max_order": 100})
    train = training_catalogue(cat)
    for i, cfg in enumerate(train.configs):
        assert cfg.demand.values == [int(v) for v in cat.train[i]] and cfg.demand.at_end == "cycle"
        assert cat.configs[i].demand.values != cfg.demand.values  # the test period is left out
    stationary = _catalogue(2)
    assert training_catalogue(stationary) is stationary  # nothing replayed: nothing changes
    # a 12-period test window leaves no room for a 100-period warm-up: tuning runs on the train split
    policy = per_sku_policy(cat, "base_stock", episodes=1, periods=100, warmup=100, seed=2)
    for i, cfg in enumerate(train.configs):
        assert (
            policy.params()["skus"][cat.skus[i]]
            == tune(cfg, "base_stock", episodes=1, periods=100, seed=2).params
        )


def test_batch_tuner_finds_the_single_sku_tuners_levels():
    # small lost-sales SKUs: the single-SKU tuner scores every level exactly (DP); the batch tuner
    # simulates every level of every SKU at once and must land on the same optimum or next to it
    cat = _catalogue(3)
    batch = per_sku_policy(cat, "base_stock", tuner="batch", episodes=4, periods=2000, seed=1)
    for i, cfg in enumerate(cat.configs):
        exact = tune(cfg, "base_stock")
        assert exact.method == "exact"
        assert abs(batch.params()["skus"][f"S{i}"]["level"] - exact.params["level"]) <= 1
        assert batch.info[i]["tuning_avg_cost"] == pytest.approx(exact.avg_cost, rel=0.03)
    with pytest.raises(ConfigError, match="tuner 'batch'"):
        per_sku_policy(cat, "ss", tuner="batch")
