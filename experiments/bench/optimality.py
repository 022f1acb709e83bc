"""``stocklab bench optimality``: how close the learning agents get to the exact optimum.

Every agent trains on Zipkin's (2008) lost-sales instances (:mod:`stocklab.experiments.bench.zipkin`:
Poisson(5) demand, h = 1, p in {4, 9, 19, 39}, L in {1, 2, 3, 4}) with the defaults a user gets from
its ``kind`` and one fixed budget per agent and instance: ``minutes`` (SB3 agents) or ``steps`` env
steps within ``minutes`` (tabular agents), minutes of wall time or, with ``clock="cpu"``, of the
process's CPU time (what the run takes on a core of its own when other jobs share the machine). Its policy is then scored by EXACT policy
evaluation (the Markov chain the policy induces,
:func:`stocklab.baselines.exact.solver.evaluate_policy`) against the DP optimum; the gap is
100 (cost / optimal cost - 1) %. The best tuned classic policies (base-stock, capped base-stock,
tuned exactly) are in the same table.

Model selection: the starting policy (PPO's warm start) and then, every ``eval_every`` env steps,
the greedy policy are scored by the same exact evaluation and the best one is kept. The figure reported is the exact cost of the policy kept, so
the selection adds no optimism (there is no noise to be lucky with).

PPO and the tabular agents act in the instance's order-up-to mode (``action.max_level`` =
10 (L + 1) + 5, far above the optimum's targets); the tabular agents in quantity mode over exact
states. Instances run in ``jobs`` processes at once (spawned, one torch thread each).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from stocklab.agents.factory import train_agent
from stocklab.agents.sb3.defaults import PPO_DEFAULTS
from stocklab.agents.tabular.agent import TABULAR_AGENTS
from stocklab.agents.tabular.throughput import tabular_throughput
from stocklab.baselines.exact.solver import DPInstance, evaluate_policy, solve_optimal
from stocklab.envs import ConfigError
from stocklab.envs.config import EnvConfig
from stocklab.experiments.bench.zipkin import (
    ALIASES,
    ALL,
    classic_results,
    instance_env,
    parse_instances,
    penalty_and_lead,
)

#: Agents the benchmark knows.
SB3_AGENTS = ("ppo", "a2c", "dqn")
KNOWN_AGENTS = ("q_learning", "sarsa", *SB3_AGENTS)
#: Agent settings beyond their kind's defaults (none: the benchmark measures the defaults). ``ppo``'s
#: hyper-parameters are listed for ``stocklab bench engine``, which profiles them.
AGENTS: dict[str, dict[str, Any]] = {
    "q_learning": {"hyperparams": {}},
    "sarsa": {"hyperparams": {}},
    "ppo": {"hyperparams": dict(PPO_DEFAULTS)},
}
#: Default budget per agent and instance.
DEFAULT_STEPS = 5_000_000
DEFAULT_MINUTES = 15.0
#: Step cap of SB3 agents (they stop at their wall-time limit first).
SB3_STEP_CAP = 500_000_000
#: Exact evaluations per tabular training run.
TABULAR_EVALS = 10


def order_up_to_action(lead: int) -> dict[str, Any]:
    """The order-up-to action section of an instance with lead time ``lead`` (max_level 10 (L + 1) + 5)."""
    return {"mode": "order_up_to", "max_level": 10 * (lead + 1) + 5}


def instance_config(instance: str, agent: str) -> EnvConfig:
    """The env config of ``instance`` as ``agent`` sees it (SB3 agents: the order-up-to action)."""
    _, lead = penalty_and_lead(ALIASES.get(instance, instance))
    return instance_env(instance, None if agent in TABULAR_AGENTS else order_up_to_action(lead))


def sb3_eval_every(inst: DPInstance) -> int:
    """Env steps between two exact evaluations of an SB3 agent: the larger the chain, the rarer."""
    return int(min(50_000, max(10_000, inst.n_states // 2)))


def check_agents(agents: list[str]) -> None:
    """ConfigError for an agent name the benchmark does not know."""
    for name in agents:
        if name not in KNOWN_AGENTS:
            raise ConfigError(f"bench optimality: unknown agent '{name}'; allowed: {', '.join(KNOWN_AGENTS)}")


def run_instance(
    instance: str,
    agents: list[str],
    steps: int = DEFAULT_STEPS,
    minutes: float = DEFAULT_MINUTES,
    seed: int = 0,
    throughput_steps: int = 0,
    classic: bool = True,
    clock: str = "wall",
    sb3_steps: int | None = None,
) -> list[dict[str, Any]]:
    """The records of one instance: the tuned classic policies, then one per agent."""
    base = DPInstance.from_config(instance_env(instance))
    optimal = solve_optimal(base).cost
    records: list[dict[str, Any]] = []
    if classic:
        start = time.perf_counter()
        for res in classic_results(base):
            records.append(
                _record(res.kind, "classic", instance, optimal, res.cost, seconds=time.perf_counter() - start)
                | {"params": res.params, "budget": "exact tuning", "evaluations": res.evaluations}
            )
    for name in agents:
        record, _ = train_and_score(
            name, instance, steps, minutes, seed, clock, throughput_steps, optimal, sb3_steps
        )
        records.append(record)
    return records


def train_and_score(
    name: str,
    instance: str,
    steps: int = DEFAULT_STEPS,
    minutes: float = DEFAULT_MINUTES,
    seed: int = 0,
    clock: str = "wall",
    throughput_steps: int = 0,
    optimal: float | None = None,
    sb3_steps: int | None = None,
    eval_every: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """Train agent ``name`` on ``instance`` within its budget, keep its exactly best policy, score it.

    Returns the record and the policy kept (``optimal``: the instance's optimum if already solved).
    SB3 agents stop at ``minutes`` or after ``sb3_steps`` env steps (None: the time limit alone).
    ``eval_every``: env steps between exact evaluations (default: ``steps`` / 10 for tabular agents,
    :func:`sb3_eval_every` for SB3 agents).
    The record's ``curve`` is the learning curve against time: [env steps, seconds since training
    started (on ``clock``), exact gap %] at every exact evaluation.
    """
    config = instance_config(instance, name)
    inst = DPInstance.from_config(config)
    if optimal is None:
        optimal = solve_optimal(DPInstance.from_config(instance_env(instance))).cost
    tabular = name in TABULAR_AGENTS
    timer = time.process_time if clock == "cpu" else time.perf_counter
    cpu, start, stamps = time.process_time(), timer(), []

    def score(policy: Any) -> float:
        cost = float(evaluate_policy(inst, policy))
        stamps.append(timer() - start)
        return cost

    result = train_agent(
        name, config, steps if tabular else sb3_steps or SB3_STEP_CAP, AGENTS.get(name, {}).get("hyperparams", {}),
        seed=seed, eval_every=eval_every or (max(steps // TABULAR_EVALS, 1) if tabular else sb3_eval_every(inst)),
        evaluate=score, max_seconds=60.0 * minutes, clock=clock,
    )  # fmt: skip
    cpu = time.process_time() - cpu
    cost = float(evaluate_policy(inst, result.policy))
    record = _record(
        name, "agent", ALIASES.get(instance, instance), optimal, cost, seconds=result.seconds
    ) | {
        "steps": result.steps,
        "budget": {"minutes": minutes, "clock": clock, "steps": steps if tabular else None},
        "cpu_seconds": cpu,
        "steps_per_s": result.steps / max(result.seconds, 1e-9),
        "evaluations": [[s, round(100.0 * (c / optimal - 1.0), 6)] for s, c in result.evaluations],
        "curve": [
            [s, round(t, 3), round(100.0 * (c / optimal - 1.0), 6)]
            for (s, c), t in zip(result.evaluations, stamps, strict=False)
        ],
    }
    if tabular and throughput_steps:
        record.update(tabular_throughput(result.agent, throughput_steps))
    return record, result.policy


def _record(
    policy: str, family: str, instance: str, optimal: float, cost: float, seconds: float
) -> dict[str, Any]:
    p, lead = penalty_and_lead(instance)
    return {
        "agent": policy, "family": family, "instance": instance, "p": p, "L": lead, "optimal_cost": optimal,
        "cost": cost, "gap_pct": 100.0 * (cost / optimal - 1.0), "seconds": seconds,
    }  # fmt: skip


def run_optimality(
    agents: list[str],
    steps: int = DEFAULT_STEPS,
    minutes: float = DEFAULT_MINUTES,
    instances: list[str] | None = None,
    seed: int = 0,
    throughput_steps: int = 0,
    jobs: int = 1,
    classic: bool = True,
    clock: str = "wall",
    on_done: Callable[[str], None] | None = None,
    sb3_steps: int | None = None,
) -> list[dict[str, Any]]:
    """Records of every instance (classic policies and agents), instances in ``jobs`` processes at once.

    ``instances`` are names (``p9L2``; old ``L1``/``L2``; default the first version's two). Records:
    agent, family (``classic`` or ``agent``), instance, p, L, optimal_cost, cost (money per period),
    gap_pct, seconds (wall); agents also cpu_seconds (this process's CPU time in training), steps,
    budget {minutes, clock, steps}, steps_per_s and the learning curve
    ``evaluations`` ([env steps, exact gap %]); classic policies their params. ``on_done(instance)``
    is called as each instance finishes.
    """
    check_agents(agents)
    chosen = parse_instances(",".join(instances)) if instances else [ALIASES["L1"], ALIASES["L2"]]
    if jobs < 1:
        raise ConfigError(f"bench optimality: --jobs (={jobs}) must be >= 1")
    if clock not in ("wall", "cpu"):
        raise ConfigError(f"bench optimality: --clock {clock!r}; allowed: wall, cpu")
    args = (agents, steps, minutes, seed, throughput_steps, classic, clock, sb3_steps)
    by_instance: dict[str, list[dict[str, Any]]] = {}
    if jobs == 1 or len(chosen) == 1:
        for name in chosen:
            by_instance[name] = run_instance(name, *args)
            if on_done is not None:
                on_done(name)
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(chosen)), mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_instance, name, *args): name for name in chosen}
            for fut in as_completed(futures):
                by_instance[futures[fut]] = fut.result()
                if on_done is not None:
                    on_done(futures[fut])
    return [r for name in chosen for r in by_instance[name]]


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per instance: the best learned and the best classic policy, and whether the learned one wins."""
    out = []
    for name in dict.fromkeys(r["instance"] for r in records):
        rows = [r for r in records if r["instance"] == name]
        learned = [r for r in rows if r["family"] == "agent"]
        classic = [r for r in rows if r["family"] == "classic"]
        best_l = min(learned, key=lambda r: r["cost"]) if learned else None
        best_c = min(classic, key=lambda r: r["cost"]) if classic else None
        out.append({
            "instance": name,
            "best_learned": best_l["agent"] if best_l else None,
            "best_learned_gap_pct": best_l["gap_pct"] if best_l else None,
            "best_classic": best_c["agent"] if best_c else None,
            "best_classic_gap_pct": best_c["gap_pct"] if best_c else None,
            "learned_beats_classic": bool(best_l and best_c and best_l["cost"] < best_c["cost"]),
        })  # fmt: skip
    return out


__all__ = [
    "AGENTS", "ALL", "instance_config", "run_instance", "run_optimality", "summarise", "train_and_score",
]  # fmt: skip
