"""BatchedVecEnv: SB3's VecEnv contract over the batched engine, equal to the DummyVecEnv it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from stocklab.agents.sb3.agent import SB3Agent
from stocklab.agents.sb3.vec_env import BatchedVecEnv
from stocklab.envs import PolicyError, parse_env_config
from stocklab.envs.registration import make_inventory_env

ENV = {"lead_time": {"dist": "poisson", "mean": 1.5}, "max_order": 20, "periods": 40,
       "action": {"mode": "order_up_to", "max_level": 30}, "initial": {"on_hand": 10}}  # fmt: skip
SMALL = {"n_envs": 3, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "policy_kwargs": {"net_arch": [16, 16]}}


def test_steps_resets_and_terminal_observations_equal_dummy_vec_env():
    cfg = parse_env_config(ENV)
    dummy = make_vec_env(
        make_inventory_env, n_envs=3, seed=5, env_kwargs={"config": cfg}, vec_env_cls=DummyVecEnv
    )
    batched = BatchedVecEnv(cfg, 3)
    batched.seed(5)
    np.testing.assert_array_equal(batched.reset(), dummy.reset())
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(100):  # two and a half episodes of 40 periods
        actions = rng.integers(0, 31, 3)
        dummy.step_async(actions)
        batched.step_async(actions)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = dummy.step_wait(), batched.step_wait()
        np.testing.assert_array_equal(o1, o2)
        assert r2.dtype == np.float32 and np.array_equal(r1, r2) and np.array_equal(d1, d2)
        for a, b in zip(i1, i2):
            if "terminal_observation" in a:
                ends += 1
                np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])
                assert a["TimeLimit.truncated"] is b["TimeLimit.truncated"] is True
                assert b["episode"]["l"] == a["episode"]["l"] == 40
                assert b["episode"]["r"] == pytest.approx(a["episode"]["r"])
            else:
                assert b == {}
    assert ends == 6
    assert batched.get_attr("periods") == [40, 40, 40] and batched.get_attr("render_mode", [1]) == [None]
    assert batched.env_method("reset", seed=1)[0][0].shape == (3, *batched.observation_space.shape)
    assert batched.env_is_wrapped(VecNormalize) == [False] * 3
    batched.set_attr("periods", 50)
    assert batched.venv.periods == 50


def test_ppo_on_the_adapter_learns_exactly_what_it_learns_on_dummy_vec_env():
    weights = []
    for kind in ("dummy", "batched"):
        agent = SB3Agent(ENV, "ppo", {**SMALL, "vec_env": kind}, seed=3, torch_threads=1)
        agent.learn(400)  # 3 envs x 64 steps x 2+ rollouts, through two episode ends each
        assert isinstance(agent.venv, VecNormalize)
        weights.append((agent.model.policy.state_dict(), agent.venv.obs_rms.mean.copy()))
    (w1, m1), (w2, m2) = weights
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    np.testing.assert_array_equal(m1, m2)


@pytest.mark.parametrize("algo,hp", [("a2c", {"n_envs": 8, "n_steps": 8}),
                                     ("dqn", {"n_envs": 4, "learning_starts": 64, "buffer_size": 2000})])  # fmt: skip
def test_a2c_and_dqn_train_on_the_adapter(algo, hp):
    agent = SB3Agent(ENV, algo, {**hp, "policy_kwargs": {"net_arch": [16]}}, seed=0, torch_threads=1)
    assert type(agent.venv.venv).__name__ == "BatchedVecEnv"
    agent.learn(400)
    assert agent.num_timesteps >= 400
    n = agent.venv.observation_space.shape[0]
    assert agent.policy().act_batch(np.zeros((2, n), dtype=np.float32)).shape == (2,)


def test_agent_picks_the_adapter_only_where_the_batched_engine_is_exact():
    fractional = {**ENV, "lead_time": {"dist": "gamma", "mean": 2, "cv": 0.5}}
    assert SB3Agent(ENV, "ppo", SMALL).vec_kind == "batched"
    assert SB3Agent({**ENV, "engine": "simpy"}, "ppo", SMALL).vec_kind == "dummy"
    assert SB3Agent(fractional, "ppo", SMALL).vec_kind == "dummy"
    with pytest.raises(PolicyError, match="env.lead_time"):
        SB3Agent(fractional, "ppo", {**SMALL, "vec_env": "batched"})
