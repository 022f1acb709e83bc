"""Global and optional forecasters: gradient boosting with promotion features, the LSTM (seeded,
global, on a known pattern), Prophet (installed by the test extra, and a clear error without it),
and ``stocklab forecast`` / ``stocklab bench forecast --accuracy`` with the new models."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stocklab.envs import ConfigError
from stocklab.envs.forecast.base import forecaster_class, make_forecaster
from stocklab.envs.forecast.features import feature_names, rows
from stocklab.experiments.cli.app import app


def seasonal_panel(count: int, n: int, seed: int) -> list[np.ndarray]:
    """Series of different sizes sharing one monthly pattern: size (1 + 0.3 sin(2 pi t / 12)) + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return [
        s * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 0.03 * s, n)
        for s in rng.uniform(20, 500, count)
    ]


def test_features_by_hand():
    y = np.arange(1.0, 21.0)
    x, level = rows(y, np.array([12]), season=12, promo=np.r_[np.zeros(12), 1.0, np.zeros(7)])
    names = feature_names(12)
    row = dict(zip(names, x[0]))
    # The last 12 values before period 12 are 1 .. 12: level 6.5; lag_1 = 12 / 6.5.
    assert level[0] == pytest.approx(6.5)
    assert row["lag_1"] == pytest.approx(12 / 6.5) and row["lag_12"] == pytest.approx(1 / 6.5)
    assert row["mean_3"] == pytest.approx(11 / 6.5)
    assert row["slope_12"] == pytest.approx(1 / 6.5)  # one unit per period
    assert row["position"] == 0 and row["promo"] == 1 and row["promo_lag_1"] == 0


def test_gradient_boosting_learns_the_promotion_uplift():
    rng = np.random.default_rng(2)
    ys, promos = [], []
    for _ in range(30):
        flags = (rng.random(84) < 0.2).astype(float)
        ys.append(100 * (1 + 0.5 * flags) + rng.normal(0, 3, 84))
        promos.append(flags)
    train = [y[:72] for y in ys]
    fits = forecaster_class("gbm").fit_many(train, 12, promotions=promos)
    forecast = np.array([f.predict(12) for f in fits])
    future = np.array([p[72:] for p in promos])
    # Planned promotions lift demand by 50 %: the model's forecast must show it.
    assert forecast[future == 1].mean() == pytest.approx(150, rel=0.08)
    assert forecast[future == 0].mean() == pytest.approx(100, rel=0.08)


@pytest.mark.slow
def test_lstm_is_seeded_global_and_learns_a_shared_pattern():
    ys = seasonal_panel(12, 72, seed=1)
    train = [y[:60] for y in ys]
    params = {"epochs": 60, "hidden": 16, "horizon": 12}
    a = forecaster_class("lstm").fit_many(train, 12, **params)
    b = forecaster_class("lstm").fit_many(train, 12, **params)
    fa = np.array([m.predict(12) for m in a])
    np.testing.assert_array_equal(fa, np.array([m.predict(12) for m in b]))
    other = forecaster_class("lstm").fit_many(train, 12, **params, seed=1)
    assert not np.array_equal(fa, np.array([m.predict(12) for m in other]))
    assert a[0]._shared is a[-1]._shared  # one network for every series
    truth = np.array([y[60:] for y in ys])
    naive = np.array([y[48:60] for y in train])
    err = np.abs(fa - truth).mean() / np.abs(naive - truth).mean()
    assert err < 1.5, f"LSTM error {err:.2f} x the seasonal naive's"
    assert fa.min() >= 0 and np.isfinite(fa).all()
    assert a[0].predict(30).shape == (30,)  # beyond the output horizon: recursive


def test_prophet_forecasts_a_trend_with_a_yearly_cycle():
    t = np.arange(84)
    truth = 200 + 2 * t + 30 * np.sin(2 * np.pi * t / 12)
    y = truth + np.random.default_rng(4).normal(0, 2, 84)
    model = make_forecaster("prophet", 12).fit(y[:72])
    assert model.spec == "Prophet (yearly)"
    np.testing.assert_allclose(model.predict(12), truth[72:], rtol=0.05)


def test_prophet_missing_is_a_config_error(monkeypatch):
    real_import = builtins.__import__

    def no_prophet(name, *args, **kwargs):
        if name == "prophet" or name.startswith("prophet."):
            raise ImportError("no prophet")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_prophet)
    with pytest.raises(ConfigError, match="pip install 'stocklab\\[prophet\\]'"):
        make_forecaster("prophet", 12).fit(np.arange(30.0))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["combo", "auto", "theta", "lstm", "prophet"])
def test_forecast_cli_with_the_new_models(tmp_path, model):
    args = ["forecast", "demo", "--sku", "SEASONAL", "--model", model, "--horizon", "6", "--origins", "2"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["model"] == model and np.isfinite(figures["mase"]) and figures["mase"] > 0
    assert isinstance(figures["guard"], list)
    assert (tmp_path / f"SEASONAL_{model}.png").exists()


def test_bench_accuracy_table_on_a_few_series():
    result = CliRunner().invoke(
        app, ["bench", "forecast", "--accuracy", "--series", "8", "--models", "naive,seasonal_naive,theta",
              "--jobs", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    acc = json.loads(result.output)["accuracy"]
    assert acc["series"] == 8 and acc["horizon"] == 18
    # MASE is scaled by the in-sample seasonal naive MAE: the seasonal naive's own MASE is its
    # hold-out MAE over that scale, which must be positive and finite.
    for name, row in acc["models"].items():
        assert row["mase"] > 0 and row["mase_median"] > 0 and row["above_10x_max"] == 0, name
    bad = CliRunner().invoke(app, ["bench", "forecast", "--accuracy", "--models", "thetaa"])
    assert bad.exit_code == 2 and "Did you mean 'theta'" in bad.output
