"""The report of a forecast-fed run states the forecaster's hold-out accuracy and the value of
information (newsvendor cost with information none / forecast / oracle_mean)."""

from __future__ import annotations

import numpy as np
import pytest

from stocklab.envs.forecast.backtest import rolling_origin
from stocklab.envs.sales.history import load_history
from stocklab.experiments.analysis.forecasting import forecast_value
from stocklab.experiments.config import parse_config
from stocklab.experiments.run.runner import RunOptions, run_experiment

ENV = {
    "unmet_demand": "lost", "lead_time": 2, "max_order": 120, "initial": {"on_hand": 80},
    "demand": {"dist": "forecast_fed", "path": "demo", "sku": "SEASONAL", "model": "theta",
               "start": "2019-01-01"},
    "observation": {"information": "forecast", "forecast_horizon": 6},
    "costs": {"holding": 1.0, "shortage": 9.0},
}  # fmt: skip


def test_forecast_value_scores_the_forecaster_on_its_own_history_and_prices_information():
    value = forecast_value(ENV, seeds=[1, 2, 3, 4], periods=60)
    # Oracle: the same backtest run by hand on the 48 months before the episode's start.
    y = load_history("demo").series("SEASONAL").to_numpy(dtype=float)[:48]
    by_hand = rolling_origin(y, "theta", value["horizon"], season=12, origins=3)
    assert value["mase"] == pytest.approx(by_hand.metrics["mase"])
    assert value["origins"] == by_hand.origins
    costs = value["costs"]
    assert set(costs) == {"none", "forecast", "oracle_mean"}
    assert all(np.isfinite(c) and c > 0 for c in costs.values())
    # Forecast-fed demand is the forecast plus noise, so the forecast is (up to the floor at 0 and
    # rounding) the true mean: planning on either costs nearly the same.
    assert costs["forecast"] == pytest.approx(costs["oracle_mean"], rel=0.05)
    assert forecast_value({"demand": {"dist": "poisson", "mean": 4}}) is None


def test_report_of_a_forecast_fed_run_has_the_section(tmp_path):
    cfg = parse_config({
        "name": "fed", "env": ENV, "policies": [{"name": "nv", "kind": "newsvendor"}],
        "evaluation": {"episodes": 2, "periods": 48, "warmup": 6, "seed": 1},
    })  # fmt: skip
    root = run_experiment(cfg, RunOptions(out=tmp_path, progress=False))
    text = (root / "report.md").read_text()
    assert "## Forecaster: hold-out accuracy and value of information" in text
    assert "| oracle_mean |" in text and "| MASE |" in text
