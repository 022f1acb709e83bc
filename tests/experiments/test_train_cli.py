"""`stocklab train`: trains one agent, evaluates it, prints its cost and exact gap, writes a run folder
that `stocklab export` accepts, and a second call reuses the finished training."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stocklab.experiments.cli.app import app
from tests.experiments.conftest import CLI
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


def test_train_seconds_stops_training_before_its_steps(tmp_path):
    # 10^9 steps would take hours: the one-second wall-time budget is what ends training
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG.replace("train: {steps: 3000,", "train: {steps: 1000000000, seconds: 1,"))
    args = ["train", str(cfg), "--policy", "ql", "--out", str(tmp_path / "runs"), "--quiet", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert 0 < json.loads(res.stdout)["steps"] < 1_000_000_000
    for bad in ("0", "-2", ".inf"):
        cfg.write_text(CONFIG.replace("train: {steps: 3000,", f"train: {{steps: 3000, seconds: {bad},"))
        res = runner.invoke(app, [*args[:-2], "--json"])
        assert res.exit_code == 2 and "seconds" in res.output and "Traceback" not in res.output
    cfg.write_text(CONFIG.replace("kind: base_stock}", "kind: base_stock, train: {seconds: 5}}"))
    res = runner.invoke(app, [*args[:-2], "--json"])
    assert res.exit_code == 2 and "train.seconds is for learning agents" in res.output


def test_train_killed_mid_training_goes_on_from_its_checkpoint(tmp_path):
    # kill -9 after the second checkpoint; the second call trains only what is left and ends with the
    # table, learning curve and figures of an uninterrupted training (the oracle: that training)
    import signal
    import subprocess
    import time

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG.replace("steps: 3000, eval_every: 1000", "steps: 120000, eval_every: 24000"))

    def train(out: str) -> list[str]:
        return [*CLI, "train", str(cfg), "--policy", "ql", "--out", str(tmp_path / out), "--quiet", "--json"]

    whole = subprocess.run(train("whole"), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    pointer = tmp_path / "cut" / "t-ql" / "policies" / "ql" / "resume" / "latest.json"
    proc = subprocess.Popen(train("cut"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["steps"] >= 12000:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cut_at = json.loads(pointer.read_text())["steps"]
    assert 12000 <= cut_at < 120000
    resumed = subprocess.run(train("cut"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "training from the start" not in resumed.stderr
    a, b = (tmp_path / name / "t-ql" / "policies" / "ql" for name in ("whole", "cut"))
    assert (a / "policy" / "table.npz").read_bytes() == (b / "policy" / "table.npz").read_bytes()
    assert (a / "learning_curve.csv").read_bytes() == (b / "learning_curve.csv").read_bytes()
    first, second = json.loads(whole.stdout), json.loads(resumed.stdout)
    assert {k: first[k] for k in ("avg_cost", "exact_cost", "gap_pct")} == {
        k: second[k] for k in ("avg_cost", "exact_cost", "gap_pct")
    }
    assert not (b / "resume").exists()  # checkpoints go once the policy is saved
