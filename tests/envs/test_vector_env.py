"""InventoryVectorEnv: gymnasium's make_vec, same-step autoreset, TimeLimit, info arrays, seeding."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import stocklab.envs  # noqa: F401  (registers the ids)
from stocklab.envs import ENV_ID, PRESETS, ConfigError
from stocklab.envs.vector_env import InventoryVectorEnv

CFG = {"periods": 7, "lead_time": {"dist": "poisson", "mean": 1.5}, "unmet_demand": "backorder",
       "action": {"mode": "order_up_to", "max_level": 30}, "max_order": 20}  # fmt: skip


def test_make_vec_builds_the_native_vector_env_with_batched_spaces():
    venv = gym.make_vec(ENV_ID, num_envs=5, vectorization_mode="vector_entry_point", **CFG)
    assert isinstance(venv.unwrapped, InventoryVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    single = gym.make(ENV_ID, **CFG)
    assert venv.single_observation_space == single.observation_space
    assert venv.single_action_space == single.action_space
    assert venv.observation_space.shape == (5, single.observation_space.shape[0])
    assert venv.action_space.shape == (5,)
    for preset in PRESETS:  # every registered id has a vector entry point
        assert isinstance(gym.make_vec(preset, num_envs=2).unwrapped, InventoryVectorEnv)


def test_sub_environments_replay_inventory_env_with_time_limit_and_autoreset():
    venv = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", **CFG)
    envs = [gym.make(ENV_ID, **CFG) for _ in range(3)]
    obs, info = venv.reset(seed=11)
    assert info == {}
    ref = [env.reset(seed=11 + i)[0] for i, env in enumerate(envs)]
    np.testing.assert_array_equal(obs, np.stack(ref))
    rng = np.random.default_rng(0)
    ended = 0
    for t in range(20):  # two and a half episodes of 7 periods
        actions = rng.integers(0, 31, 3)
        obs, reward, terminated, truncated, info = venv.step(actions)
        assert reward.shape == (3,) and info["cost"].shape == (3,) and info["demand"].dtype == np.int64
        for i, env in enumerate(envs):
            o, r, te, tr, inf = env.step(int(actions[i]))
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
            assert {k: info[k][i] for k in inf} == inf
            if te or tr:
                ended += 1
                assert info["_final_obs"][i] and info["_final_info"][i]
                np.testing.assert_array_equal(info["final_obs"][i], o)
                assert info["final_info"]["cost"][i] == inf["cost"]
                o, _ = env.reset()  # the env's generator continues, as the vector env's does
            np.testing.assert_array_equal(obs[i], o)
        assert truncated.all() == ((t + 1) % 7 == 0)
    assert ended == 6


def test_reset_mask_resets_only_the_masked_sub_environments():
    venv = InventoryVectorEnv(3, CFG)
    venv.reset(seed=1)
    for _ in range(3):
        obs, *_ = venv.step(np.full(3, 15))
    before = obs.copy()
    obs, _ = venv.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])
    fresh = gym.make(ENV_ID, **CFG).unwrapped
    fresh.reset(seed=2)
    fresh.reset()  # sub-env 1's second episode: the next seed from its generator
    np.testing.assert_array_equal(obs[1], fresh._observe())
    # a partially reset sub-environment truncates ``periods`` steps after its own reset
    truncated = [venv.step(np.full(3, 15))[3] for _ in range(7)]
    assert [t.tolist() for t in truncated][3] == [True, False, True]
    assert truncated[6].tolist() == [False, True, False]


def test_shared_streams_are_deterministic_per_seed_and_differ_from_exact():
    def costs(streams: str, seed: int) -> np.ndarray:
        venv = InventoryVectorEnv(4, {**CFG, "periods": 50}, streams=streams)
        venv.reset(seed=seed)
        return np.stack([venv.step(np.full(4, 12))[4]["cost"] for _ in range(120)])

    np.testing.assert_array_equal(costs("shared", 3), costs("shared", 3))
    assert not np.array_equal(costs("shared", 3), costs("shared", 4))
    assert not np.array_equal(costs("shared", 3), costs("exact", 3))


def test_configs_only_the_simpy_engine_simulates_are_refused_with_the_field():
    with pytest.raises(ConfigError, match="env.lead_time"):
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point",
                     lead_time={"dist": "gamma", "mean": 2, "cv": 0.4})  # fmt: skip
    with pytest.raises(ConfigError, match="num_envs"):
        InventoryVectorEnv(0)
