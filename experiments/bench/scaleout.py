"""``stocklab bench scaleout``: what Ray costs per unit, and a synthetic catalogue sharded into Ray tasks.

* ``overhead``: wall time per unit of ``units`` empty units (a function that returns at once) on the
  local process pool (:class:`~stocklab.experiments.run.executors.LocalExecutor`, 2 workers) and on
  a local Ray cluster (:class:`~stocklab.experiments.run.ray_executor.RayExecutor`), after one
  warm-up round each; medians over ``repeats`` interleaved rounds.
* ``catalogue``: a synthetic catalogue (:mod:`stocklab.envs.sales.synth`, two years per SKU) whose
  first year sets each SKU's base-stock level and whose second year is replayed as demand for
  ``days`` days in the batched engine (lead time 2, backorders, h = 1, p = 9), ``shard`` SKUs per
  Ray task. Each shard's demand goes through the object store (``ray.put``) once. Reported: wall
  time from submitting the shards to the last result, SKU-days/s, the median per-shard compute time,
  and the time 100 cores would need on paper (the shards' total compute / 100, smaller shards).

* ``sweep``: a sweep of ``runs`` PPO trainings (seeds 1..runs, ``steps`` env steps each, on a
  Poisson-5 lost-sales instance with L = 1) run by ``stocklab run --executor ray`` on a local Ray
  cluster of 1 CPU and then of 2, the two alternating over ``repeats`` rounds; reported: the median
  wall time of each and their ratio (the speed-up from 1 to 2 workers).

Base-stock level per SKU (units): S = ceil(mean (L + 1) + z sd sqrt(L + 1)), z = Phi^-1(p / (p + h))
= Phi^-1(0.9), from the first year's daily mean and standard deviation (the normal approximation of
the newsvendor fractile over the protection interval L + 1; Zipkin 2000, ch. 6).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.sales.synth import blocks
from stocklab.experiments.run.executors import LocalExecutor
from stocklab.experiments.run.progress import ProgressBoard
from stocklab.experiments.run.ray_executor import RayExecutor, connect

LEAD, HOLDING, SHORTAGE = 2, 1.0, 9.0
Z90 = 1.2815515655446004  # Phi^-1(0.9)


def empty_unit(i: int, progress: Any = None) -> int:
    """A unit that does nothing: what is left of its wall time is the executor's overhead."""
    return i


def _round(executor: Any, units: int) -> float:
    t0 = time.perf_counter()
    futures = [executor.submit(("eval", str(i)), empty_unit, i) for i in range(units)]
    for f in futures:
        f.result()
    return (time.perf_counter() - t0) / units


def overhead(units: int = 100, repeats: int = 5, cpus: int = 2) -> dict[str, Any]:
    """Seconds per empty unit on the process pool and on Ray (medians of interleaved rounds)."""
    connect(num_cpus=cpus)
    board = ProgressBoard(enabled=False)
    pool, ray_ex = LocalExecutor(cpus, board), RayExecutor(board)
    try:
        _round(pool, cpus * 2), _round(ray_ex, cpus * 2)  # warm-up: workers started and imported
        local, remote = [], []
        for _ in range(repeats):
            local.append(_round(pool, units))
            remote.append(_round(ray_ex, units))
    finally:
        pool.shutdown()
    return {
        "units": units, "repeats": repeats, "cpus": cpus,
        "process_pool_ms_per_unit": round(1e3 * statistics.median(local), 3),
        "ray_ms_per_unit": round(1e3 * statistics.median(remote), 3),
        "rounds_ms": {"process_pool": [round(1e3 * x, 3) for x in local],
                      "ray": [round(1e3 * x, 3) for x in remote]},
    }  # fmt: skip


def base_stock_levels(history: np.ndarray) -> np.ndarray:
    """Per-SKU order-up-to levels (units) from a (SKUs, days) history (module docstring)."""
    mean, sd = history.mean(axis=1), history.std(axis=1)
    return np.ceil(mean * (LEAD + 1) + Z90 * sd * math.sqrt(LEAD + 1)).astype(np.int64)


def simulate_shard(demand: np.ndarray, levels: np.ndarray, progress: Any = None) -> dict[str, Any]:
    """Replay ``demand`` (SKUs, days) under base-stock ``levels`` in one batched engine.

    Returns the total cost per SKU (money over the horizon) and the seconds spent.
    """
    t0 = time.perf_counter()
    configs = [
        {"lead_time": LEAD, "unmet_demand": "backorder", "costs": {"holding": HOLDING, "shortage": SHORTAGE},
         "initial": {"on_hand": int(s)}, "demand": {"dist": "replay", "values": row.tolist(), "at_end": "stop"}}
        for row, s in zip(demand, levels)
    ]  # fmt: skip
    engine = BatchedEngine(configs, streams="shared")  # replayed demand draws no random numbers
    engine.reset(0)
    cost = np.zeros(len(levels))
    for _ in range(demand.shape[1]):
        flows = engine.step(np.maximum(levels - engine.inventory_position, 0))
        cost += flows.holding_cost + flows.shortage_cost
    return {"cost": cost, "seconds": time.perf_counter() - t0}


def catalogue(
    skus: int = 10_000, days: int = 365, shard: int = 1000, seed: int = 0, cpus: int = 2
) -> dict[str, Any]:
    """Evaluate a synthetic catalogue under per-SKU base-stock on a local Ray cluster (module docstring)."""
    ray = connect(num_cpus=cpus)
    t0 = time.perf_counter()
    q = np.concatenate([b.quantity for b in blocks(skus, seed, days=365 + days)])
    generate = time.perf_counter() - t0
    levels, demand = base_stock_levels(q[:, :365]), q[:, 365:]
    task = ray.remote(num_cpus=1)(simulate_shard)
    t1 = time.perf_counter()
    refs = [task.remote(ray.put(demand[i : i + shard]), levels[i : i + shard]) for i in range(0, skus, shard)]
    results = ray.get(refs)
    wall = time.perf_counter() - t1
    per_shard = statistics.median(r["seconds"] for r in results)
    cost = np.concatenate([r["cost"] for r in results])
    return {
        "skus": skus, "days": days, "shard": shard, "shards": len(refs), "cpus": cpus,
        "generate_seconds": round(generate, 3), "wall_seconds": round(wall, 3),
        "sku_days_per_s": round(skus * days / wall), "median_shard_seconds": round(per_shard, 3),
        "mean_cost_per_sku_day": round(float(cost.sum() / (skus * days)), 4),
        "on_100_cores_seconds": round(len(refs) * per_shard / 100, 3),
    }  # fmt: skip


def _ppo_sweep(runs: int, steps: int) -> dict[str, Any]:
    """The sweep config of :func:`sweep_speedup`: ``runs`` PPO trainings that differ by their seed."""
    return {
        "name": "ppo_sweep",
        "env": {"demand": {"dist": "poisson", "mean": 5}, "costs": {"holding": 1, "shortage": 9},
                "lead_time": 1, "unmet_demand": "lost", "periods": 500},
        "policies": [{"name": "ppo", "kind": "ppo", "train": {"steps": steps}}],
        "evaluation": {"episodes": 4, "periods": 500},
        "sweep": {"seed": list(range(1, runs + 1))},
    }  # fmt: skip


def sweep_speedup(runs: int = 8, steps: int = 30_000, repeats: int = 1) -> dict[str, Any]:
    """Median wall time of a sweep of ``runs`` PPO trainings on Ray with 1 and with 2 CPUs, and the ratio."""
    import ray
    import yaml

    from stocklab.experiments.run.runner import RunOptions
    from stocklab.experiments.run.sweep import run_sweep

    seconds: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sweep.yaml"
        config.write_text(yaml.safe_dump(_ppo_sweep(runs, steps)))
        for r in range(repeats):
            for cpus in (1, 2):
                ray.shutdown()  # a fresh local cluster of ``cpus`` CPUs each time
                connect(num_cpus=cpus)
                opts = RunOptions(out=Path(tmp) / f"r{r}c{cpus}", executor="ray", cpus=cpus, progress=False)
                t0 = time.perf_counter()
                run_sweep(config, None, opts)
                seconds[cpus].append(time.perf_counter() - t0)
        ray.shutdown()
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    return {
        "runs": runs, "steps": steps, "repeats": repeats,
        "one_cpu_seconds": round(one, 2), "two_cpus_seconds": round(two, 2), "speedup": round(one / two, 3),
        "rounds_seconds": {"1": [round(x, 2) for x in seconds[1]], "2": [round(x, 2) for x in seconds[2]]},
    }  # fmt: skip
