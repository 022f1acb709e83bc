"""Every config under configs/ runs end to end through the real CLI on a small budget.

``stocklab run CONFIG --set ...`` shrinks training steps, tuning and evaluation episodes and periods
(the overrides are derived from each config's own policy list); the run must finish with exit 0 and
write summary.json with every policy. The 16 Zipkin configs differ only in p and L: all of them
validate and plan (the DP size check included), and one per lead time runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stocklab.baselines.tuning.search import TUNABLE
from stocklab.experiments.cli.app import app
from stocklab.experiments.config import load_config
from stocklab.experiments.kinds import REGISTRY
from stocklab.experiments.run.plan import make_plan

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))
ZIPKIN_RUN = ("lost_p4_L1.yaml", "lost_p9_L2.yaml", "lost_p19_L3.yaml", "lost_p4_L4.yaml")
RUN = [p for p in ALL if p.parent.name != "zipkin" or p.name in ZIPKIN_RUN]

runner = CliRunner()


def small_budget(path: Path) -> list[str]:
    """``--set`` overrides that make a run of ``path`` take seconds, from its own policy list."""
    raw = yaml.safe_load(path.read_text())
    sets = [
        "evaluation.episodes=2",
        "evaluation.periods=40",
        "evaluation.warmup=5",
        "evaluation.trace_periods=10",
    ]
    if raw["env"].get("periods", 100) > 60:
        sets.append("env.periods=60")  # length of a training / tuning episode
    for i, policy in enumerate(raw["policies"]):
        kind = policy["kind"]
        if kind in REGISTRY.names("agent"):
            sets += [f"policies.{i}.train.{k}={v}" for k, v in
                     {"steps": 256, "episodes": 1, "periods": 20, "eval_every": 128}.items()]  # fmt: skip
            if kind == "ppo":
                sets += [f"policies.{i}.hyperparams.{k}={v}" for k, v in
                         {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 1}.items()]  # fmt: skip
        elif kind in TUNABLE and not policy.get("params"):
            sets += [f"policies.{i}.train.episodes=1", f"policies.{i}.train.periods=30"]
    return sets


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_shipped_config_validates_and_plans(path: Path) -> None:
    overrides = small_budget(path)
    res = runner.invoke(app, ["validate", str(path), *[a for s in overrides for a in ("--set", s)]])
    assert res.exit_code == 0, res.output
    plan = make_plan(load_config(path, overrides))
    assert set(plan.units) == {p["name"] for p in yaml.safe_load(path.read_text())["policies"]}
    # every config that lists the optimum gets it (the DP fits the default limits)
    assert plan.exact or "optimal" not in path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", RUN, ids=lambda p: p.stem)
def test_every_shipped_config_runs_on_a_small_budget(path: Path, tmp_path: Path) -> None:
    sets = [a for s in small_budget(path) for a in ("--set", s)]
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path), "--quiet", "--json", *sets])
    assert res.exit_code == 0, res.output
    name = yaml.safe_load(path.read_text())["name"]
    summary: dict[str, Any] = json.loads((tmp_path / name / "summary.json").read_text())
    expected = [p["name"] for p in yaml.safe_load(path.read_text())["policies"]]
    assert sorted(summary["policies"]) == sorted(expected)
    for policy, row in summary["policies"].items():
        assert row["episodes"] == 2, policy
        assert row["avg_cost"] is not None and row["avg_cost"] >= 0, policy
    if "optimal" in summary["policies"]:
        assert summary["optimum"] is not None
        assert summary["policies"]["optimal"]["gap_pct"] == pytest.approx(0.0, abs=1e-9)
