"""SB3 agents: PPO beats the random policy, seeding, save/load, resume, fixed-seed evaluation,
algorithms by name, VecNormalize applied at inference."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from stocklab.agents.factory import load_policy, save_policy, train_agent
from stocklab.agents.sb3.agent import SB3Agent, linear_schedule
from stocklab.agents.sb3.callbacks import WallClock
from stocklab.agents.sb3.policy import SB3Policy
from stocklab.envs import PolicyError, parse_env_config
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs

ENV = {
    "unmet_demand": "lost",
    "lead_time": 2,
    "demand": {"dist": "poisson", "mean": 5},
    "max_order": 20,
    "periods": 200,
}
UP_TO = {**ENV, "action": {"mode": "order_up_to", "max_level": 30}}
SMALL = {"n_steps": 128, "batch_size": 64, "n_epochs": 2, "policy_kwargs": {"net_arch": [16, 16]}}


def _observations(n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(0)
    on_hand, pipe = rng.integers(0, 40, n), rng.integers(0, 21, n)
    return np.stack([on_hand, pipe, on_hand + pipe], axis=1).astype(np.float32)


def test_ppo_beats_the_random_policy_on_common_seeds() -> None:
    cfg = parse_env_config(UP_TO)
    hp = {"n_envs": 4, "n_steps": 128, "batch_size": 256, "n_epochs": 4, "learning_rate": 1e-3,
          "policy_kwargs": {"net_arch": [32, 32]}}  # fmt: skip
    agent = SB3Agent(cfg, "ppo", hp, seed=1, torch_threads=1)
    untrained = agent.policy()
    policy = agent.learn(2048).policy()
    seeds = episode_seeds(4, 4)
    rng = np.random.default_rng(5)
    random_costs = episode_costs(cfg, lambda obs: int(rng.integers(0, 31)), seeds, periods=300)
    ppo_costs = episode_costs(cfg, policy.act, seeds, periods=300)
    assert ppo_costs.mean() < 0.8 * random_costs.mean()
    assert ppo_costs.mean() < episode_costs(cfg, untrained.act, seeds, periods=300).mean()


def test_same_seed_gives_identical_actions() -> None:
    obs = _observations(300)
    runs = [SB3Agent(ENV, "ppo", SMALL, seed=s, torch_threads=1).learn(512).policy() for s in (3, 3, 4)]
    a = [r.predict(obs)[0] for r in runs]
    assert np.array_equal(a[0], a[1])
    w = [r.network.state_dict()["action_net.weight"] for r in runs]
    assert bool((w[0] == w[1]).all()) and not bool((w[0] == w[2]).all())


def test_policy_applies_the_vecnormalize_statistics() -> None:
    agent = SB3Agent(ENV, "ppo", SMALL, seed=0, torch_threads=1).learn(512)
    policy = agent.policy()
    assert agent.venv.obs_rms.count > 500  # statistics were collected
    obs = _observations(50)
    expected, _ = agent.model.predict(agent.venv.normalize_obs(obs), deterministic=True)
    assert np.array_equal(policy.predict(obs)[0], expected)
    assert [policy.act(o) for o in obs] == expected.tolist()


def test_save_load_identical_actions_and_resume(tmp_path) -> None:
    agent = SB3Agent(ENV, "ppo", {**SMALL, "learning_rate": "lin_1e-3"}, seed=2, torch_threads=1).learn(512)
    obs = _observations()
    before = agent.policy().predict(obs)[0]
    path = agent.save(tmp_path / "ppo")
    assert {p.name for p in path.iterdir()} >= {
        "model.zip",
        "vecnormalize.pkl",
        "normalize.json",
        "agent.json",
    }
    assert np.array_equal(SB3Policy.load(path).predict(obs)[0], before)
    resumed = SB3Agent.load(path)
    assert resumed.num_timesteps == 512
    assert np.array_equal(resumed.venv.obs_rms.mean, agent.venv.obs_rms.mean)
    assert np.array_equal(resumed.policy().predict(obs)[0], before)
    resumed.learn(256, reset_num_timesteps=False)
    assert resumed.num_timesteps == 768
    # a policy saved on its own loads the same way
    p2 = save_policy(agent.policy(), tmp_path / "policy_only")
    assert np.array_equal(load_policy(p2).predict(obs)[0], before)
    # tampering: wrong architecture in agent.json, missing files
    meta = json.loads((path / "agent.json").read_text())
    meta["hyperparams"]["policy_kwargs"] = {"net_arch": [8]}
    (path / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="do not fit"):
        SB3Policy.load(path)
    (path / "normalize.json").unlink()
    with pytest.raises(PolicyError, match="normalize.json"):
        SB3Policy.load(path)


def test_checkpoints_and_fixed_seed_evaluation(tmp_path) -> None:
    # learning rate 0 and no normalisation: the policy never changes, so fixed-seed scores are equal
    hp = {**SMALL, "learning_rate": 0.0, "normalize": False}
    agent = SB3Agent(ENV, "ppo", hp, seed=0, torch_threads=1, tensorboard_log=tmp_path / "tb")
    ckpt = tmp_path / "ckpt"
    agent.learn(
        1024, eval_freq=256, eval_episodes=2, eval_periods=50, checkpoint_freq=512, checkpoint_dir=ckpt
    )
    assert [s for s, _ in agent.evaluations] == [256, 512, 768, 1024]
    assert len({c for _, c in agent.evaluations}) == 1
    assert sorted(p.name for p in ckpt.iterdir()) == ["ppo_1024_steps", "ppo_512_steps"]
    assert SB3Agent.load(ckpt / "ppo_512_steps").num_timesteps == 512
    assert list((tmp_path / "tb").glob("ppo_*/events.out.tfevents.*"))  # TensorBoard log written


def test_time_limit_and_early_stopping() -> None:
    agent = SB3Agent(ENV, "ppo", {**SMALL, "learning_rate": 0.0, "normalize": False}, seed=0, torch_threads=1)
    agent.learn(100_000, eval_freq=128, eval_episodes=1, eval_periods=20, patience=2)
    assert len(agent.evaluations) == 3  # equal scores: no improvement twice after the first
    agent.learn(100_000, max_seconds=0.5)
    assert agent.num_timesteps < 100_000


def test_linear_schedules_follow_the_wall_clock_under_a_time_limit() -> None:
    clock = WallClock()
    schedule = linear_schedule(1e-3, clock)
    assert schedule(0.4) == pytest.approx(4e-4)  # no budget running: SB3's progress alone
    clock._start, clock._limit = time.perf_counter() - 30.0, 40.0  # 30 of 40 s used: 1/4 left
    assert schedule(1.0) == pytest.approx(2.5e-4, rel=1e-3)
    assert schedule(0.1) == pytest.approx(1e-4)  # the step budget is the tighter one
    clock.stop()
    assert schedule(1.0) == 1e-3


@pytest.mark.parametrize("algo", ["a2c", "dqn"])
def test_other_algorithms_by_name_in_both_action_modes(algo: str) -> None:
    for env in (ENV, UP_TO):
        result = train_agent(algo, env, 300, {"policy_kwargs": {"net_arch": [16], "activation_fn": "relu"}})
        actions = result.policy.predict(_observations(20))[0]
        assert actions.shape == (20,) and actions.min() >= 0 and actions.max() <= (20 if env is ENV else 30)


def test_bad_algorithms_and_hyperparameters_are_policy_errors() -> None:
    with pytest.raises(PolicyError, match="Discrete"):
        SB3Agent(ENV, "sac")
    with pytest.raises(PolicyError, match="Did you mean 'ppo'"):
        SB3Agent(ENV, "ppp")
    with pytest.raises(PolicyError, match="Did you mean 'learning_rate'"):
        SB3Agent(ENV, "ppo", {"learnig_rate": 0.1})
    with pytest.raises(PolicyError, match="activation_fn"):
        SB3Agent(ENV, "ppo", {"policy_kwargs": {"activation_fn": "__import__('os')"}})
    with pytest.raises(PolicyError, match="lin_"):
        SB3Agent(ENV, "ppo", {"learning_rate": "lin_fast"})
