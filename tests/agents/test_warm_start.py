"""PPO's warm start: the tuned capped rule, its improvement by rollouts, and the network fitted to it.

Every quality figure is the exact long-run cost of the policy (the DP's policy evaluation), against
the exactly tuned capped base-stock policy and the DP optimum: numbers the warm start never sees.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stocklab.agents.factory import train_agent
from stocklab.agents.sb3.teacher import CappedRule, tune_capped_rule
from stocklab.agents.sb3.warm_start import WarmSpec, improved_actions, refusal, rule_rollout
from stocklab.baselines.exact.solver import DPInstance, evaluate_policy, solve_optimal
from stocklab.envs import PolicyError, parse_env_config
from stocklab.experiments.bench.optimality import instance_config
from stocklab.experiments.bench.zipkin import classic_results, instance_env


@pytest.fixture(scope="module")
def p9l2():
    """Zipkin's p 9, L 2 in order-up-to mode, its DP instance, optimum and exactly tuned capped policy."""
    config = instance_config("p9L2", "ppo")
    inst = DPInstance.from_config(config)
    capped = next(
        r
        for r in classic_results(DPInstance.from_config(instance_env("p9L2")))
        if r.kind == "capped_base_stock"
    )
    return config, inst, solve_optimal(inst).cost, capped.cost


def rule_policy(rule: CappedRule, config) -> object:
    n = config.action.max_level + 1
    return lambda obs: int(rule.actions(np.array([obs[-1]]), "order_up_to", n)[0])


def test_the_rule_tuned_by_simulation_is_near_the_exactly_tuned_one(p9l2):
    config, inst, _, capped = p9l2
    rule, simulated = tune_capped_rule(config, seed=0)
    exact = evaluate_policy(inst, rule_policy(rule, config))
    assert exact <= capped * 1.003  # within 0.3 % of the best capped rule found by exact evaluation
    assert abs(simulated / exact - 1) < 0.02  # its simulated cost estimates the exact one


def test_rollouts_improve_on_the_rule(p9l2):
    """One step of policy improvement, as a table over the states the rule visits (the rule elsewhere)."""
    config, inst, optimum, capped = p9l2
    rule = CappedRule(19, 6)  # the exactly tuned capped policy of p 9, L 2 (0.42 % above the optimum)
    rollout = rule_rollout(config, rule, 32, 640, seed=1)
    actions, changed = improved_actions(config, rule, rollout, WarmSpec(), seed=2)
    raw = np.rint(rollout.obs.reshape(-1, rollout.obs.shape[-1])).astype(int)
    table = {tuple(r): a for r, a in zip(raw.tolist(), actions.tolist(), strict=True)}
    fallback = rule_policy(rule, config)

    def improved(obs):
        return int(table.get(tuple(np.rint(obs).astype(int).tolist()), fallback(obs)))

    base = evaluate_policy(inst, fallback)
    assert base == pytest.approx(capped, rel=1e-9)
    better = evaluate_policy(inst, improved)
    assert changed > 0
    assert optimum <= better < base  # the policy improvement theorem, up to the rollouts' noise


def test_the_fitted_network_starts_near_the_improved_rule(p9l2):
    config, inst, optimum, capped = p9l2
    costs = []
    result = train_agent(
        "ppo", config, 64, {"warm_start": {"min_steps": 0}}, seed=0, eval_every=10**9,
        evaluate=lambda policy: costs.append(evaluate_policy(inst, policy)) or costs[-1],
    )  # fmt: skip
    info = result.agent.warm_info
    assert info["level"] == 19 and info["states_improved"] > 0 and info["imitation_rate"] > 0.9
    assert costs[0] < capped  # the policy before any PPO update already beats the best capped rule


def test_the_warm_start_is_deterministic(p9l2):
    config = p9l2[0]
    small = {"min_steps": 0, "paths": 64, "states": 50, "epochs": 2}
    nets = []
    for _ in range(2):
        agent = train_agent(
            "ppo", config, 64, {"warm_start": small, "n_envs": 4, "n_steps": 16}, seed=3
        ).agent
        nets.append(agent.model.policy.state_dict())
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])


def test_short_trainings_and_other_configs_skip_the_warm_start(p9l2):
    config = p9l2[0]
    agent = train_agent("ppo", config, 64, {"n_envs": 4, "n_steps": 16}, seed=0).agent  # below min_steps
    assert agent.warm_info is None
    random_lead = parse_env_config(
        {
            **config.model_dump(mode="json", by_alias=True),
            "lead_time": {"dist": "discrete", "values": [1, 2], "probs": [0.5, 0.5]},
        }
    )
    assert refusal(random_lead) == "env.lead_time: random"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"widht": 1}, "warm_start.widht: unknown"),
        ({"paths": 0}, "warm_start.paths: 0"),
        ({"epochs": 2.5}, "whole number"),
        ({"width": True}, "warm_start.width"),
        ([1], "expected a mapping"),
    ],
)
def test_bad_warm_start_settings_are_named(spec, message):
    with pytest.raises(PolicyError, match=message):
        WarmSpec.parse(spec)
