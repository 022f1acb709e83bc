"""`stocklab monitor`: a known history replayed through the service, with planted drifts to find.

The test runs its own small simulation of three SKUs (lost sales, orders arrive after their lead
time, demand served from stock): "steady" (Poisson 5, lead time 2 as assumed), "shifted" (Poisson 5,
then Poisson 9 from period 80) and "late" (Poisson 5, but orders take 3 periods). Each period it
asks the running service for the orders of all three, and writes what happened to an actuals CSV.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import build_policy
from stocklab.envs import parse_env_config
from stocklab.experiments.cli.app import app
from stocklab.experiments.deploy.export import export_policy
from stocklab.experiments.deploy.monitor import TRACKING_LIMIT, _tracking, cusum_shift, monitor

ENV = {"lead_time": 2, "unmet_demand": "lost", "demand": {"dist": "poisson", "mean": 5},
       "costs": {"holding": 1.0, "shortage": 9.0}, "max_order": 30}  # fmt: skip
PERIODS, SHIFT_AT = 160, 80
SKUS = {"steady": (5, 5, 2), "shifted": (5, 9, 2), "late": (5, 5, 3)}  # mean before, after, true lead time


@pytest.fixture(scope="module")
def replay(tmp_path_factory, svc):
    tmp = tmp_path_factory.mktemp("monitor")
    cfg = parse_env_config(ENV)
    export_policy(build_policy("base_stock", cfg, {"level": 17}), cfg, tmp / "p")
    rng = np.random.default_rng(20261201)
    stock = {s: 10 for s in SKUS}
    arrivals: dict[str, dict[int, int]] = {s: {} for s in SKUS}
    rows = []
    with svc.serving(tmp / "p", tmp, "--log", str(tmp / "decisions.jsonl")) as (base, _):
        for t in range(PERIODS):
            states = []
            for s in SKUS:
                receipts = arrivals[s].pop(t, 0)
                stock[s] += receipts
                on_order = sum(arrivals[s].values())
                states.append({"sku": s, "period": t, "on_hand": stock[s], "pipeline": [on_order]})
                rows.append({"sku": s, "period": t, "receipts": receipts})
            status, data, _ = svc.post(base, {"states": states})
            assert status == 200
            for (s, (before, after, lead)), order, row, state in zip(
                SKUS.items(), data["orders"], rows[-3:], states
            ):
                assert order == max(0, 17 - state["on_hand"] - state["pipeline"][0])  # base stock, by hand
                if order:
                    arrivals[s][t + lead] = arrivals[s].get(t + lead, 0) + order
                demand = int(rng.poisson(after if t >= SHIFT_AT else before))
                stock[s] -= min(stock[s], demand)
                row["demand"] = demand
    pd.DataFrame(rows).to_csv(tmp / "actuals.csv", index=False)
    return tmp


def test_the_monitor_finds_the_planted_shift_and_late_lead_time_and_nothing_else(replay):
    report, series = monitor(replay / "decisions.jsonl", replay / "actuals.csv", replay / "p")
    skus = report["skus"]
    shift = skus["shifted"]["demand_shift"]
    assert shift["detected"] and shift["direction"] == "up"
    assert SHIFT_AT - 5 <= shift["period"] <= SHIFT_AT + 10 and shift["alarm_period"] < SHIFT_AT + 25
    assert shift["after_mean"] == pytest.approx(9, abs=1)
    assert skus["late"]["lead_time"]["realised_mean"] == pytest.approx(3, abs=0.01)
    assert skus["steady"]["lead_time"]["realised_mean"] == pytest.approx(2, abs=0.01)
    assert "lead_time" in skus["late"]["flags"] and "demand_shift" not in skus["late"]["flags"]
    assert skus["steady"]["flags"] == [] and not skus["steady"]["demand_shift"]["detected"]
    assert report["retune"] == ["late", "shifted"]
    assert report["overall"]["flagged"]["demand_shift"] == ["shifted"]
    assert skus["shifted"]["tracking_signal"] < -0.75  # forecasts (mean 5) fall short of demand
    # the steady SKU runs as the policy's evaluation predicts
    assert skus["steady"]["cost"]["cost"] == pytest.approx(report["predicted"]["avg_cost"], rel=0.25)
    assert len(series["shifted"]) == PERIODS


def test_realised_cost_by_hand(tmp_path):
    """Three periods of one SKU, lost sales, h = 1, p = 9, K = 2, c = 0.5 (numbers by hand)."""
    cfg = parse_env_config(
        {**ENV, "costs": {"holding": 1, "shortage": 9, "fixed_order": 2, "unit_order": 0.5}}
    )
    export_policy(build_policy("base_stock", cfg, {"level": 17}), cfg, tmp_path / "p")
    lines = [  # (period, on hand, pipeline, order)
        (0, 10, 0, 7), (1, 3, 7, 7), (2, 7, 7, 3)]  # fmt: skip
    with (tmp_path / "d.jsonl").open("w") as f:
        for t, on_hand, pipe, order in lines:
            f.write(json.dumps({"time": t, "sku": "A", "period": t, "order": order,
                                "state": {"on_hand": on_hand, "pipeline": [pipe]}}) + "\n")  # fmt: skip
    pd.DataFrame({"sku": "A", "period": [0, 1, 2], "demand": [7, 4, 2], "receipts": [0, 0, 7]}).to_csv(
        tmp_path / "a.csv", index=False
    )
    report, _ = monitor(tmp_path / "d.jsonl", tmp_path / "a.csv", tmp_path / "p")
    a = report["skus"]["A"]
    # end stock 3, 0 (1 lost), 5; orders 7, 7, 3
    assert a["cost"]["holding_cost"] == pytest.approx((3 + 0 + 5) / 3)
    assert a["cost"]["shortage_cost"] == pytest.approx(9 * 1 / 3)
    assert a["cost"]["fixed_cost"] == pytest.approx(2.0)
    assert a["cost"]["unit_cost"] == pytest.approx(0.5 * 17 / 3)
    assert a["fill_rate"] == pytest.approx(1 - 1 / 13) and a["stockout_periods"] == 1
    assert a["lead_time"]["orders_matched"] == 1 and a["lead_time"]["realised_mean"] == 2.0


def test_cusum_stays_quiet_on_stationary_demand_and_fires_on_a_shift():
    rng = np.random.default_rng(7)
    quiet = sum(cusum_shift(rng.poisson(5, 200).astype(float), 5, 5**0.5)["detected"] for _ in range(50))
    assert quiet <= 2  # false alarms: h = 8 gives an in-control run length far beyond 200 periods
    fired = [
        cusum_shift(np.r_[rng.poisson(5, 100), rng.poisson(3, 100)].astype(float), 5, 5**0.5)
        for _ in range(20)
    ]
    assert all(r["detected"] and r["direction"] == "down" for r in fired)
    assert np.median([r["change_index"] for r in fired]) == pytest.approx(100, abs=8)


def test_cli_writes_the_report_and_refuses_bad_actuals(replay, tmp_path):
    args = ["monitor", "--decisions", str(replay / "decisions.jsonl"), "--policy", str(replay / "p")]
    result = CliRunner().invoke(
        app, [*args, "--actuals", str(replay / "actuals.csv"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    assert "re-tune shifted: demand level shift up" in result.output
    out = tmp_path / "m"
    assert json.loads((out / "monitor.json").read_text())["retune"] == ["late", "shifted"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "shifted" in html
    assert (out / "report.md").read_text().count("![") == len(list((out / "plots").glob("*.png")))
    (tmp_path / "bad.csv").write_text("sku,period,demand\nA,1,x\n")
    result = CliRunner().invoke(app, [*args, "--actuals", str(tmp_path / "bad.csv")])
    assert (
        result.exit_code == 2
        and "row 2, column 'demand'" in result.output
        and "Traceback" not in result.output
    )


def test_trigg_tracking_signal_by_hand_and_its_false_alarm_rate():
    # errors 1, 1, -2 with alpha 0.1: E = 0.1, 0.19, -0.029; M = 0.1, 0.19, 0.371
    np.testing.assert_allclose(_tracking(np.array([1.0, 1.0, -2.0])), [1.0, 1.0, -0.029 / 0.371])
    rng = np.random.default_rng(3)
    ends = [_tracking(5 - rng.poisson(5, 160).astype(float))[-1] for _ in range(400)]
    assert np.mean(np.abs(ends) > TRACKING_LIMIT) < 0.03
