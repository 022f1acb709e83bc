"""Numbers are range-checked where they enter, and every repair cleaning makes is reported.

A quantity of 1e300 (or 1e19 in parquet) once wrapped to a negative int64 and became negative demand;
NaN cells and returns were repaired without a word. Now: out-of-range quantities are refused with
the row and column, and a run on a cleaned history lists each repair in ``data_cleaning.json``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stocklab.envs.core.errors import DataError
from stocklab.envs.sales.history import read_sales_file
from stocklab.experiments.config import parse_config
from stocklab.experiments.run.runner import RunOptions, run_experiment


def csv(tmp_path, rows: list[str]):
    path = tmp_path / "sales.csv"
    path.write_text("date,sku,quantity\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("value", ["1e300", "-1e300", "2000000000", "inf", "nan_text"])
def test_absurd_quantities_are_refused_with_row_and_column(tmp_path, value):
    path = csv(tmp_path, ["2024-01-01,A,3", f"2024-02-01,A,{value}", "2024-03-01,A,2"])
    with pytest.raises(DataError, match=r"row 3, column 'quantity'"):
        read_sales_file(path)


def test_parquet_integer_beyond_int64_range_is_refused(tmp_path):
    path = tmp_path / "sales.parquet"
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "sku": ["A", "A"],
            "quantity": np.array([3, 10**19], dtype=np.uint64),
        }
    )
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"row 2, column 'quantity'.*beyond the largest quantity"):
        read_sales_file(path)


def test_a_run_lists_every_repair_of_its_history(tmp_path):
    # A: 5, (missing), 4, -2 (a return), 6, ... : the missing cell is filled with 0 and the return is
    # netted against the earlier sales (the cleaning rules of stocklab.envs.sales.clean).
    months = pd.date_range("2020-01-01", periods=36, freq="MS")
    values = [5, "", 4, -2] + [6] * 32
    path = csv(tmp_path, [f"{d.date()},A,{v}" for d, v in zip(months, values)])
    cfg = parse_config(
        {
            "name": "cleaned",
            "env": {
                "lead_time": 1,
                "demand": {"dist": "history", "path": str(path), "sku": "A", "split": "all"},
            },
            "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 8}}],
            "evaluation": {"episodes": 1, "periods": 20, "exact": False},
        }
    )
    root = run_experiment(cfg, RunOptions(out=tmp_path / "runs", progress=False, report=False))
    repairs = json.loads((root / "data_cleaning.json").read_text())
    kinds = [c["kind"] for c in repairs["changes"]]
    assert "missing_value" in kinds and any(k.startswith("return") for k in kinds), repairs
    missing = next(c for c in repairs["changes"] if c["kind"] == "missing_value")
    assert missing["date"] == "2020-02-01" and missing["before"] is None and missing["after"] == 0
    assert repairs["counts"] == {k: kinds.count(k) for k in set(kinds)}
