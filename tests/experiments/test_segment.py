"""SKU segmentation: ADI / CV^2 by hand, Syntetos-Boylan classes, K-means, selection, and
``stocklab segment m3``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.envs import ConfigError, InventoryEnv
from stocklab.envs.forecast.stats import stl_strengths
from stocklab.envs.sales.history import load_history
from stocklab.experiments.analysis.segment import demand_class, segment, select_skus, sku_features
from stocklab.experiments.cli.app import app


def test_adi_and_cv2_by_hand():
    f = sku_features(np.array([0, 4, 0, 0, 6, 0]), season=1)
    # 6 periods, 2 with demand: ADI = 3; sizes 4 and 6: mean 5, variance 1, CV^2 = 1 / 25.
    assert f["adi"] == 3.0
    assert f["cv2"] == pytest.approx(0.04)
    assert f["mean"] == pytest.approx(10 / 6)
    assert f["zero_share"] == pytest.approx(4 / 6)
    assert demand_class(f["adi"], f["cv2"]) == "intermittent"


@pytest.mark.parametrize(
    "adi,cv2,expected",
    [(1.0, 0.1, "smooth"), (1.31, 0.48, "smooth"), (1.0, 0.49, "erratic"), (1.32, 0.2, "intermittent"),
     (1.32, 0.49, "lumpy"), (5.0, 2.0, "lumpy"), (float("inf"), 0.0, "no_demand")],
)  # fmt: skip
def test_syntetos_boylan_cutoffs(adi, cv2, expected):
    assert demand_class(adi, cv2) == expected


def test_stl_strengths_of_pure_patterns():
    t = np.arange(72)
    noise = np.random.default_rng(0).normal(0, 0.5, 72)
    trend, seasonal = stl_strengths(50 + 10 * np.sin(2 * np.pi * t / 12) + noise, 12)
    assert seasonal > 0.9 and trend < 0.5
    trend, seasonal = stl_strengths(50 + 2 * t + noise, 12)
    assert trend > 0.9 and seasonal < 0.5
    assert stl_strengths(np.full(40, 3.0), 12) == (0.0, 0.0)


def four_patterns(tmp_path):
    rng = np.random.default_rng(1)
    n = 48
    occurs = rng.random(n) < 0.3
    series = {
        "SMOOTH": 20 + rng.integers(-2, 3, n),
        "ERRATIC": rng.choice([1, 5, 40], n),
        "INTERMITTENT": np.where(occurs, 6, 0),
        "LUMPY": np.where(occurs, rng.choice([1, 30], n), 0),
    }
    dates = pd.date_range("2020-01-01", periods=n, freq="MS").strftime("%Y-%m-%d")
    frame = pd.concat([pd.DataFrame({"date": dates, "sku": k, "quantity": v}) for k, v in series.items()])
    path = tmp_path / "patterns.csv"
    frame.to_csv(path, index=False)
    return path


def test_segment_classifies_and_selects(tmp_path):
    history = load_history(four_patterns(tmp_path))
    table = segment(history, k=2)
    assert dict(zip(table["sku"], table["sb_class"])) == {
        "SMOOTH": "smooth", "ERRATIC": "erratic", "INTERMITTENT": "intermittent", "LUMPY": "lumpy",
    }  # fmt: skip
    assert set(table["cluster"]) == {0, 1}
    assert select_skus(table, classes=["lumpy", "intermittent"]) == ["INTERMITTENT", "LUMPY"]
    with pytest.raises(ConfigError, match="Did you mean 'lumpy'"):
        select_skus(table, classes=["lumpi"])
    with pytest.raises(ConfigError, match="k \\(=5\\)"):
        segment(history, k=5)


def test_segment_m3_writes_the_table_and_the_plot(tmp_path):
    result = CliRunner().invoke(
        app, ["segment", "m3", "--k", "4", "--out", str(tmp_path), "--json", "--select", "erratic"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    table = pd.read_csv(tmp_path / "segments.csv")
    assert len(table) == figures["skus"] == 474
    assert {"sku", "adi", "cv2", "sb_class", "cluster", "seasonal_strength", "trend_strength"} <= set(
        table.columns
    )
    assert sum(figures["classes"].values()) == 474
    assert sorted(table["cluster"].unique()) == [0, 1, 2, 3]
    # M3 MICRO shipments have a sale every month: ADI = 1, so smooth or erratic by CV^2 alone.
    assert set(table["sb_class"]) <= {"smooth", "erratic"}
    assert (table["adi"] == 1.0).all()
    assert figures["selected"] == table.loc[table["sb_class"] == "erratic", "sku"].tolist()
    assert (tmp_path / "segments.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A selected SKU drives an experiment's demand.
    sku = figures["selected"][0]
    env = InventoryEnv(
        {"demand": {"dist": "history", "path": "m3", "sku": sku, "scale": 0.01}, "max_order": 200}
    )
    env.reset(seed=0)
    assert env.step(10)[4]["demand"] == round(load_history("m3").series(sku).iloc[0] * 0.01)


def test_segment_cli_errors_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["segment", "m3", "--select", "lumpi", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Did you mean 'lumpy'" in result.output and "Traceback" not in result.output
