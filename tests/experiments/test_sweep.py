"""Sweeps: a config's `sweep` values expand into one run per combination and one comparison table,
checked against the runs' own episodes with a t interval computed here."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app
from stocklab.experiments.run.sweep import expand

SWEEP = {
    "name": "sw",
    "env": {
        "lead_time": 1,
        "demand": {"dist": "poisson", "mean": 4},
        "costs": {"holding": 1, "shortage": 9},
        "initial": {"on_hand": 8},
    },  # fmt: skip
    "policies": [
        {"name": "ss", "kind": "ss", "params": {"s": 8, "S": 14}},
        {"name": "const", "kind": "constant", "params": {"quantity": 4}},
    ],
    "evaluation": {"episodes": 3, "periods": 40, "warmup": 0, "seed": 1, "exact": False},
    "sweep": {"seed": [1, 2, 3], "env.costs.shortage": [4, 19]},
}


def write(tmp_path, data) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_expansion_is_the_cartesian_product(tmp_path):
    points = expand(dict(SWEEP), str(tmp_path))
    got = [(cfg.evaluation.seed, cfg.env.costs.shortage, cfg.name) for _, cfg in points]
    assert got == [
        (s, c, f"sw.p{i:03d}") for i, (s, c) in enumerate([(s, c) for s in (1, 2, 3) for c in (4, 19)])
    ]
    assert {p.setting for p, _ in points} == {"env.costs.shortage=4", "env.costs.shortage=19"}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweep")
    result = CliRunner().invoke(
        app, ["run", write(base, SWEEP), "--out", str(base / "out"), "--quiet", "--json"]
    )
    assert result.exit_code == 0, result.output
    return base / "out" / "sw", json.loads(result.output)


def test_comparison_is_mean_and_t_ci_over_seed_replicates(swept):
    root, printed = swept
    table = pd.read_csv(root / "sweep.csv")
    assert printed["comparison"][0]["mean_cost"] == pytest.approx(table["mean_cost"].iloc[0])
    assert list(table["rank"]) == [1, 2, 3, 4] and table["mean_cost"].is_monotonic_increasing
    for shortage in (4, 19):
        for policy in ("ss", "const"):
            runs = [i for i, (s, c) in enumerate((s, c) for s in (1, 2, 3) for c in (4, 19)) if c == shortage]
            means = []
            for i in runs:
                ep = pd.read_csv(root / "runs" / f"sw.p{i:03d}" / "episodes.csv")
                means.append(ep.loc[ep.policy == policy, "avg_cost"].mean())
            half = stats.t.ppf(0.975, 2) * np.std(means, ddof=1) / math.sqrt(3)
            row = table[(table.setting == f"env.costs.shortage={shortage}") & (table.policy == policy)].iloc[
                0
            ]
            assert row.mean_cost == pytest.approx(np.mean(means), rel=1e-12)
            assert row.ci95 == pytest.approx(half, rel=1e-9)
            assert row.ci_over == "3 seeds"


def test_rerun_reuses_every_run(swept, tmp_path):
    root, _ = swept
    before = {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("episodes/*/*.json")}
    result = CliRunner().invoke(
        app, ["run", write(root.parent.parent, SWEEP), "--out", str(root.parent), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert before == {p: p.stat().st_mtime_ns for p in before}


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"seed": 3}, "sweep.seed: expected a non-empty list"),
        ({"seed": []}, "sweep.seed: expected a non-empty list"),
        ([1, 2], "sweep: expected a mapping"),
        ({"env.costs.shortage": [9, -1]}, "shortage"),
        ({"env.costs.holding.x": [1]}, "sweep.env.costs.holding.x"),
    ],
)
def test_bad_sweep_is_one_clear_error(tmp_path, sweep, message):
    config = write(tmp_path, {**SWEEP, "sweep": sweep})
    result = CliRunner().invoke(app, ["run", config, "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o" / "sw" / "runs").exists()
    checked = CliRunner().invoke(app, ["validate", config])  # validate refuses what run refuses, alike
    assert checked.exit_code == 2 and checked.output == result.output


def test_validate_accepts_a_sweep_that_runs(tmp_path):
    result = CliRunner().invoke(app, ["validate", write(tmp_path, SWEEP)])
    assert result.exit_code == 0, result.output
    assert "sweep sw: 6 runs of 2 policies" in result.output
