"""Forecasters and the rolling-origin backtest: hand-computed cases, recovery of a known seasonal
pattern, Croston on intermittent demand, every model on M3 series, and the fit cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stocklab.envs import ConfigError
from stocklab.envs.forecast.backtest import accuracy, naive_scale, origins_for, rolling_origin
from stocklab.envs.forecast.base import FORECASTERS, clear_cache, fit_forecaster, make_forecaster
from stocklab.envs.sales.history import load_history


# ------------------------------------------------------------------------------------------ by hand
def test_naive_and_seasonal_naive_by_hand():
    y = np.array([1.0, 3, 2, 4, 3, 5])
    naive = make_forecaster("naive").fit(y)
    np.testing.assert_array_equal(naive.predict(3), [5, 5, 5])
    # One-step errors 2, -1, 2, -1, 2: RMS = sqrt(14 / 5); h-step sd = sigma sqrt(h).
    assert naive.sigma == pytest.approx(np.sqrt(14 / 5))
    np.testing.assert_allclose(naive.predict_std(3), np.sqrt(14 / 5) * np.sqrt([1, 2, 3]))
    snaive = make_forecaster("seasonal_naive", season=2).fit(y)
    np.testing.assert_array_equal(snaive.predict(5), [3, 5, 3, 5, 3])
    # Errors y_t - y_{t-2}: 1, 1, 1, 1 -> sigma 1; sd sqrt(k + 1), k = floor((h - 1) / 2).
    np.testing.assert_allclose(snaive.predict_std(5), np.sqrt([1, 1, 2, 2, 3]))
    ma = make_forecaster("moving_average", window=2).fit(y)
    np.testing.assert_array_equal(ma.predict(2), [4, 4])


def test_croston_and_sba_by_hand():
    y = np.array([0.0, 4, 0, 0, 2, 0])
    # First demand 4 after 2 periods: z = 4, p = 2. Next demand 2 after 3 periods, alpha = 0.5:
    # z = 4 + 0.5 (2 - 4) = 3, p = 2 + 0.5 (3 - 2) = 2.5; forecast z / p = 1.2.
    croston = make_forecaster("croston", alpha=0.5).fit(y)
    np.testing.assert_allclose(croston.predict(3), [1.2, 1.2, 1.2])
    np.testing.assert_allclose(croston.fitted, [np.nan, np.nan, 2, 2, 2, 1.2])
    sba = make_forecaster("sba", alpha=0.5).fit(y)
    np.testing.assert_allclose(sba.predict(1), [1.2 * (1 - 0.25)])


def test_regression_recovers_an_exact_linear_seasonal_model():
    t = np.arange(40)
    y = 5 + 0.5 * t + np.array([3.0, -1, 0, -2])[t % 4]
    model = make_forecaster("regression", season=4).fit(y)
    future = np.arange(40, 48)
    np.testing.assert_allclose(
        model.predict(8), 5 + 0.5 * future + np.array([3.0, -1, 0, -2])[future % 4], atol=1e-3
    )


def test_accuracy_measures_by_hand():
    actual = np.array([[2.0, 0.0, 4.0]])
    forecast = np.array([[1.0, 1.0, 4.0]])
    m = accuracy(actual, forecast, np.array([0.5]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert m["mape"] == pytest.approx(100 * (0.5 + 0) / 2)  # the zero actual is left out
    assert m["smape"] == pytest.approx((200 * 1 / 3 + 200 * 1 / 1 + 0) / 3)
    assert m["mase"] == pytest.approx((2 / 3) / 0.5)
    # Seasonal naive scale of 1, 2, 1, 2, 5 with m = 2: |1 - 1|, |2 - 2|, |5 - 1| -> 4 / 3.
    assert naive_scale(np.array([1.0, 2, 1, 2, 5]), 2) == pytest.approx(4 / 3)
    assert origins_for(30, 6, 3, 6, 8) == [12, 18, 24]
    assert origins_for(20, 6, 3, 6, 8) == [8, 14]


def test_unknown_model_and_parameter_are_config_errors():
    with pytest.raises(ConfigError, match="Did you mean 'croston'"):
        make_forecaster("crostn")
    with pytest.raises(ConfigError, match="unknown parameter 'windw'.*Did you mean 'window'"):
        make_forecaster("moving_average", windw=3)


# ---------------------------------------------------------------------- known seasonal pattern
def seasonal_series(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y_t = 100 + 0.1 t + 15 sin(2 pi t / m) + N(0, 3^2): the mean and one draw."""
    t = np.arange(n)
    mean = 100 + 0.1 * t + 15 * np.sin(2 * np.pi * t / m)
    return mean, mean + np.random.default_rng(seed).normal(0, 3, n)


def check_recovery_and_mase(model: str, m: int, n: int, origins: int) -> None:
    """The fit on n periods forecasts the true mean of the next two seasons within 3 noise sd, with the
    seasonal shape (correlation > 0.95) and a 95 % interval covering it; the backtest's MASE beats
    the seasonal naive forecast's. Seasonal naive errors have variance 2 sigma^2 against about sigma^2
    for a model that learnt the pattern; ``origins`` x m errors make the comparison reliable (checked
    on 6-8 seeds when the test was written)."""
    h = 2 * m
    mean, y = seasonal_series(n + h, m, seed=4)
    fit = fit_forecaster(model, y[:n], m)
    forecast, sd = fit.predict(h), fit.predict_std(h)
    assert np.abs(forecast - mean[n:]).max() < 3 * 3.0
    assert np.corrcoef(forecast, mean[n:])[0, 1] > 0.95
    assert np.all(np.abs(forecast - mean[n:]) < 1.96 * sd + 1.0)
    ours = rolling_origin(y, model, horizon=m, season=m, origins=origins).metrics["mase"]
    snaive = rolling_origin(y, "seasonal_naive", horizon=m, season=m, origins=origins).metrics["mase"]
    assert ours < snaive


def test_ets_recovers_a_monthly_pattern_and_beats_seasonal_naive():
    check_recovery_and_mase("ets", m=12, n=104, origins=4)


@pytest.mark.slow
def test_arima_recovers_a_quarterly_pattern_and_beats_seasonal_naive():
    check_recovery_and_mase("arima", m=4, n=72, origins=12)


def test_croston_beats_naive_on_intermittent_demand():
    rng = np.random.default_rng(9)
    n = 600
    # Demand in 45 % of the periods (ADI 2.2: intermittent), sizes 1 + Poisson(5), mean 0.45 x 6 = 2.7.
    # For i.i.d. demand the naive forecast's squared error is about twice the variance and Croston's
    # about the variance; on absolute errors its edge is smaller (about 13 % here: over 30 seeds the
    # MASE ratio ranged 0.80 .. 0.95), so many origins are used.
    y = np.where(rng.random(n) < 0.45, 1 + rng.poisson(5, n), 0).astype(float)
    kwargs = {"horizon": 3, "season": 1, "origins": 180, "step": 3, "min_train": 30}
    croston = rolling_origin(y, "croston", **kwargs).metrics
    naive = rolling_origin(y, "naive", **kwargs).metrics
    assert croston["rmse"] < 0.85 * naive["rmse"]
    assert croston["mase"] < naive["mase"]
    assert fit_forecaster("croston", y).predict(1)[0] == pytest.approx(2.7, abs=0.6)


# ---------------------------------------------------------------------------------------------- M3
@pytest.mark.slow
@pytest.mark.parametrize("sku", ["N1402", "N1500"])
def test_backtest_runs_for_every_model_on_m3(sku):
    h = load_history("m3")
    y = h.series(sku).to_numpy(dtype=float)
    for model in FORECASTERS:
        origins = 1 if model == "arima" else 2
        result = rolling_origin(y, model, horizon=6, season=12, origins=origins)
        assert result.forecast.shape == (origins, 6)
        assert np.isfinite(result.forecast).all(), model
        for key in ("mae", "rmse", "mape", "smape", "mase"):
            assert np.isfinite(result.metrics[key]) and result.metrics[key] >= 0, (model, key)


def test_fits_are_cached_per_series_model_and_cutoff():
    clear_cache()
    y = np.arange(30, dtype=float) % 7
    a = fit_forecaster("moving_average", y[:20], window=3)
    assert fit_forecaster("moving_average", y[:20].copy(), window=3) is a
    assert fit_forecaster("moving_average", y[:21], window=3) is not a
    assert fit_forecaster("moving_average", y[:20], window=4) is not a
    assert fit_forecaster("naive", y[:20]) is not a


# ---------------------------------------------------------------------------------------------- CLI
def test_forecast_cli_prints_metrics_and_saves_the_plot(tmp_path):
    from typer.testing import CliRunner

    from stocklab.experiments.cli.app import app

    args = ["forecast", "m3", "--sku", "N1402", "--model", "ets", "--horizon", "6", "--origins", "2"]
    result = CliRunner().invoke(app, [*args, "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    y = load_history("m3").series("N1402").to_numpy(dtype=float)
    expected = rolling_origin(y, "ets", horizon=6, season=12, origins=2).metrics
    for key in ("mae", "rmse", "mase", "smape"):
        assert figures[key] == pytest.approx(expected[key])
    assert figures["origins"] == [56, 62]
    plot = Path(figures["plot"])
    assert plot.parent == tmp_path and plot.read_bytes()[:4] == b"\x89PNG"


def test_forecast_cli_on_a_file_and_bad_model(tmp_path):
    from typer.testing import CliRunner

    from stocklab.experiments.cli.app import app

    rows = "\n".join(f"2024-01-{d:02d},X,{(d % 3 == 0) * 4}" for d in range(1, 31))
    path = tmp_path / "daily.csv"
    path.write_text("date,sku,quantity\n" + rows + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", str(path), "--sku", "X", "--model", "croston", "--horizon", "3",
                                 "--json", "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    # Every third day sells 4: Croston's size 4 and interval 3 forecast 4 / 3 per day. Origins 21, 24
    # and 27 (step = horizon) each see one 4 in three days: errors 8/3, 4/3, 4/3, MAE 16 / 9.
    figures = json.loads(result.output)
    assert figures["season"] == 7 and figures["origins"] == [21, 24, 27]
    assert figures["mae"] == pytest.approx(16 / 9)
    bad = runner.invoke(
        app, ["forecast", str(path), "--sku", "X", "--model", "prophett", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "unknown forecaster 'prophett'" in bad.output
    assert "Did you mean 'prophet'" in bad.output
