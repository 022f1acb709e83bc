"""``stocklab forecast`` / ``stocklab segment`` on a dirty history and on bad inputs.

The cleaning repairs are counted by hand from the file written here; every bad input must end in one
message naming it, exit code 2, no traceback, and no user file touched.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app


@pytest.fixture
def dirty_csv(tmp_path):
    """Two monthly SKUs over 36 months; A lacks its 6th month and returns 3 units in its 10th."""
    dates = pd.date_range("2020-01-01", periods=36, freq="MS")
    rows = []
    for sku in ("A", "B"):
        for i, date in enumerate(dates):
            if sku == "A" and i == 5:
                continue
            rows.append((date.date(), sku, -3 if sku == "A" and i == 9 else 10 + i % 12))
    path = tmp_path / "sales.csv"
    pd.DataFrame(rows, columns=["date", "sku", "quantity"]).to_csv(path, index=False)
    return path


def test_forecast_prints_the_cleaning_repairs_and_json(dirty_csv, tmp_path):
    out = tmp_path / "out"
    args = ["forecast", str(dirty_csv), "--sku", "A", "--model", "seasonal_naive", "--horizon", "6"]
    result = CliRunner().invoke(app, [*args, "--origins", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    # One missing month filled with 0; the return of 3 netted against the month before it, which makes
    # two changes (the return set to 0, the earlier sale reduced from 18 to 15).
    assert figures["cleaning"] == {"missing_period": 1, "return_netted": 2}
    assert "cleaning: 3 changes" in result.stderr
    assert "A 2020-06-01: missing_period" in result.stderr and "18 -> 15" in result.stderr
    assert figures["periods"] == 36 and (out / "A_seasonal_naive.png").exists()
    assert json.loads((out / "A_seasonal_naive.json").read_text())["cleaning"] == figures["cleaning"]
    assert not list(out.glob(".*.tmp*"))  # atomic writes leave no temporary files


def test_segment_prints_the_cleaning_repairs(dirty_csv, tmp_path):
    args = [
        "segment",
        str(dirty_csv),
        "--k",
        "2",
        "--min-samples",
        "1",
        "--out",
        str(tmp_path / "s"),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["skus"] == 2 and figures["cleaning"] == {"missing_period": 1, "return_netted": 2}
    assert "cleaning: 3 changes" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sku", "Z"], "no sku 'Z'"),
        (["--sku", "A", "--model", "thetaa"], "Did you mean 'theta'"),
        (["--sku", "A", "--model", "combo", "--horizon", "40"], "horizon"),
    ],
)
def test_forecast_bad_inputs_exit_2(dirty_csv, tmp_path, args, message):
    result = CliRunner().invoke(app, ["forecast", str(dirty_csv), *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.count("error:") == 1


def test_missing_history_file_exits_2(tmp_path):
    for command in (
        ["forecast", str(tmp_path / "nope.csv"), "--sku", "A"],
        ["segment", str(tmp_path / "nope.csv")],
    ):
        result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "o")])
        assert result.exit_code == 2 and "not found" in result.stderr, result.output


@pytest.mark.parametrize("command", ["forecast", "segment"])
def test_out_that_is_a_file_exits_2_and_keeps_the_file(dirty_csv, tmp_path, command):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    extra = ["--sku", "A", "--model", "naive"] if command == "forecast" else []
    result = CliRunner().invoke(app, [command, str(dirty_csv), *extra, "--out", str(target)])
    assert result.exit_code == 2, result.output
    assert "--out" in result.stderr and "is a file" in result.stderr and "Traceback" not in result.output
    assert target.read_text() == "keep me"
    # Under a file no folder can be made either.
    nested = CliRunner().invoke(app, [command, str(dirty_csv), *extra, "--out", str(target / "sub")])
    assert nested.exit_code == 2 and "is a file" in nested.stderr
