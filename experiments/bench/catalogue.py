"""``stocklab bench catalogue``: catalogue evaluation throughput (SKU-periods/s) on the batched engine.

A synthetic stationary catalogue of ``skus`` SKUs (Poisson demand with means spread log-uniformly
over 1 .. 50 units per period, lead times 1 .. 3, lost sales, h = 1, p = 9) sharing a warehouse sized
at 80% of what the SKUs' base-stock levels would hold (so the pro-rata rule works every period) is
evaluated under per-SKU base-stock (levels: the newsvendor quantile of the lead-time demand) through
the same loop ``stocklab run`` uses (:func:`~stocklab.experiments.run.catalogue.evaluate.run_episode`:
observation, policy, shared limits, per-SKU accounting). Figures are medians over ``repeats`` runs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def synthetic_catalogue(skus: int, seed: int = 0, capacity_share: float = 0.8) -> Any:
    """The benchmark's catalogue (module docstring)."""
    from stocklab.envs.catalogue.build import build_catalogue

    rng = np.random.default_rng(seed)
    means = np.exp(rng.uniform(0.0, np.log(50.0), skus))
    leads = rng.integers(1, 4, skus)
    entries = [
        {"sku": f"S{i:05d}", "demand": {"dist": "poisson", "mean": float(round(m, 3))}, "lead_time": int(L)}
        for i, (m, L) in enumerate(zip(means, leads))
    ]
    held = float(np.sum(means * 1.5 + 2.0 * np.sqrt(means)))  # about the base-stock stock after arrivals
    section = {"skus": entries, "shared": {"capacity": {"limit": capacity_share * held, "rule": "pro_rata"}}}
    env = {"unmet_demand": "lost", "costs": {"holding": 1.0, "shortage": 9.0}, "max_order": 1000}
    return build_catalogue(section, env)


def bench_catalogue(skus: int = 1000, periods: int = 500, repeats: int = 3) -> dict[str, Any]:
    """SKU-periods/s of per-SKU base-stock on a ``skus``-SKU catalogue (median of ``repeats`` runs)."""
    from stocklab.experiments.run.catalogue.evaluate import run_episode
    from stocklab.experiments.run.catalogue.policies import newsvendor

    t0 = time.perf_counter()
    catalogue = synthetic_catalogue(skus)
    policy = newsvendor(catalogue, "base_stock")
    build = time.perf_counter() - t0
    rates, refused = [], 0.0
    for r in range(repeats):
        t = time.perf_counter()
        ep = run_episode(catalogue, policy, seed=r + 1, periods=periods, warmup=0)
        rates.append(skus * ep.periods / (time.perf_counter() - t))
        refused = float(ep.totals["refused"].mean())
    return {
        "skus": skus, "periods": periods, "repeats": repeats, "policy": "per-SKU base-stock",
        "shared": "capacity, pro_rata", "sku_periods_per_s": statistics.median(rates),
        "runs": rates, "build_seconds": build, "refused_per_period": refused,
    }  # fmt: skip
