"""`stocklab bench optimality`: records checked against an independent DP; clean errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from stocklab.experiments.bench.optimality import instance_config, run_optimality
from stocklab.experiments.cli.app import app

runner = CliRunner()
KEYS = {"agent", "instance", "optimal_cost", "cost", "gap_pct", "steps", "seconds"}


def _optimal_lost_sales_l1(mean: float = 5.0, h: float = 1.0, p: float = 9.0, top: int = 40) -> float:
    """Relative value iteration on on-hand stock x (L = 1, orders <= 20), written independently of the
    library: cost(x) = E[h (x - D)^+ + p (D - x)^+], next state min(top, (x - D)^+ + q)."""
    d = np.arange(60)
    pmf = stats.poisson.pmf(d, mean)
    pmf[-1] += 1.0 - pmf.sum()
    x = np.arange(top + 1)
    left = np.maximum(x[:, None] - d[None, :], 0)
    cost = (h * left + p * np.maximum(d[None, :] - x[:, None], 0)) @ pmf
    v = np.zeros(top + 1)
    for _ in range(5000):
        q_values = np.stack([cost + v[np.minimum(top, left + q)] @ pmf for q in range(21)], axis=1)
        tv = q_values.min(axis=1)
        gain, done = tv[0] - v[0], np.ptp(tv - v) < 1e-10
        v = tv - tv[0]
        if done:
            return float(gain)
    raise AssertionError("value iteration did not converge")


def test_records_against_an_independent_dp() -> None:
    records = run_optimality(["q_learning"], steps=20_000, instances=["L1"], throughput_steps=5000)
    assert len(records) == 1
    rec = records[0]
    assert KEYS <= rec.keys() and rec["agent"] == "q_learning" and rec["instance"] == "L1"
    assert rec["optimal_cost"] == pytest.approx(_optimal_lost_sales_l1(), abs=1e-6)
    assert rec["cost"] >= rec["optimal_cost"] - 1e-9
    assert rec["gap_pct"] == pytest.approx(100 * (rec["cost"] / rec["optimal_cost"] - 1))
    assert rec["steps"] == 20_000 and rec["seconds"] > 0
    assert rec["steps_per_s"] > 0 and rec["env_steps_per_s"] > 0 and rec["loop_steps_per_s"] > 0


def test_instances_are_zipkins() -> None:
    cfg = instance_config("L2", "ppo")
    assert cfg.lead_time.fixed == 2 and cfg.demand.mean == 5 and cfg.costs.shortage == 9
    assert cfg.action.mode == "order_up_to"
    assert instance_config("L1", "sarsa").action.mode == "quantity"


def test_cli_json_and_errors() -> None:
    res = runner.invoke(
        app,
        [
            "bench",
            "optimality",
            "--agents",
            "sarsa",
            "--steps",
            "5000",
            "--instances",
            "L1",
            "--json",
            "--throughput-steps",
            "2000",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert isinstance(data, list) and KEYS <= data[0].keys() and data[0]["agent"] == "sarsa"
    res = runner.invoke(app, ["bench", "optimality", "--agents", "q_lerning"])
    assert res.exit_code == 2 and "unknown agent 'q_lerning'" in res.output
    res = runner.invoke(app, ["bench", "optimality", "--instances", "L7"])
    assert res.exit_code == 2 and "unknown instance" in res.output
