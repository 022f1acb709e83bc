"""Benchmarks of the demand side (``stocklab bench forecast``).

env.step() throughput of a forecast-fed env, the time to fit a forecaster on every series of a sales history, and the accuracy
of forecasters on the M3 hold-out protocol (the last 18 months of each of the 474 monthly MICRO
series held out; MASE scaled by the in-sample seasonal naive MAE, averaged over the series).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from stocklab.envs import InventoryEnv, parse_env_config
from stocklab.envs.forecast.backtest import naive_scale
from stocklab.envs.forecast.base import DEFAULT_FORECASTER, Forecaster
from stocklab.envs.forecast.panel import fit_panel
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


def _bar(total: int, desc: str) -> Any:
    """A tqdm progress bar on stderr with an ETA, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="series", file=sys.stderr, disable=not sys.stderr.isatty())


def _fit(
    model: str, ys: list[np.ndarray], season: int, jobs: int, desc: str
) -> tuple[list[Forecaster], float]:
    """Fit ``model`` to every series with a progress bar; returns the fits and the wall seconds."""
    with _bar(len(ys), desc) as bar:
        start = time.perf_counter()
        fits = fit_panel(model, ys, season, jobs=jobs, progress=lambda done, _: bar.update(done - bar.n))
        return fits, time.perf_counter() - start


def fit_all(
    model: str = DEFAULT_FORECASTER,
    source: str = "m3",
    limit: int | None = None,
    jobs: int = 2,
    horizon: int = 18,
) -> dict[str, Any]:
    """Wall-clock time to fit ``model`` on every SKU's whole series of ``source`` and forecast.

    ``horizon`` periods are forecast; no cache; ``jobs`` worker processes.
    """
    history = load_history(source)
    skus = history.skus()[:limit] if limit else history.skus()
    ys = [history.series(sku).to_numpy(dtype=float) for sku in skus]
    start = time.perf_counter()
    fits, _ = _fit(model, ys, history.season, jobs, f"fit {model}")
    for fit in fits:
        fit.predict(horizon)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "source": source,
        "series": len(skus),
        "jobs": jobs,
        "seconds": seconds,
        "seconds_per_series": seconds / max(len(skus), 1),
    }


def holdout_accuracy(
    models: list[str], source: str = "m3", limit: int | None = None, horizon: int = 18, jobs: int = 2
) -> dict[str, Any]:
    """The M3 protocol: every model's accuracy on the last ``horizon`` periods of every series.

    Each model is fitted on all but the last ``horizon`` periods of every series and forecasts
    those; per model the mean and median MASE (scaled by the in-sample seasonal naive MAE),
    the mean sMAPE and MAE over the series, the wall seconds of fitting and forecasting, and the
    guard figures: the largest forecast / series maximum, forecasts above 10 x the maximum, and the
    series where a guard refused a model or floored a forecast.
    """
    history = load_history(source)
    skus = history.skus()[:limit] if limit else history.skus()
    full = [history.series(sku).to_numpy(dtype=float) for sku in skus]
    train, actual = [y[:-horizon] for y in full], np.array([y[-horizon:] for y in full])
    scales = np.array([naive_scale(y, history.season) for y in train])
    out: dict[str, Any] = {
        "source": source,
        "series": len(skus),
        "horizon": horizon,
        "jobs": jobs,
        "models": {},
    }
    for model in models:
        start = time.perf_counter()
        fits, _ = _fit(model, train, history.season, jobs, model)
        forecast = np.array([fit.predict(horizon) for fit in fits])
        seconds = time.perf_counter() - start
        out["models"][model] = {**panel_scores(actual, forecast, scales, train), "seconds": seconds}
        out["models"][model]["guarded"] = sum(1 for fit in fits if fit.notes)
    return out


def panel_scores(
    actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray, train: list[np.ndarray]
) -> dict[str, Any]:
    """Accuracy of forecasts (series x horizon) against the actual values, and the guard figures.

    Mean / median MASE, mean sMAPE and MAE (:mod:`stocklab.envs.forecast.backtest`).
    """
    abs_err = np.abs(actual - forecast)
    mase = abs_err.mean(axis=1) / scales
    denom = np.abs(actual) + np.abs(forecast)
    smape = np.divide(200.0 * abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0).mean(axis=1)
    top = np.array([np.max(np.abs(y)) for y in train])
    ratio = forecast.max(axis=1) / top
    return {
        "mase": float(np.mean(mase)),
        "mase_median": float(np.median(mase)),
        "smape": float(np.mean(smape)),
        "mae": float(abs_err.mean()),
        "max_ratio": float(ratio.max()),
        "above_10x_max": int((ratio > 10).sum()),
        "negative": int((forecast.min(axis=1) < 0).sum()),
    }


def _origin_forecasts(
    model: str, ys: list[np.ndarray], offset: int, k: int, season: int, jobs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``model`` on every series but its last ``offset`` periods and forecast k periods.

    Returns per series the forecasts (series x k), the actual values and the training part's MASE scale.
    """
    train = [y[: len(y) - offset] for y in ys]
    fits, _ = _fit(model, train, season, jobs, f"{model} @ -{offset}")
    forecast = np.array([fit.predict(k) for fit in fits])
    actual = np.array([y[len(y) - offset : len(y) - offset + k] for y in ys])
    scales = np.array([naive_scale(y, season) for y in train])
    return forecast, actual, scales


def quantile_coverage(
    model: str = DEFAULT_FORECASTER,
    source: str = "m3",
    limit: int | None = None,
    lead_times: tuple[int, ...] = (0, 2),
    fractiles: tuple[float, ...] = (0.8, 0.95),
    horizon: int = 18,
    step: int = 1,
    calibration_origins: int = 24,
    jobs: int = 2,
) -> dict[str, Any]:
    """Lead-time demand quantiles by split conformal prediction across series, scored on the hold-out.

    For lead time L the window is k = L + 1 periods (review every period). Test origins lie in the
    hold-out (the last ``horizon`` periods: ``horizon``, ``horizon - step``, ... periods before the
    end, as long as the window fits); ``calibration_origins`` origins ``step`` apart lie before it,
    their windows ending before the hold-out starts. Every origin of a calendar month is a shared
    shock to all M3 series (they end in the same month), so origins every period over two years
    calibrate and every period of the hold-out scores. At each origin ``model`` is refitted on the data before it. Per lead
    time and fractile f: the pooled scaled offset q_f (:func:`~stocklab.envs.forecast.quantiles.conformal_offsets`),
    the realised coverage P(D <= quantile) over every (series, test origin), and the mean pinball
    loss in units and scaled by each series' MASE scale.
    """
    from stocklab.envs.forecast.quantiles import conformal_offsets, pinball_loss

    history = load_history(source)
    skus = history.skus()[:limit] if limit else history.skus()
    ys = [history.series(sku).to_numpy(dtype=float) for sku in skus]
    k_max = max(lead_times) + 1
    tests = list(range(horizon, k_max - 1, -step))
    calibration = [horizon + k_max - 1 + step * (j + 1) for j in range(calibration_origins)]
    runs = {
        off: _origin_forecasts(model, ys, off, k_max, history.season, jobs) for off in calibration + tests
    }
    out: dict[str, Any] = {"model": model, "source": source, "series": len(ys), "test_origins": tests,
                           "calibration_origins": calibration, "lead_times": {}}  # fmt: skip
    for lead in lead_times:
        k = lead + 1

        def sums(offsets: list[int], k: int = k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            f = np.concatenate([runs[o][0][:, :k].sum(axis=1) for o in offsets])
            a = np.concatenate([runs[o][1][:, :k].sum(axis=1) for o in offsets])
            return f, a, np.concatenate([runs[o][2] for o in offsets])

        cal_f, cal_a, cal_s = sums(calibration)
        offsets = conformal_offsets(cal_a, cal_f, cal_s, fractiles)
        test_f, test_a, test_s = sums(tests)
        rows = {}
        for f in fractiles:
            q = np.maximum(test_f + test_s * offsets[f], 0.0)
            loss = pinball_loss(test_a, q, f)
            rows[str(f)] = {
                "offset": offsets[f], "coverage": float(np.mean(test_a <= q)),
                "pinball": float(loss.mean()), "pinball_scaled": float(np.mean(loss / test_s)),
                "windows": int(len(test_a)),
            }  # fmt: skip
        out["lead_times"][str(lead)] = {"periods": k, "fractiles": rows}
    return out
