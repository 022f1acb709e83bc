"""`stocklab validate` applies every check `stocklab run` makes before any work: on each bad config
both refuse with the same message and exit code 2, and run leaves nothing behind. Bad output folders
are refused before any work, and never written into."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from stocklab.envs.core.seeding import episode_seeds
from stocklab.experiments.cli.app import app

runner = CliRunner()
BASE = {
    "name": "vr",
    "env": {"lead_time": 1, "demand": {"dist": "poisson", "mean": 3}, "periods": 50},
    "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 6}}],
    "evaluation": {"episodes": 2, "periods": 30, "seed": 4},
}


def variant(**changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


SB3 = {"name": "p", "kind": "ppo", "train": {"steps": 100}, "hyperparams": {"n_stepz": 64}}
CASES = {
    "empty file": (None, "a run needs at least one policy"),
    "no policies": (variant(policies=[]), "policies: empty list"),
    "unknown kind": (variant(policies=[{"name": "x", "kind": "base_stok"}]), "Did you mean 'base_stock'"),
    "dot name": (variant(name=".."), "the experiment name must be a letter or digit"),
    "huge cost": (variant(env={**BASE["env"], "costs": {"holding": 1e308}}), "env.costs.holding"),
    "training seed is an evaluation seed": (
        variant(policies=[{"name": "bs", "kind": "base_stock", "train": {"seed": episode_seeds(4, 2)[0]}}]),
        "is an evaluation seed",
    ),
    "bad SB3 hyper-parameter (deep check)": (variant(policies=[SB3]), "n_stepz"),
    "bad tabular hyper-parameter": (
        variant(
            policies=[
                {"name": "q", "kind": "q_learning", "train": {"steps": 100}, "hyperparams": {"gama": 0.9}}
            ]
        ),
        "gama",
    ),
    "classic kind without params or tuning": (
        variant(policies=[{"name": "c", "kind": "constant"}]),
        "constant",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_and_run_refuse_alike(case, tmp_path):
    data, fragment = CASES[case]
    path = tmp_path / "c.yaml"
    path.write_text("" if data is None else yaml.safe_dump(data))
    checked = runner.invoke(app, ["validate", str(path)])
    ran = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet"])
    assert checked.exit_code == ran.exit_code == 2, (checked.output, ran.output)
    assert fragment in checked.output, checked.output
    assert checked.output.strip() == ran.output.strip()
    assert "Traceback" not in checked.output + ran.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_valid_config_passes_both(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet", "--json"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("target", ["file", "foreign", "under_file"])
def test_bad_output_folders_are_refused_before_any_work(target, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "out"
    if target == "file":
        out.write_text("mine")
        expected = "is a file"
    elif target == "foreign":
        (out / "vr").mkdir(parents=True)
        (out / "vr" / "report.md").write_text("my notes")
        expected = "holds files that no stocklab run wrote"
    else:
        (tmp_path / "f").write_text("mine")
        out = tmp_path / "f" / "sub"
        expected = "is a file"
    res = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and expected in res.output and "Traceback" not in res.output, res.output
    if target == "foreign":
        assert (out / "vr" / "report.md").read_text() == "my notes"
        assert sorted(p.name for p in (out / "vr").iterdir()) == ["report.md"]
    if target == "file":
        assert out.read_text() == "mine"
