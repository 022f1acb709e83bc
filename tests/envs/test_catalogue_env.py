"""CatalogueVectorEnv against a second engine, and bad SKU attribute tables.

The env's steps are checked against the SimPy catalogue engine (an independent implementation of the
shared limits) driven by the same per-SKU seeds and by orders computed here from the action grid by
hand: order_i = min(max_order_i, max(0, round(level x scale_i) - inventory position_i)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stocklab.envs.catalogue.build import build_catalogue, load_catalogue
from stocklab.envs.catalogue.catalogue import sku_seeds
from stocklab.envs.catalogue.policy import CatalogueState
from stocklab.envs.catalogue_env import SKU_FEATURES, CatalogueVectorEnv
from stocklab.envs.core.errors import ConfigError, DataError, StocklabError
from stocklab.envs.engines.flows import FLOW_FIELDS, SHARED_FIELDS
from stocklab.envs.engines.simpy_catalogue import SimPyCatalogue

SMALL = Path(__file__).resolve().parents[1] / "data" / "catalogue_small.yaml"


@pytest.fixture(scope="module")
def small():
    return load_catalogue(SMALL)


def test_small_config_builds_as_written(small):
    assert small.skus == ["A", "B", "C", "D", "E", "F"]
    # demand scales are the models' means: intermittent E = occurrence x size mean = 0.3 x 5
    np.testing.assert_allclose(small.demand_scale, [4, 8, 3, 6, 1.5, 2])
    np.testing.assert_allclose(small.volume, [1, 2, 1, 1.5, 1, 3])
    assert [c.lead_time.mean for c in small.configs] == [1, 1, 2, 1, 1, 0]
    assert small.shared.capacity.limit == 80


@pytest.mark.parametrize("policy", ["fixed", "varying"])
def test_env_steps_equal_the_simpy_engine_under_a_fixed_policy(small, policy):
    periods, seed = 12, 11
    env = CatalogueVectorEnv(small, episode_periods=periods, seed=seed)
    obs, _ = env.reset(seed=seed)
    # the env's episode seed is the first draw of its generator; SKU seeds follow from it and the ids
    episode = int(np.random.default_rng(np.random.SeedSequence(seed)).integers(2**63))
    ref = SimPyCatalogue.for_catalogue(small)
    ref.reset(sku_seeds(episode, small.skus))
    scale = small.demand_scale
    max_order = np.asarray([c.max_order for c in small.configs])
    grid = env.levels
    assert grid[0] == 0 and grid[-1] == 12  # 4 x (longest lead time 2 + 1) periods of demand
    rng = np.random.default_rng(0)
    for t in range(periods):
        a = np.full(6, 8) if policy == "fixed" else rng.integers(0, len(grid), size=6)
        m = ref.observe().shape[1]
        np.testing.assert_allclose(obs[:, :m] * scale[:, None], ref.observe(), rtol=1e-6)
        ip = ref.inventory_position
        q = np.minimum(max_order, np.maximum(0, np.rint(grid[a] * scale).astype(int) - ip))
        expected = ref.step(q)
        obs, reward, term, trunc, info = env.step(a)
        for name in FLOW_FIELDS + SHARED_FIELDS:
            np.testing.assert_array_equal(
                getattr(env.last_flows, name), getattr(expected, name), err_msg=name
            )
            np.testing.assert_array_equal(info[name], getattr(expected, name), err_msg=name)
        np.testing.assert_array_equal(reward, -expected.cost)
        assert info["capacity_used"][0] == expected.capacity_used
        assert not term.any()
        assert trunc.all() == (t == periods - 1)
    # the episode ended at `periods`: final observations kept, the next episode started (same step)
    assert info["_final_obs"].all() and len(info["final_obs"]) == 6
    assert env._elapsed == 0


def test_observation_features_by_hand(small):
    env = CatalogueVectorEnv(small, episode_periods=5, seed=1)
    obs, _ = env.reset(seed=1)
    names = env.obs_names()
    assert names[-len(SKU_FEATURES) :] == list(SKU_FEATURES)
    col = {n: obs[:, names.index(n)] for n in SKU_FEATURES}
    np.testing.assert_allclose(col["critical_fractile"], [0.9, 0.9, 0.9, 4 / 4.5, 0.9, 0.9], rtol=1e-6)
    np.testing.assert_allclose(col["lead_time"], [1, 1, 2, 1, 1, 0])
    np.testing.assert_allclose(col["max_order"], 40 / small.demand_scale, rtol=1e-6)
    np.testing.assert_allclose(col["volume_share"], small.volume * small.demand_scale / 80, rtol=1e-6)
    # every SKU starts with 5 units on hand: sum_i v_i x 5 / C = 5 x 9.5 / 80
    np.testing.assert_allclose(col["capacity_use"], 5 * 9.5 / 80, rtol=1e-6)
    assert (col["budget_share"] == 0).all()
    np.testing.assert_allclose(obs[:, names.index("on_hand")], 5 / small.demand_scale, rtol=1e-6)
    state = CatalogueState.of(env.engine)
    assert state.capacity == 80 and state.capacity_used == pytest.approx(47.5)
    assert state.capacity_free == pytest.approx(32.5)


def test_normalized_reward_and_seeding(small):
    a = CatalogueVectorEnv(small, episode_periods=4, seed=5, reward="normalized")
    b = CatalogueVectorEnv(small, episode_periods=4, seed=5)
    a.reset(seed=[5, 99])  # SB3 passes one seed per env: the first counts
    b.reset()
    hp = np.asarray([c.costs.holding + c.costs.shortage for c in small.configs])
    for _ in range(6):
        _, ra, *_ = a.step(np.full(6, 4))
        _, rb, *_ = b.step(np.full(6, 4))
        np.testing.assert_allclose(ra, rb / (hp * small.demand_scale))


def test_bad_env_arguments(small):
    with pytest.raises(ConfigError, match="features"):
        CatalogueVectorEnv(small, features="scaled")
    with pytest.raises(ConfigError, match="levels"):
        CatalogueVectorEnv(small, levels=[-1.0, 2.0])
    env = CatalogueVectorEnv(small, 3, 0)
    env.reset()
    with pytest.raises(ConfigError, match="reset all of them"):
        env.reset(options={"reset_mask": np.array([True] + [False] * 5)})


# ------------------------------------------------------------------------- attribute tables
SECTION = {
    "skus": [{"sku": "A", "demand": {"dist": "poisson", "mean": 4}}, {"sku": "N1402"}],
    "attributes": "skus.csv",
}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("sku,lead_time\nA,1\n", r"catalogue.attributes: skus.csv has no row for sku 'N1402'"),
        (
            "sku,lead_time\nA,1\nN1402,-1\n",
            r"catalogue.attributes: skus.csv row 3, column 'lead_time': -1 must be >= 0 \(sku 'N1402'\)",
        ),
        (
            "sku,lead_time,colour\nA,1,red\nN1402,2,blue\n",
            r"catalogue.attributes: skus.csv row 1 \(header\): unknown column 'colour'",
        ),
        (
            "sku,lead_tme\nA,1\nN1402,2\n",
            r"unknown column 'lead_tme'. Did you mean 'lead_time'\?",
        ),
        (
            "sku,volume\nA,2\nN1402,abc\n",
            r"skus.csv row 3, column 'volume': abc is not a number \(sku 'N1402'\)",
        ),
    ],
)
def test_bad_attribute_tables_give_one_clear_error(tmp_path, table, message):
    (tmp_path / "skus.csv").write_text(table)
    with pytest.raises(DataError, match=message) as err:
        build_catalogue(SECTION, {"demand": {"dist": "poisson", "mean": 2}}, tmp_path)
    assert isinstance(err.value, StocklabError) and err.value.exit_code == 2
    assert "\n" not in str(err.value)


def test_a_good_attribute_table_sets_the_skus(tmp_path):
    (tmp_path / "skus.csv").write_text("sku,lead_time,holding,max_order\nN1402,3,0.5,\nA,0,,7\nZ,1,1,1\n")
    cat = build_catalogue(SECTION, {"demand": {"dist": "poisson", "mean": 2}}, tmp_path)
    assert [c.lead_time.mean for c in cat.configs] == [0, 3]
    assert [c.costs.holding for c in cat.configs] == [1.0, 0.5]  # EnvConfig default h = 1
    assert cat.configs[0].max_order == 7


def test_a_wider_layout_pads_pipeline_slots_with_zeros(small):
    short = small.subset([0, 1])  # lead time 1 only: no pipeline slot
    own = CatalogueVectorEnv(short, 5, 0)
    assert [f.name for f in own.obs_spec.fields] == ["on_hand", "inventory_position"]
    wide = CatalogueVectorEnv(
        short, 5, 0, layout=[("on_hand", 1), ("pipeline", 2), ("inventory_position", 1)]
    )
    a, _ = own.reset(seed=2)
    b, _ = wide.reset(seed=2)
    assert wide.obs_names()[:4] == ["on_hand", "pipeline[0]", "pipeline[1]", "inventory_position"]
    np.testing.assert_array_equal(b[:, [0, 3]], a[:, :2])
    assert (b[:, 1:3] == 0).all()
    np.testing.assert_array_equal(b[:, 4:], a[:, 2:])
    with pytest.raises(ConfigError, match=r"observation field pipeline\[1\] does not fit"):
        CatalogueVectorEnv(small, 5, 0, layout=[("on_hand", 1), ("inventory_position", 1)])


def test_refusal_penalty_enters_the_reward_only(small):
    pen = np.asarray([9.0, 9, 9, 4, 9, 18])
    a = CatalogueVectorEnv(small, 30, 5, refusal_penalty=pen)
    b = CatalogueVectorEnv(small, 30, 5)
    a.reset(seed=5)
    b.reset(seed=5)
    refused = 0
    for _ in range(12):
        _, ra, _, _, ia = a.step(np.full(6, 48))  # the top of the grid: the warehouse refuses arrivals
        _, rb, _, _, ib = b.step(np.full(6, 48))
        np.testing.assert_array_equal(ia["cost"], ib["cost"])
        np.testing.assert_allclose(ra, rb - pen * ib["refused"])
        refused += ib["refused"].sum()
    assert refused > 0
    with pytest.raises(ConfigError, match="refusal_penalty"):
        CatalogueVectorEnv(small, refusal_penalty=-1.0)
