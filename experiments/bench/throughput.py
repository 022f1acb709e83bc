"""Benchmarks: throughput of env.step() (``stocklab bench throughput``)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from stocklab.envs import InventoryEnv, parse_env_config

#: The benchmark instance: Poisson(5) demand, lead time 2, lost sales (Zipkin's p = 9 case).
BENCH_ENV = {"unmet_demand": "lost", "lead_time": 2, "demand": {"dist": "poisson", "mean": 5}}


def _time_env(simulation: str, steps: int, seed: int) -> float:
    env = InventoryEnv({**BENCH_ENV, "simulation": simulation})
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 11, size=steps).tolist()
    step = env.step
    start = time.perf_counter()
    for a in actions:
        step(a)
    return steps / (time.perf_counter() - start)


def _time_reference(steps: int, seed: int) -> float:
    """A plain-Python loop of the same dynamics (no SimPy, no gymnasium): the cost of the bare model."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 11, size=steps).tolist()
    demand = rng.poisson(5, size=steps).tolist()
    h, p = 1.0, 9.0
    on_hand, pipeline = 0, [0, 0]
    start = time.perf_counter()
    for a, d in zip(actions, demand):
        pipeline[-1] += a
        sold = d if d <= on_hand else on_hand
        on_hand -= sold
        cost = h * on_hand + p * (d - sold)
        on_hand += pipeline.pop(0)
        pipeline.append(0)
        obs = np.array([on_hand, pipeline[0], on_hand + pipeline[0]], dtype=np.float32)
    del cost, obs
    return steps / (time.perf_counter() - start)


def throughput(steps: int = 20000, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Median env steps per second over ``repeats`` runs for each mode.

    The runs are interleaved so that machine noise hits all modes alike.
    """
    runs: dict[str, list[float]] = {"per_period": [], "per_customer": [], "reference": []}
    parse_env_config(BENCH_ENV)
    for r in range(repeats):
        runs["per_period"].append(_time_env("per_period", steps, seed + r))
        runs["per_customer"].append(_time_env("per_customer", steps, seed + r))
        runs["reference"].append(_time_reference(steps, seed + r))
    return {
        mode: {"steps_per_s": statistics.median(v), "runs": [round(x) for x in v], "steps": steps}
        for mode, v in runs.items()
    }
