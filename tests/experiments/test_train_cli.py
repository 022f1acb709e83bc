"""`stocklab train`: trains one agent, evaluates it, prints its cost and exact gap, writes a run folder
that `stocklab export` accepts, and a second call reuses the finished training."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stocklab.experiments.cli.app import app
from tests.oracles import lost_sales_l1_optimum

runner = CliRunner()
CONFIG = """\
name: t
env: {lead_time: 1, max_order: 12, periods: 200, demand: {dist: poisson, mean: 3}, costs: {holding: 1, shortage: 9}}
policies:
  - {name: ql, kind: q_learning, train: {steps: 3000, eval_every: 1000, episodes: 1, periods: 100}}
  - {name: bs, kind: base_stock}
evaluation: {episodes: 2, periods: 300, seed: 3}
"""


def test_train_evaluates_exports_and_resumes(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    args = ["train", str(cfg), "--policy", "ql", "--out", str(tmp_path / "runs"), "--quiet", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    run = tmp_path / "runs" / "t-ql"
    assert data["run"] == str(run) and data["steps"] == 3000
    # the gap is against the optimum of this L = 1 instance, computed independently
    optimum = lost_sales_l1_optimum(3.0, 1.0, 9.0, max_order=12)
    assert abs(data["optimum"] - optimum) < 1e-6
    assert data["gap_method"] == "exact" and data["exact_cost"] >= optimum - 1e-9
    assert abs(data["gap_pct"] - 100 * (data["exact_cost"] - optimum) / optimum) < 1e-6
    record = run / "policies" / "ql" / "record.json"
    before = record.stat().st_mtime_ns

    exported = runner.invoke(app, ["export", str(run), "--policy", "ql", "--out", str(tmp_path / "art")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "art" / "manifest.json").is_file()

    again = runner.invoke(app, args)  # the finished training is reused, not redone
    assert again.exit_code == 0 and json.loads(again.stdout)["avg_cost"] == data["avg_cost"]
    assert record.stat().st_mtime_ns == before


def test_train_refuses_a_policy_that_does_not_learn(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    res = runner.invoke(app, ["train", str(cfg), "--policy", "bs", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no learning policy" in res.output and "Traceback" not in res.output
