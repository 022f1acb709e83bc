"""``stocklab bench optimality``: how close the learning agents get to the exact optimum.

Each agent trains on Zipkin's (2008) lost-sales instances with Poisson(5) demand, h = 1, p = 9 and
lead times L = 1 and L = 2; its greedy policy is then scored by EXACT policy evaluation (the Markov
chain the policy induces, :func:`stocklab.baselines.exact.solver.evaluate_policy`) against the DP optimum. The
gap is 100 (cost / optimal cost - 1) %. Model selection during training uses simulation only (fixed
evaluation seeds), never the DP.

For tabular agents the record also splits the cost of a training step: ``env_steps_per_s`` is
``InventoryEnv.step`` alone on the agent's own action stream, ``loop_steps_per_s`` the training loop
alone on recorded transitions (the env replaced by a replay), ``steps_per_s`` the two together.
"""

from __future__ import annotations

from typing import Any

from stocklab.agents.factory import train_agent
from stocklab.agents.tabular.agent import TABULAR_AGENTS
from stocklab.agents.tabular.throughput import tabular_throughput
from stocklab.baselines.exact.solver import DPInstance, evaluate_policy, solve_optimal
from stocklab.envs import ConfigError, parse_env_config
from stocklab.envs.config import EnvConfig

#: The benchmark instances (Zipkin 2008, p = 9).
BASE_ENV: dict[str, Any] = {
    "unmet_demand": "lost",
    "demand": {"dist": "poisson", "mean": 5},
    "costs": {"holding": 1.0, "shortage": 9.0},
    "max_order": 20,
    "periods": 1000,
}
INSTANCES: dict[str, dict[str, Any]] = {"L1": {"lead_time": 1}, "L2": {"lead_time": 2}}

#: Agent settings. Tabular: exact states and the agents' defaults (average reward, differential TD).
#: PPO: the order-up-to action (a target inventory position, nearly constant near the optimum) and
#: gamma = 0.95: on these instances the 0.95-discounted optimal policy is within 0.001 % of the
#: average-cost optimum (checked by DP), and the shorter horizon cuts the variance of the advantages
#: (gamma 0.99 plateaued near 6.5 % in our runs, 0.95 near 1.8 %).
AGENTS: dict[str, dict[str, Any]] = {
    "q_learning": {"env": {}, "hyperparams": {}},
    "sarsa": {"env": {}, "hyperparams": {}},
    "ppo": {
        "env": {"action": {"mode": "order_up_to", "max_level": 30}},
        "hyperparams": {
            "n_envs": 8,
            "n_steps": 256,
            "batch_size": 512,
            "gamma": 0.95,
            "gae_lambda": 0.9,
            "learning_rate": "lin_3e-4",
            "policy_kwargs": {"net_arch": [64, 64]},
        },  # fmt: skip
    },
}
#: Other SB3 algorithms (a2c, dqn): PPO's action mode and discount, the algorithm's defaults otherwise.
OTHER_SB3: dict[str, Any] = {"env": AGENTS["ppo"]["env"], "hyperparams": {"n_envs": 8, "gamma": 0.95}}
#: Default training budgets: env steps for tabular agents; SB3 agents stop at their time limit.
DEFAULT_STEPS = 5_000_000
SB3_STEP_CAP = 50_000_000


def instance_config(instance: str, agent: str) -> EnvConfig:
    """The env config of ``instance`` as ``agent`` sees it (its action mode)."""
    settings = AGENTS.get(agent, {} if agent in TABULAR_AGENTS else OTHER_SB3)
    return parse_env_config({**BASE_ENV, **INSTANCES[instance], **settings.get("env", {})})


def run_optimality(
    agents: list[str],
    steps: int = DEFAULT_STEPS,
    ppo_minutes: float = 20.0,
    instances: list[str] | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    throughput_steps: int = 100_000,
) -> list[dict[str, Any]]:
    """Train every agent on every instance and score it exactly; one record per (agent, instance).

    Tabular agents train ``steps`` env steps; SB3 agents (``ppo``, ``a2c``, ``dqn``) train for
    ``ppo_minutes`` minutes of wall time. Records: agent, instance, optimal_cost, cost (money per
    period), gap_pct, steps, seconds, plus throughput figures for tabular agents (measured on one
    episode of ``throughput_steps`` periods after training).
    """
    for name in agents:
        if name not in AGENTS and name not in ("a2c", "dqn"):
            raise ConfigError(
                f"bench optimality: unknown agent '{name}'; allowed: {', '.join([*AGENTS, 'a2c', 'dqn'])}"
            )
    chosen = instances or list(INSTANCES)
    for inst_name in chosen:
        if inst_name not in INSTANCES:
            raise ConfigError(
                f"bench optimality: unknown instance '{inst_name}'; allowed: {', '.join(INSTANCES)}"
            )
    records = []
    for inst_name in chosen:
        for name in agents:
            config = instance_config(inst_name, name)
            inst = DPInstance.from_config(config)
            optimal = solve_optimal(inst).cost
            tabular = name in TABULAR_AGENTS
            settings = AGENTS.get(name, OTHER_SB3)
            result = train_agent(
                name, config, steps if tabular else SB3_STEP_CAP, settings["hyperparams"], seed=seed,
                eval_every=500_000 if tabular else 100_000, episodes=4, periods=2000,
                max_seconds=None if tabular else 60.0 * ppo_minutes, progress_bar=progress_bar,
            )  # fmt: skip
            cost = evaluate_policy(inst, result.policy)
            record = {
                "agent": name, "instance": inst_name, "optimal_cost": optimal, "cost": cost,
                "gap_pct": 100.0 * (cost / optimal - 1.0), "steps": result.steps, "seconds": result.seconds,
            }  # fmt: skip
            if tabular:
                record.update(tabular_throughput(result.agent, throughput_steps))
            records.append(record)
    return records
