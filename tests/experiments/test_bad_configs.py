"""Bad configs and arguments to `stocklab run` / `stocklab report`: exit code 2, one short message that
names the key path and the bad value, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "name": "bad_config_case",
    "env": {"lead_time": 1, "demand": {"dist": "poisson", "mean": 3}, "costs": {"holding": 1, "shortage": 4}},
    "policies": [{"name": "bs", "kind": "base_stock", "params": {"level": 8}}],
    "evaluation": {"episodes": 2, "periods": 50},
}


def with_(path: str, value) -> dict:
    """GOOD with the value at a dotted path replaced (a list index as a number)."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def without(path: str) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    node = data
    for k in parents:
        node = node[int(k)] if isinstance(node, list) else node[k]
    del node[last]
    return data


# (case id, config dict or raw YAML text, extra CLI args, substrings the message must contain)
CASES = [
    ("unknown top-level key", {**GOOD, "evalution": {"episodes": 3}}, [], ["evalution", "Did you mean 'evaluation'"]),
    ("misspelled policy key", with_("policies.0", {"name": "bs", "kind": "base_stock", "parms": {"level": 8}}), [],
     ["policies[0]", "parms", "Did you mean 'params'"]),
    ("misspelled env key", with_("env.costs", {"holding": 1, "shortgae": 4}), [], ["env.costs", "shortgae", "shortage"]),
    ("negative cost", with_("env.costs.holding", -1.0), [], ["env.costs.holding", "-1"]),
    ("s >= S", with_("policies.0", {"name": "ss", "kind": "ss", "params": {"s": 20, "S": 12}}), [],
     ["policies[0]", "s (=20) must be < S (=12)"]),
    ("unknown policy parameter", with_("policies.0", {"name": "ss", "kind": "ss", "params": {"s": 2, "SS": 9}}), [],
     ["policies[0]", "SS"]),
    ("missing data file", with_("env.demand", {"dist": "replay", "path": "no_such_sales.csv"}), [],
     ["no_such_sales.csv", "not found"]),
    ("negative lead time", with_("env.lead_time", -1), [], ["env.lead_time", "-1"]),
    ("fractional periods", with_("evaluation.periods", 2.5), [], ["evaluation.periods", "2.5"]),
    ("zero episodes", with_("evaluation.episodes", 0), [], ["evaluation.episodes", "0"]),
    ("wrong type", with_("evaluation.episodes", "many"), [], ["evaluation.episodes", "many"]),
    ("unknown policy kind", with_("policies.0", {"name": "x", "kind": "base_stok"}), [],
     ["policies[0].kind", "base_stok", "Did you mean 'base_stock'"]),
    ("empty policy list", with_("policies", []), [], ["policies", "empty"]),
    ("no policies at all", without("policies"), [], ["policies", "at least one policy"]),
    ("duplicate policy names", with_("policies", [GOOD["policies"][0], GOOD["policies"][0]]), [], ["unique", "bs"]),
    ("unsafe policy name", with_("policies.0.name", "../bs"), [], ["policies[0].name", "../bs"]),
    ("training budget on a classic policy", with_("policies.0.train", {"steps": 100}), [], ["train.steps", "base_stock"]),
    ("untunable policy without params", with_("policies.0", {"name": "c", "kind": "constant"}), [],
     ["policies[0]", "constant", "quantity"]),
    ("newsvendor fractile out of range",
     with_("policies.0", {"name": "nv", "kind": "newsvendor", "params": {"fractile": 1.5}}), [], ["fractile", "1.5"]),
    ("agent without a training budget", with_("policies.0", {"name": "q", "kind": "q_learning"}), [],
     ["policies[0]", "train.steps"]),
    ("bad tabular hyperparameter",
     with_("policies.0", {"name": "q", "kind": "q_learning", "train": {"steps": 10}, "hyperparams": {"gamma": 2}}),
     [], ["policies[0]", "gamma", "2"]),
    ("misspelled SB3 hyperparameter",
     with_("policies.0", {"name": "p", "kind": "ppo", "train": {"steps": 64}, "hyperparams": {"learning_rat": 0.1}}),
     [], ["policies[0]", "learning_rat", "Did you mean 'learning_rate'"]),
    ("params on an agent", with_("policies.0", {"name": "q", "kind": "sarsa", "params": {"level": 3}}), [],
     ["policies[0]", "hyperparams"]),
    ("top level is a list", "- name: x\n", [], ["top level must be a mapping"]),
    ("invalid YAML", "name: [unclosed\n", [], ["not valid YAML"]),
    ("--set without =", GOOD, ["--set", "evaluation.episodes"], ["KEY=VALUE"]),
    ("--set bad value", GOOD, ["--set", "evaluation.warmup=-5"], ["evaluation.warmup", "-5"]),
    ("--set through a value", GOOD, ["--set", "name.x=1"], ["not a section"]),
    ("--jobs 0", GOOD, ["--jobs", "0"], ["--jobs"]),
]  # fmt: skip


def _invoke(tmp_path: Path, config, args: list[str]):
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    runner = CliRunner()
    return runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet", *args])


@pytest.mark.parametrize(("config", "args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_short_message(tmp_path, config, args, expected):
    result = _invoke(tmp_path, config, args)
    text = result.output
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert len(text.strip().splitlines()) <= 12, text
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("record.json"))


def test_at_least_15_cases():
    assert len(CASES) >= 15


def test_missing_config_file(tmp_path):
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml"), "--quiet"])
    assert result.exit_code == 2
    assert "config file not found" in result.output and "Traceback" not in result.output


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "episodes.csv" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_real_process_exit_code_and_stderr(tmp_path):
    """The installed entry point, as a user runs it: code 2, the message on stderr, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(with_("env.costs.shortage", -9)))
    cmd = [
        sys.executable,
        "-c",
        "from stocklab.experiments.cli.app import main; main()",
        "run",
        str(path),
        "--quiet",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 2
    assert "env.costs.shortage" in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "runs").exists()
