"""``stocklab bench engine``: SKU-periods per second of the batched engine, the SimPy engine and a bare loop.

All three simulate the same instance under the same base-stock policy (order up to ``LEVEL`` on the
inventory position): Poisson(5) demand, lead time 2, lost sales, h = 1, p = 9 (Zipkin's p = 9, L = 2).

* ``batched_shared``: :class:`~stocklab.envs.engines.batched.BatchedEngine` with shared random
  streams (one generator for the batch, demand by the alias sampler): the training/benchmark mode;
* ``batched_exact``: the same engine with per-stocking-point streams, number for number the SimPy
  engine's demand (the evaluation mode); its reset (one pair of generators per stocking point) is
  timed separately in ``reset_exact_s``;
* ``bare``: the dynamics written as a minimal NumPy loop (a ring of pipeline rows, on-hand stock,
  lost sales, the two costs), demand from the same alias sampler in the same blocks: what the
  engine's generality (flows, capacity, backorders, random lead times, observation) costs on top;
* ``simpy``: :class:`~stocklab.envs.engines.simpy_engine.StockPoint`, one stocking point (B SKUs
  cost B times as much).

A SKU-period is one stocking point simulated for one period (policy decision included). Figures are
medians over ``repeats`` interleaved runs, so that machine noise hits every variant alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from stocklab.envs import StockPoint, parse_env_config
from stocklab.envs.config import EnvConfig
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.streams import AliasSampler

#: The benchmark instance: Poisson(5) demand, lead time 2, lost sales, h = 1, p = 9.
BENCH_ENV: dict[str, Any] = {
    "unmet_demand": "lost", "lead_time": 2, "demand": {"dist": "poisson", "mean": 5},
    "costs": {"holding": 1.0, "shortage": 9.0}, "max_order": 30,
}  # fmt: skip
#: Order-up-to level of the base-stock policy (units; the best level of this instance).
LEVEL = 19
#: Batch sizes measured.
SIZES = (1, 64, 1024, 16384)


def periods_for(size: int, work: int) -> int:
    """Periods per measurement: about ``work`` SKU-periods, whole 512-period blocks for large batches."""
    periods = max(200, min(20_000, work // size))
    return max(512, periods - periods % 512) if size >= 1024 else periods


def engine_rate(config: EnvConfig, size: int, periods: int, streams: str, seed: int) -> tuple[float, float]:
    """(SKU-periods/s, reset seconds) of the batched engine under base-stock ``LEVEL``."""
    engine = BatchedEngine(config, size, streams=streams)  # type: ignore[arg-type]
    start = time.perf_counter()
    engine.reset(seed if streams == "shared" else [seed + i for i in range(size)])
    reset = time.perf_counter() - start
    amap = engine.action_map
    start = time.perf_counter()
    for _ in range(periods):
        ip = engine.inventory_position
        engine.step(amap.orders(amap.actions(np.maximum(LEVEL - ip, 0), ip), ip))
    return size * periods / (time.perf_counter() - start), reset


def bare_rate(config: EnvConfig, size: int, periods: int, seed: int) -> float:
    """SKU-periods/s of a minimal NumPy loop of the same dynamics (module docstring)."""
    sampler = AliasSampler(config.demand.pmf())
    rng = np.random.default_rng(seed)
    rows = max(16, min(512, 2**18 // size))
    h, p, top, lead = config.costs.holding, config.costs.shortage, config.max_order, 2
    on_hand = np.zeros(size, dtype=np.int64)
    pipe = np.zeros((lead, size), dtype=np.int64)
    head = 0
    demand = np.empty((rows, size), dtype=np.int64)
    start = time.perf_counter()
    for t in range(periods):
        if t % rows == 0:
            step = max(1, 2**16 // size)
            for r in range(0, rows, step):
                demand[r : r + step] = sampler.sample(rng, demand[r : r + step].shape)
        q = np.minimum(np.maximum(LEVEL - (on_hand + pipe[0] + pipe[1]), 0), top)
        pipe[head - 1] += q  # due in 2 periods: the row after the head
        d = demand[t % rows]
        sold = np.minimum(d, on_hand)
        on_hand = on_hand - sold
        lost = d - sold
        cost = h * on_hand + p * lost
        on_hand = on_hand + pipe[head]
        pipe[head] = 0
        head ^= 1
    del cost
    return size * periods / (time.perf_counter() - start)


def simpy_rate(config: EnvConfig, periods: int, seed: int) -> float:
    """Periods/s of the SimPy engine (one stocking point) under base-stock ``LEVEL``."""
    point = StockPoint(config)
    point.reset(seed)
    top = config.max_order
    start = time.perf_counter()
    for _ in range(periods):
        point.step(min(top, max(0, LEVEL - point.inventory_position)))
    return periods / (time.perf_counter() - start)


def bench_engine(
    sizes: tuple[int, ...] = SIZES, repeats: int = 5, work: int = 2_000_000, seed: int = 0
) -> dict[str, Any]:
    """Median SKU-periods/s of every variant at every batch size (see the module docstring)."""
    config = parse_env_config(BENCH_ENV)
    runs: dict[str, dict[str, list[float]]] = {
        str(b): {"batched_shared": [], "batched_exact": [], "bare": [], "reset_exact_s": []} for b in sizes
    }
    simpy: list[float] = []
    for r in range(repeats):
        for b in sizes:
            n = periods_for(b, work)
            cell = runs[str(b)]
            cell["batched_shared"].append(engine_rate(config, b, n, "shared", seed + r)[0])
            rate, reset = engine_rate(config, b, n, "exact", seed + r)
            cell["batched_exact"].append(rate)
            cell["reset_exact_s"].append(reset)
            cell["bare"].append(bare_rate(config, b, n, seed + r))
        simpy.append(simpy_rate(config, 20_000, seed + r))
    table = {}
    for b, cell in runs.items():
        med = {k: statistics.median(v) for k, v in cell.items()}
        table[b] = {
            **med, "periods": periods_for(int(b), work),
            "shared_vs_bare": med["batched_shared"] / med["bare"],
            "exact_vs_bare": med["batched_exact"] / med["bare"],
            "runs": {k: [round(x, 4) if k.endswith("_s") else round(x) for x in v] for k, v in cell.items()},
        }  # fmt: skip
    return {
        "instance": BENCH_ENV, "policy": f"base_stock level {LEVEL}", "repeats": repeats,
        "sizes": table, "simpy": {"sku_periods_per_s": statistics.median(simpy), "runs": [round(x) for x in simpy]},
    }  # fmt: skip


def bench_ppo(
    env_counts: tuple[int, ...] = (8, 256), steps: int = 32_768, rollout: int = 8192
) -> list[dict[str, Any]]:
    """PPO env steps/s and wall-time split, DummyVecEnv of InventoryEnvs vs BatchedVecEnv.

    Every run collects ``rollout`` env steps per update (n_steps = rollout / n_envs), so the gradient
    work per env step is the same at every size and only the env side differs. Settings otherwise those
    of ``stocklab bench optimality``'s PPO (order-up-to action, gamma 0.95, batch 512, 64x64 network).
    """
    from stocklab.experiments.bench.optimality import AGENTS, instance_config
    from stocklab.experiments.bench.training import profile_training

    config = instance_config("L2", "ppo")
    out = []
    for n in env_counts:
        hp = {**AGENTS["ppo"]["hyperparams"], "n_envs": n, "n_steps": max(1, rollout // n)}
        for kind in ("dummy", "batched"):
            out.append(profile_training(config, hp, steps, vec_env=kind))
    return out
