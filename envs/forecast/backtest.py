"""Rolling-origin backtest of a forecaster and the accuracy measures it reports.

At each origin o (the number of periods the model may see) the forecaster is fitted on y_1 .. y_o
and forecasts y_{o+1} .. y_{o+h}; origins step back from the end of the series by ``step`` periods
(Tashman 2000, Int. J. Forecasting 16:437). Errors e = y - yhat over every origin and horizon give

* MAE = mean |e|, RMSE = sqrt(mean e^2) (units);
* MAPE = mean 100 |e| / |y| over periods with y != 0 (percent; NaN when every y is 0);
* sMAPE = mean 200 |e| / (|y| + |yhat|), 0 where both are 0 (percent, as in the M3 competition);
* MASE = mean over origins of MAE_o / s_o, with s_o the in-sample mean absolute error of the
  seasonal naive forecast on y_1 .. y_o (Hyndman & Koehler 2006, Int. J. Forecasting 22:679);
  the non-seasonal naive scale is used when the training part is shorter than a season or its
  seasonal scale is 0; NaN when both scales are 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stocklab.envs.core.errors import DataError
from stocklab.envs.forecast.base import Forecaster, fit_forecaster


@dataclass
class BacktestResult:
    """Forecasts and errors of one model on one series.

    Row i of ``actual`` / ``forecast`` belongs to ``origins[i]`` (periods seen), column j to horizon
    j + 1.
    """

    model: str
    horizon: int
    origins: list[int]
    actual: np.ndarray
    forecast: np.ndarray
    scales: np.ndarray
    fit_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    #: What the guards did at each origin ("origin 48: ETS(A,Ad,N) refused: ...").
    notes: list[str] = field(default_factory=list)


def naive_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast (naive when too short or 0); the MASE scale."""
    for m in (season, 1):
        if len(train) > m:
            scale = float(np.mean(np.abs(train[m:] - train[:-m])))
            if scale > 0:
                return scale
    return float("nan")


def accuracy(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE, sMAPE and MASE (module docstring) of forecasts by origin (rows) and horizon."""
    actual = np.atleast_2d(np.asarray(actual, dtype=float))
    forecast = np.atleast_2d(np.asarray(forecast, dtype=float))
    err = actual - forecast
    abs_err = np.abs(err)
    nonzero = actual != 0
    denom = np.abs(actual) + np.abs(forecast)
    smape = np.divide(200.0 * abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0)
    mase_o = abs_err.mean(axis=1) / np.asarray(scales, dtype=float)
    return {
        "mae": float(abs_err.mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(np.mean(100.0 * abs_err[nonzero] / np.abs(actual[nonzero])))
        if nonzero.any()
        else float("nan"),
        "smape": float(smape.mean()),
        "mase": float(np.mean(mase_o)) if np.isfinite(mase_o).all() else float("nan"),
    }


def origins_for(n: int, horizon: int, origins: int, step: int, min_train: int) -> list[int]:
    """Up to ``origins`` origins, the last at n - horizon, each ``step`` earlier, none below min_train."""
    out = [n - horizon - k * step for k in range(origins)]
    return sorted(o for o in out if o >= min_train)


def rolling_origin(
    y: np.ndarray,
    model: str,
    horizon: int,
    season: int = 1,
    origins: int = 3,
    step: int | None = None,
    min_train: int | None = None,
    params: dict[str, Any] | None = None,
    fitter: Callable[[int], Forecaster] | None = None,
) -> BacktestResult:
    """Backtest ``model`` on ``y`` at up to ``origins`` origins ``step`` periods apart.

    ``step`` defaults to the horizon. ``min_train`` (default: two seasons + 2 periods, at least 8) is the shortest training
    part allowed; DataError when no origin fits. ``fitter(o)`` (default: fit ``model`` on y_1 .. y_o,
    cached) supplies the fitted model of origin o, e.g. a global model trained on a panel cut at o.
    """
    y = np.asarray(y, dtype=float)
    if horizon < 1:
        raise DataError(f"backtest: horizon (={horizon}) must be >= 1")
    step = horizon if step is None else step
    min_train = max(2 * season + 2, 8) if min_train is None else min_train
    chosen = origins_for(len(y), horizon, origins, step, min_train)
    if not chosen:
        raise DataError(
            f"backtest: a series of {len(y)} periods is too short for horizon {horizon} after a training "
            f"part of {min_train} periods"
        )
    actual, forecast, scales, notes = [], [], [], []
    start = time.perf_counter()
    for o in chosen:
        fitted = fitter(o) if fitter else fit_forecaster(model, y[:o], season, **(params or {}))
        forecast.append(fitted.predict(horizon))
        notes += [f"origin {o}: {note}" for note in fitted.notes]
        actual.append(y[o : o + horizon])
        scales.append(naive_scale(y[:o], season))
    seconds = time.perf_counter() - start
    result = BacktestResult(
        model, horizon, chosen, np.array(actual), np.array(forecast), np.array(scales), seconds
    )
    result.metrics = accuracy(result.actual, result.forecast, result.scales)
    result.notes = notes
    return result
