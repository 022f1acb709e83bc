"""``stocklab bench latency``: decisions per second of exported policies (ONNX PPO, tabular)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stocklab.envs import InventoryEnv, parse_env_config
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.runtime import load_policy

#: The instance the exported policies are trained for: Zipkin's lost sales, p = 9, L = 2.
BENCH_ENV = {"lead_time": 2, "demand": {"dist": "poisson", "mean": 5}, "max_order": 20}


def _states(n: int, seed: int = 0) -> list[dict[str, Any]]:
    env = InventoryEnv(BENCH_ENV)
    env.reset(seed=seed)
    out = []
    for t in range(n):
        out.append(env.state_dict())
        env.step(t % 10)
    return out


def _rate(fn: Any, decisions: int, min_seconds: float = 0.5) -> float:
    """Decisions per second of ``fn`` (which makes ``decisions`` decisions), timed over >= min_seconds."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls * decisions / elapsed


def latency(repeats: int = 5) -> dict[str, Any]:
    """Median decisions/s at batch 1 and batch 1024 for an ONNX PPO and a tabular export."""
    from stocklab.agents.sb3.agent import SB3Agent
    from stocklab.agents.tabular.agent import QLearning

    cfg = parse_env_config(BENCH_ENV)
    ppo = SB3Agent(cfg, algo="ppo", hyperparams={"n_steps": 256, "batch_size": 64}, seed=0)
    ppo.learn(512)
    policies = {"onnx_ppo": ppo.policy(), "tabular": QLearning(cfg, {}, seed=0).learn(20_000)}
    ppo.close()
    states = _states(1024)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, policy in policies.items():
            export_policy(policy, cfg, Path(tmp) / name)
            deployed = load_policy(Path(tmp) / name)
            one = states[0]
            runs1 = [_rate(lambda d=deployed, s=one: d.decide(s), 1) for _ in range(repeats)]
            runs_b = [_rate(lambda d=deployed: d.decide_batch(states), len(states)) for _ in range(repeats)]
            out[name] = {
                "batch_1": {"decisions_per_s": statistics.median(runs1), "runs": [round(r) for r in runs1]},
                "batch_1024": {
                    "decisions_per_s": statistics.median(runs_b),
                    "runs": [round(r) for r in runs_b],
                },
            }
    return out
