"""`stocklab run`: files and schema, reproducibility, common random numbers, resume, overrides (--jobs: test_resume)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from stocklab.envs.core.seeding import episode_seeds
from stocklab.experiments.cli.app import app
from stocklab.experiments.config import load_config, parse_config
from stocklab.experiments.run import units as jobs_mod
from stocklab.experiments.run.runner import RunOptions, make_plan, run_experiment
from stocklab.experiments.store import EPISODE_COLUMNS
from tests.oracles import poisson_demand, simulate

CONFIG = {
    "name": "small",
    "env": {
        "lead_time": 2,
        "demand": {"dist": "poisson", "mean": 5},
        "costs": {"holding": 1, "shortage": 9},
        "initial": {"on_hand": 10},
    },  # fmt: skip
    "policies": [
        {"name": "bs", "kind": "base_stock", "train": {"episodes": 2, "periods": 100}},
        {"name": "ss", "kind": "ss", "params": {"s": 12, "S": 20}},
        {"name": "const", "kind": "constant", "params": {"quantity": 5}},
        {"name": "q", "kind": "q_learning", "train": {"steps": 3000, "episodes": 1, "periods": 100}},
        {
            "name": "ppo",
            "kind": "ppo",
            "train": {"steps": 256, "episodes": 1, "periods": 50},
            "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
        },
    ],
    "evaluation": {"episodes": 4, "periods": 150, "warmup": 10, "seed": 7, "trace_periods": 20},
}


def run(tmp_path, data=None, jobs=1, report=False):
    cfg = parse_config(data or CONFIG)
    return run_experiment(cfg, RunOptions(out=tmp_path / "runs", jobs=jobs, progress=False, report=report))


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    return run(tmp_path_factory.mktemp("first"), report=True)


def test_files_and_schema(first):
    for name in ("config.yaml", "config.resolved.yaml", "manifest.json", "episodes.csv", "summary.json",
                 "summary.csv", "report.md", "report.html", "plots/cost.png", "plots/cost_breakdown.png",
                 "plots/trajectories.png", "plots/learning_curves.png", "policies/bs/record.json", "traces/ss.csv",
                 "policies/q/policy/table.npz", "policies/ppo/policy/model.zip", "policies/q/learning_curve.csv"):  # fmt: skip
        assert (first / name).is_file(), name
    episodes = pd.read_csv(first / "episodes.csv")
    assert list(episodes.columns) == list(EPISODE_COLUMNS)
    assert len(episodes) == 5 * 4 and set(episodes["periods"]) == {150}
    manifest = json.loads((first / "manifest.json").read_text())
    for key in (
        "config_hash",
        "seeds",
        "versions",
        "git_commit",
        "machine",
        "started",
        "finished",
        "wall_seconds",
    ):
        assert key in manifest
    assert manifest["versions"]["stocklab"] and manifest["finished"] >= manifest["started"]
    summary = json.loads((first / "summary.json").read_text())
    for row in summary["policies"].values():
        assert {"avg_cost", "ci95", "fill_rate", "gap_pct"} <= row.keys()
    costs = [r["avg_cost"] for r in summary["policies"].values()]
    assert costs == sorted(costs)
    # the summary agrees with the per-episode results it was computed from
    for name, row in summary["policies"].items():
        assert row["avg_cost"] == pytest.approx(episodes[episodes["policy"] == name]["avg_cost"].mean())


def test_episode_costs_match_an_independent_simulation(first):
    """Each recorded episode of the fixed-parameter policies equals a plain-Python run of the timing
    contract on that episode's demand stream (warm-up dropped, lead time 2, lost sales, 10 on hand)."""
    episodes = pd.read_csv(first / "episodes.csv")
    orders = {
        "ss": lambda ip, pipe: min(30, 20 - ip) if ip <= 12 else 0,
        "const": lambda ip, pipe: 5,
    }
    for name, order in orders.items():
        for _, row in episodes[episodes["policy"] == name].iterrows():
            demand = poisson_demand(int(row["seed"]), 5.0, 10 + 150)
            costs = simulate(demand, 2, order, h=1.0, p=9.0, on_hand=10)
            assert row["avg_cost"] == pytest.approx(costs[10:].mean(), rel=1e-12), (name, row["episode"])


def test_common_random_numbers_and_disjoint_training_seeds(first):
    episodes = pd.read_csv(first / "episodes.csv")
    eval_seeds = episode_seeds(7, 4)
    for _, group in episodes.groupby("episode"):
        assert group["seed"].nunique() == 1 and group["demand"].nunique() == 1  # same scenario for all
    assert sorted(set(episodes["seed"])) == sorted(eval_seeds)
    record = json.loads((first / "policies/bs/record.json").read_text())
    tuning = episode_seeds(record["info"]["tuning_seed"], 2)
    assert not set(tuning) & set(eval_seeds)
    manifest = json.loads((first / "manifest.json").read_text())
    assert not set(manifest["seeds"]["training"].values()) & set(eval_seeds)


def test_same_config_and_seed_give_identical_results(first, tmp_path):
    second = run(tmp_path, report=True)
    assert (second / "episodes.csv").read_bytes() == (first / "episodes.csv").read_bytes()
    assert (second / "summary.json").read_text() == (first / "summary.json").read_text()


def test_rerun_skips_finished_units_and_extends_episodes(tmp_path, monkeypatch):
    root = run(tmp_path)
    calls = {"build": 0, "eval": 0}
    real_build, real_eval = jobs_mod.build_job, jobs_mod.eval_job

    def count_build(*a, **k):
        calls["build"] += 1
        return real_build(*a, **k)

    def count_eval(cfg, root_, unit, episodes, *a, **k):
        calls["eval"] += len(episodes)
        return real_eval(cfg, root_, unit, episodes, *a, **k)

    monkeypatch.setattr(jobs_mod, "build_job", count_build)
    monkeypatch.setattr(jobs_mod, "eval_job", count_eval)
    before = (root / "episodes.csv").read_bytes()
    run(tmp_path)
    assert calls == {"build": 0, "eval": 0}
    assert (root / "episodes.csv").read_bytes() == before
    assert json.loads((root / "manifest.json").read_text())["attempts"] == 2
    # two more episodes: only those are evaluated; the first four are kept as they were
    more = yaml.safe_load(yaml.safe_dump(CONFIG))
    more["evaluation"]["episodes"] = 6
    run(tmp_path, more)
    assert calls == {"build": 0, "eval": 5 * 2}
    grown = pd.read_csv(root / "episodes.csv")
    assert len(grown) == 5 * 6
    kept = grown[grown["episode"] < 4].to_csv(index=False, lineterminator="\n")
    assert kept == pd.read_csv(io.BytesIO(before)).to_csv(index=False, lineterminator="\n")
    # a changed parameter rebuilds and re-evaluates that policy only
    changed = yaml.safe_load(yaml.safe_dump(more))
    changed["policies"][1]["params"]["S"] = 21
    run(tmp_path, changed)
    assert calls == {"build": 1, "eval": 5 * 2 + 6}


def test_saved_config_reloads_to_the_same_experiment(first):
    cfg = load_config(first / "config.yaml")
    assert make_plan(cfg).config_hash == json.loads((first / "manifest.json").read_text())["config_hash"]
    resolved = yaml.safe_load((first / "config.resolved.yaml").read_text())
    assert resolved["env"]["max_order"] == 30  # defaults filled in


def test_cli_run_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(
        app,
        ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet", "--set", "evaluation.episodes=2",
         "--set", "policies.0.params={level: 18}", "--set", "policies.0.train={}", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["episodes"] == 2 and summary["policies"]["bs"]["params"] == {"level": 18}
    assert (tmp_path / "runs" / "small" / "report.html").is_file()


def test_shipped_configs_are_valid():
    root = Path(__file__).resolve().parents[2] / "configs"
    paths = sorted(root.glob("*.yaml")) + sorted((root / "zipkin").glob("*.yaml"))
    assert {"quickstart.yaml", "backorder_ss.yaml"} <= {p.name for p in paths}
    assert len(list((root / "zipkin").glob("lost_p*_L*.yaml"))) == 16
    for path in paths:
        cfg = load_config(path)
        assert cfg.policies, path
    quick = load_config(root / "quickstart.yaml")
    plan = make_plan(quick)  # the deep checks (SB3 hyper-parameters) pass too
    assert plan.exact  # the demo reports exact gaps to the DP optimum
    assert {p.kind for p in quick.policies} >= {
        "optimal",
        "base_stock",
        "capped_base_stock",
        "ss",
        "lp",
        "q_learning",
        "sarsa",
        "ppo",
    }


def test_load_run_policy_reproduces_the_evaluation(first):
    """A policy reloaded from the run folder (as `stocklab export` does) acts as the evaluated one."""
    from stocklab.experiments.analysis.evaluate import run_episode
    from stocklab.experiments.run.runner import load_run_policy

    cfg = load_config(first / "config.yaml")
    episodes = pd.read_csv(first / "episodes.csv")
    for name in ("bs", "q", "ppo"):
        policy, env, kind = load_run_policy(first, name)
        assert env == cfg.env and kind.name == policy_kind(cfg, name)
        row = episodes[(episodes["policy"] == name) & (episodes["episode"] == 1)].iloc[0]
        stats, _ = run_episode(cfg.env, policy, int(row["seed"]), cfg.eval_periods, cfg.evaluation.warmup)
        assert stats.kpis()["avg_cost"] == row["avg_cost"]


def policy_kind(cfg, name: str) -> str:
    return next(p.kind for p in cfg.policies if p.name == name)


@pytest.mark.parametrize("episodes", [1, 3])
def test_cli_run_prints_the_answer_first(tmp_path, episodes):
    """The first line names the cheapest policy by an independent simulation; one episode gives no CI."""
    data = yaml.safe_load(yaml.safe_dump(CONFIG))
    data["policies"] = [p for p in data["policies"] if p["name"] in ("ss", "const")]
    data["evaluation"]["episodes"] = episodes
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 0, result.output
    episodes_csv = pd.read_csv(tmp_path / "runs" / "small" / "episodes.csv")
    orders = {"ss": lambda ip, pipe: min(30, 20 - ip) if ip <= 12 else 0, "const": lambda ip, pipe: 5}
    mean_cost = {}
    for name, order in orders.items():
        seeds = episodes_csv.loc[episodes_csv["policy"] == name, "seed"]
        costs = [
            simulate(poisson_demand(int(s), 5.0, 160), 2, order, h=1.0, p=9.0, on_hand=10)[10:].mean()
            for s in seeds
        ]
        mean_cost[name] = sum(costs) / len(costs)
    best = min(mean_cost, key=mean_cost.get)
    first_line = result.output.strip().splitlines()[0]
    assert first_line.startswith(f"best: {best} ({mean_cost[best]:.3f} per period")
    assert ("no confidence interval" in first_line) == (episodes == 1)
    if episodes == 1:
        assert "± 0.000" not in result.output  # a one-episode CI of zero would claim a certainty it lacks
