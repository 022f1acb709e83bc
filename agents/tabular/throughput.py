"""Throughput of tabular training, split into its two costs: the env and the learning loop.

The training loop of :class:`~stocklab.agents.tabular.agent.TabularAgent` is measured three ways on one
episode: with the real env (what training runs at), with the env alone on the recorded action stream
(env-limited cost) and with the loop alone on the recorded transitions (loop-limited cost, the env
replaced by a replay that returns the recorded outputs).
"""

from __future__ import annotations

import time
from typing import Any

from stocklab.agents.tabular.agent import TabularAgent
from stocklab.envs.inventory_env import InventoryEnv


def tabular_throughput(agent: TabularAgent, steps: int = 100_000, seed: int = 99) -> dict[str, float]:
    """Steps per second of (a) env.step alone, (b) the training loop alone, (c) both.

    Measured on one greedy + epsilon episode of ``steps`` periods with the agent's current table (the
    table is left unchanged).
    """
    config = agent.env_config
    snap, counts = agent.snapshot(), [c[:] for c in agent.counts]
    rng_state = agent._rng.bit_generator.state

    class Recorder:
        def __init__(self) -> None:
            self.env, self.actions, self.outputs = InventoryEnv(config), [], []

        def reset(self, seed: int | None = None) -> Any:
            return self.env.reset(seed=seed)

        def step(self, action: int) -> Any:
            out = self.env.step(action)
            self.actions.append(action)
            self.outputs.append(out)
            return out

    class Replay:
        def __init__(self, first: Any, outputs: list[Any]) -> None:
            self.first, self.outputs, self.i = first, outputs, 0

        def reset(self, seed: int | None = None) -> Any:
            self.i = 0
            return self.first

        def step(self, action: int) -> Any:
            self.i += 1
            return self.outputs[self.i - 1]

    eps = 0.05
    rec = Recorder()
    t0 = time.perf_counter()
    agent._episode(rec, seed, steps, eps, agent._updater())  # type: ignore[arg-type]
    both = steps / (time.perf_counter() - t0)
    env = InventoryEnv(config)
    env.reset(seed=seed)
    step = env.step
    t0 = time.perf_counter()
    for a in rec.actions:
        step(a)
    env_only = steps / (time.perf_counter() - t0)
    agent.restore(snap)
    agent.counts[:] = counts
    agent._rng.bit_generator.state = rng_state
    first = InventoryEnv(config).reset(seed=seed)
    t0 = time.perf_counter()
    agent._episode(Replay(first, rec.outputs), seed, steps, eps, agent._updater())  # type: ignore[arg-type]
    loop_only = steps / (time.perf_counter() - t0)
    agent.restore(snap)
    agent.counts[:] = counts
    agent._rng.bit_generator.state = rng_state
    return {"steps_per_s": both, "env_steps_per_s": env_only, "loop_steps_per_s": loop_only}
