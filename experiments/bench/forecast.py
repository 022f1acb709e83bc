"""Benchmarks of the demand side (``stocklab bench forecast``).

The env.step() throughput of a forecast-fed env, and the time to fit a forecaster on every series of
a sales history.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from stocklab.envs import InventoryEnv, parse_env_config
from stocklab.envs.forecast.base import make_forecaster
from stocklab.envs.sales.history import load_history

#: The benchmark instance: ETS-fed demand on the shipped demo's seasonal SKU (mean ~40 units per
#: month), lead time 2, lost sales, a 6-period forecast in the observation.
BENCH_FORECAST_ENV: dict[str, Any] = {
    "unmet_demand": "lost",
    "lead_time": 2,
    "max_order": 100,
    "demand": {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "ets"},
    "observation": {"information": "forecast", "forecast_horizon": 6},
}


def _time_env(config: dict[str, Any], steps: int, seed: int) -> float:
    env = InventoryEnv(config)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 80, size=steps).tolist()
    step = env.step
    start = time.perf_counter()
    for a in actions:
        step(a)
    return steps / (time.perf_counter() - start)


def forecast_env_throughput(steps: int = 20000, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
    """Median env.step() per second of the forecast-fed env for each ``information`` setting.

    The forecaster is fitted once, when the config is parsed, and not timed.
    """
    configs = {
        info: parse_env_config(
            {**BENCH_FORECAST_ENV, "observation": {"information": info, "forecast_horizon": 6}}
        )
        for info in ("none", "forecast", "oracle_mean")
    }
    runs: dict[str, list[float]] = {info: [] for info in configs}
    for r in range(repeats):
        for info, cfg in configs.items():
            runs[info].append(_time_env(cfg, steps, seed + r))  # type: ignore[arg-type]
    return {
        info: {"steps_per_s": statistics.median(v), "runs": [round(x) for x in v], "steps": steps}
        for info, v in runs.items()
    }


def fit_all(model: str = "ets", source: str = "m3", limit: int | None = None) -> dict[str, Any]:
    """Wall-clock time to fit ``model`` on every SKU's whole series of ``source`` (no cache)."""
    history = load_history(source)
    skus = history.skus()[:limit] if limit else history.skus()
    failures: list[str] = []
    start = time.perf_counter()
    for sku in skus:
        try:
            make_forecaster(model, history.season).fit(history.series(sku).to_numpy(dtype=float))
        except ValueError:
            failures.append(sku)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "source": source,
        "series": len(skus),
        "seconds": seconds,
        "seconds_per_series": seconds / max(len(skus), 1),
        "failures": failures,
    }


def holdout_accuracy(
    models: list[str], source: str = "m3", limit: int | None = None, horizon: int = 18
) -> dict[str, Any]:
    """Forecast accuracy and fitting time of each model by the M3 protocol.

    Fit each model on all but the last ``horizon`` periods of every series and forecast those; per
    model the mean MASE, sMAPE and MAE over the series, and the fitting time.
    """
    from stocklab.envs.forecast.backtest import rolling_origin

    history = load_history(source)
    skus = history.skus()[:limit] if limit else history.skus()
    out: dict[str, Any] = {"source": source, "series": len(skus), "horizon": horizon, "models": {}}
    for model in models:
        rows, start = [], time.perf_counter()
        for sku in skus:
            y = history.series(sku).to_numpy(dtype=float)
            rows.append(rolling_origin(y, model, horizon, season=history.season, origins=1).metrics)
        out["models"][model] = {
            "mase": float(np.mean([r["mase"] for r in rows])),
            "smape": float(np.mean([r["smape"] for r in rows])),
            "mae": float(np.mean([r["mae"] for r in rows])),
            "seconds": time.perf_counter() - start,
        }
    return out
