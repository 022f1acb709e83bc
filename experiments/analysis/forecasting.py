"""``stocklab forecast``: backtest a forecaster on one SKU of a sales history and plot its forecast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stocklab.envs.core.storage import atomic_path
from stocklab.envs.forecast.backtest import BacktestResult, rolling_origin
from stocklab.envs.forecast.base import Forecaster, fit_forecaster, forecaster_class
from stocklab.envs.forecast.panel import fit_panel
from stocklab.envs.sales.history import SalesHistory

#: Two-sided 95 % normal quantile of the prediction interval in the plot.
Z95 = 1.959964


def describe(model: Forecaster) -> str:
    """The chosen specification of a fitted model (ETS components, ARIMA orders, ...), or its name."""
    spec = getattr(model, "spec", "")
    if spec:
        return f"ETS({spec})" if model.name.startswith("ets") else f"{model.name}: {spec}"
    order = getattr(model, "order", None)
    if order is not None:
        seasonal = getattr(model, "seasonal_order", (0, 0, 0, 0))
        text = f"ARIMA{order}"
        return text + (f"{seasonal[:3]}[{seasonal[3]}]" if seasonal[3] else "")
    return model.name


def run_forecast(
    history: SalesHistory, sku: str, model: str, horizon: int, origins: int = 3
) -> tuple[dict[str, Any], BacktestResult, Forecaster]:
    """Rolling-origin backtest of ``model`` on ``sku`` and a fit on the whole series.

    Returns the JSON-ready figures (metrics, origins, chosen model), the backtest and the full fit.
    """
    cls = forecaster_class(model)  # unknown names fail before any work
    series = history.series(sku)
    y = series.to_numpy(dtype=float)
    fitter = panel_fitter(history, sku, model) if cls.global_model else None
    result = rolling_origin(y, model, horizon, season=history.season, origins=origins, fitter=fitter)
    final = fitter(len(y)) if fitter else fit_forecaster(model, y, history.season)
    figures = {
        "sku": sku,
        "model": model,
        "chosen": describe(final),
        "horizon": horizon,
        "origins": [int(o) for o in result.origins],
        "periods": len(y),
        "season": history.season,
        **result.metrics,
        "backtest_seconds": result.fit_seconds,
        "guard": result.notes,
        "global_model": cls.global_model,
    }
    return figures, result, final


def panel_fitter(history: SalesHistory, sku: str, model: str) -> Callable[[int], Forecaster]:
    """A fitter of a global ``model`` for ``sku``: origin o -> the model trained on the panel cut at o.

    Every SKU of the history is cut at the same date (before ``sku``'s period o), so that no SKU's
    future leaks into the fit.
    """
    dates = history.series(sku).index
    min_length = forecaster_class(model).min_length

    def fit(origin: int) -> Forecaster:
        cutoff = dates[origin] if origin < len(dates) else dates[-1] + pd.Timedelta(days=1)
        panel, index = [], 0
        for other in history.skus():
            part = history.series(other)
            values = part[part.index < cutoff].to_numpy(dtype=float)
            if other == sku:
                index = len(panel)
                panel.append(values)
            elif len(values) >= min_length:
                panel.append(values)
        return fit_panel(model, panel, history.season)[index]

    return fit


def plot_forecast(
    history: SalesHistory, sku: str, result: BacktestResult, final: Forecaster, path: Path
) -> Path:
    """Plot the history, the backtest forecasts and the forecast of the next ``horizon`` periods.

    The forecast has its 95 % prediction interval (mean +- 1.96 sd, floored at 0); the figure is saved
    as a PNG at ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = history.series(sku)
    h = result.horizon
    future = pd.date_range(series.index[-1], periods=h + 1, freq=history.freq)[1:]
    mean, std = final.predict(h), final.predict_std(h)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(series.index, series.to_numpy(), color="black", lw=1.2, label="history")
    for i, origin in enumerate(result.origins):
        dates = series.index[origin : origin + h]
        ax.plot(dates, result.forecast[i][: len(dates)], ls="--", lw=1, label="backtest" if i == 0 else None)
    ax.plot(future, mean, color="tab:red", lw=1.5, label=f"forecast ({describe(final)})")
    ax.fill_between(
        future, np.maximum(mean - Z95 * std, 0.0), mean + Z95 * std, color="tab:red", alpha=0.2,
        label="95% interval",
    )  # fmt: skip
    metrics = result.metrics
    ax.set(
        title=f"{sku} — {result.model}: MASE {metrics['mase']:.3f}, MAE {metrics['mae']:.4g}",
        xlabel="date", ylabel="units per period",
    )  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


#: Information settings compared by :func:`forecast_value`.
INFORMATION = ("none", "forecast", "oracle_mean")


def forecast_value(
    env: dict[str, Any], base_dir: str | None = None, seeds: list[int] | None = None, periods: int = 120,
    warmup: int = 12,
) -> dict[str, Any] | None:  # fmt: skip
    """The forecaster's hold-out accuracy and the value of information of a forecast-fed env section.

    None unless ``env.demand.dist`` is ``forecast_fed``. Accuracy: a rolling-origin backtest (3
    origins, horizon 12 or less) of the demand's forecaster on the SKU's history before ``start``
    (the data it was fitted on). Value of information: the average cost per period of the
    newsvendor policy (order up to the critical-fractile quantile of the lead-time demand it
    believes in) on the same demand (common seeds) when it observes nothing (``information:
    none``: a constant level from the long-run mean), the forecaster's forecast (``forecast``), or
    the true mean demand (``oracle_mean``).
    """
    from stocklab.baselines.policies.classic import build_policy
    from stocklab.envs import parse_env_config
    from stocklab.envs.rollout import episode_costs

    demand = (env or {}).get("demand") or {}
    if not isinstance(demand, dict) or demand.get("dist") != "forecast_fed":
        return None
    model = parse_env_config(env, base_dir=base_dir).demand
    y = model._scaled(_history_before(model)).astype(float)
    season = model._history().season
    horizon = max(1, min(12, len(y) // 4))
    backtest = rolling_origin(y, model.model, horizon, season=season, origins=3, params=model.model_params)
    seeds = seeds or list(range(1, 9))
    costs = {}
    for info in INFORMATION:
        section = {**env, "observation": {**(env.get("observation") or {}), "information": info}}
        cfg = parse_env_config(section, base_dir=base_dir)
        costs[info] = float(
            np.mean(episode_costs(cfg, build_policy("newsvendor", cfg), seeds, periods, warmup))
        )
    return {
        "sku": model.sku, "model": model.model, "chosen": describe(model._fit), "horizon": horizon,
        "origins": [int(o) for o in backtest.origins], **backtest.metrics, "guard": backtest.notes,
        "costs": costs, "episodes": len(seeds), "periods": periods,
    }  # fmt: skip


def _history_before(model: Any) -> np.ndarray:
    """The SKU's recorded quantities before the forecast-fed episode's start (units)."""
    series = model._history().series(model.sku)
    if model.start is not None:
        series = series[series.index < pd.Timestamp(model.start)]
    return series.to_numpy(dtype=float)
