"""The defaults of ``kind: ppo``: the base level against closed forms and brute force, the action prior
(the untrained policy is the base-stock policy at that level), exact-scorer model selection, budget clocks."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy import stats

from stocklab.agents.factory import train_agent
from stocklab.agents.sb3.agent import SB3Agent
from stocklab.agents.sb3.callbacks import WallClock
from stocklab.agents.sb3.defaults import PPO_DEFAULTS, base_level, with_defaults
from stocklab.agents.tabular.callbacks import timer_of
from stocklab.envs import PolicyError, parse_env_config

SMALL = {
    "n_envs": 4,
    "n_steps": 64,
    "batch_size": 128,
    "n_epochs": 1,
    "policy_kwargs": {"net_arch": [16, 16]},
}


def _env(p: float, lead: int, mode: str = "order_up_to", **extra) -> dict:
    env = {
        "lead_time": lead,
        "costs": {"holding": 1.0, "shortage": p},
        "max_order": 20,
        "periods": 200,
        **extra,
    }
    if mode == "order_up_to":
        env["action"] = {"mode": "order_up_to", "max_level": 10 * (lead + 1) + 5}
    return env


@pytest.mark.parametrize(("p", "lead", "mean"), [(4, 1, 5.0), (9, 2, 5.0), (39, 4, 5.0), (19, 3, 2.5)])
def test_base_level_is_the_poisson_newsvendor_quantile(p: float, lead: int, mean: float) -> None:
    cfg = parse_env_config(_env(p, lead, demand={"dist": "poisson", "mean": mean}))
    # smallest S with P(Poisson((L + 1) mean) <= S) >= p / (p + h): scipy's quantile function
    assert base_level(cfg) == int(stats.poisson((lead + 1) * mean).ppf(p / (p + 1.0)))


def test_base_level_of_an_empirical_demand_by_brute_force() -> None:
    values, probs = [0, 2, 7], [0.3, 0.5, 0.2]
    cfg = parse_env_config(_env(3, 2, demand={"dist": "empirical", "values": values, "probs": probs}))
    # the demand of 3 periods by enumerating all 27 outcomes
    dist: dict[int, float] = {}
    for combo in itertools.product(range(3), repeat=3):
        total = sum(values[i] for i in combo)
        dist[total] = dist.get(total, 0.0) + float(np.prod([probs[i] for i in combo]))
    acc, level = 0.0, None
    for s in sorted(dist):
        acc += dist[s]
        if acc >= 0.75 - 1e-12:
            level = s
            break
    assert base_level(cfg) == level


def test_the_untrained_policy_is_base_stock_at_the_prior_centre() -> None:
    cfg = parse_env_config(_env(9, 2))
    s0 = int(stats.poisson(15).ppf(0.9))  # 20
    hp = {**SMALL, "action_prior": {"width": 2.0}}
    agent = SB3Agent(cfg, "ppo", hp, seed=3, torch_threads=1)
    rng = np.random.default_rng(0)
    on_hand, pipe = rng.integers(0, 30, 400), rng.integers(0, 15, 400)
    obs = np.stack([on_hand, pipe, on_hand + pipe], axis=1).astype(np.float32)
    policy = agent.policy()
    assert (policy.predict(obs)[0] == s0).all()  # order up to S0 whatever the state
    import torch

    with torch.no_grad():
        dist = agent.model.policy.get_distribution(torch.as_tensor(policy.normalize_obs(obs)))
        probs = dist.distribution.probs.numpy()
    a = np.arange(probs.shape[1])
    logits = np.maximum(-((a - s0) ** 2) / 8.0, -8.0)  # -(a - S0)^2 / (2 w^2), w = 2, floor -8
    expected = np.exp(logits) / np.exp(logits).sum()
    assert np.abs(probs - expected).max() < 0.02
    agent.close()
    # quantity mode: centred on the mean demand (a constant order of 5)
    q_agent = SB3Agent(parse_env_config(_env(9, 2, mode="quantity")), "ppo", hp, seed=3, torch_threads=1)
    assert (q_agent.policy().predict(obs)[0] == 5).all()
    q_agent.close()


def test_bad_priors_are_policy_errors() -> None:
    cfg = parse_env_config(_env(9, 2))
    for bad in ({"width": 0}, {"width": "wide"}, {"center": 99}, {"shape": 1}, 3):
        with pytest.raises(PolicyError, match="action_prior"):
            SB3Agent(cfg, "ppo", {**SMALL, "action_prior": bad}, torch_threads=1)
    with pytest.raises(PolicyError, match="no action head"):
        SB3Agent(cfg, "dqn", {"action_prior": {"width": 2.0}}, torch_threads=1)


def test_exact_scorer_keeps_the_best_policy_and_stops_after_patience() -> None:
    cfg = parse_env_config(_env(9, 2))
    rng = np.random.default_rng(1)
    obs = np.stack([rng.integers(0, 30, 300), rng.integers(0, 15, 300)], axis=1)
    obs = np.column_stack([obs, obs.sum(axis=1)]).astype(np.float32)
    scores = iter([5.0, 3.0, 4.0, 6.0, 7.0, 1.0])
    seen: list[np.ndarray] = []

    def score(policy) -> float:
        seen.append(policy.predict(obs)[0])
        return next(scores)

    agent = SB3Agent(cfg, "ppo", {**SMALL, "learning_rate": 3e-3}, seed=0, torch_threads=1)
    agent.learn(20 * 256, eval_freq=256, evaluate=score, patience=3)
    # the starting policy scores 5, then 3 (best), then 3 without improvement: stopped before the 1.0
    assert [c for _, c in agent.evaluations] == [5.0, 3.0, 4.0, 6.0, 7.0]
    assert [s for s, _ in agent.evaluations] == [0, 256, 512, 768, 1024]
    assert np.array_equal(agent.policy().predict(obs)[0], seen[1])
    agent.close()


def test_defaults_merge_and_reach_kind_ppo() -> None:
    merged = with_defaults("ppo", {"n_envs": 2, "gamma": 0.9})
    assert (
        merged["n_envs"] == 2
        and merged["gamma"] == 0.9
        and merged["batch_size"] == PPO_DEFAULTS["batch_size"]
    )
    assert with_defaults("dqn", {"n_envs": 2}) == {"n_envs": 2}
    res = train_agent("ppo", _env(9, 1), 64, {"n_envs": 2, "n_steps": 32, "batch_size": 64})
    assert res.agent.hyperparams["action_prior"] == PPO_DEFAULTS["action_prior"]
    assert res.agent.model.gamma == PPO_DEFAULTS["gamma"] and res.agent.n_envs == 2


def test_budget_clocks() -> None:
    assert timer_of("cpu") is time.process_time and timer_of("wall") is time.perf_counter
    with pytest.raises(PolicyError, match="budget clock"):
        timer_of("moon")
    ticks = iter([0.0, 5.0, 10.0])
    clock = WallClock(timer=lambda: next(ticks))
    clock.start(10.0)
    assert clock.remaining() == 0.5 and clock.remaining() == 0.0
