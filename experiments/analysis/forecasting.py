"""``stocklab forecast``: backtest a forecaster on one SKU of a sales history and plot its forecast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    """Fit a global ``model`` for ``sku``'s origin o on every SKU of the history cut at the same
    date (the periods before ``sku``'s period o), so that no SKU's future leaks into the fit.
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
    """History, the backtest forecasts, and the forecast of the next ``horizon`` periods with its 95 %
    prediction interval (mean +- 1.96 sd, floored at 0), saved as a PNG at ``path``.
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
