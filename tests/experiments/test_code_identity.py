"""Resume never reuses stale results: a unit is recomputed exactly when the code that computes it
changes, and resumed while its code identity is unchanged."""

from __future__ import annotations

import json

import pytest

from stocklab.experiments.config import parse_config
from stocklab.experiments.run import manifest as manifest_mod
from stocklab.experiments.run import units
from stocklab.experiments.run.runner import RunOptions, run_experiment

CONFIG = {
    "name": "code_case",
    "env": {"lead_time": 1, "demand": {"dist": "poisson", "mean": 3}, "initial": {"on_hand": 6}},
    "policies": [
        {"name": "bs", "kind": "base_stock", "params": {"level": 8}},
        {"name": "const", "kind": "constant", "params": {"quantity": 3}},
    ],
    "evaluation": {"episodes": 3, "periods": 40, "exact": False},
}


@pytest.fixture()
def counted(monkeypatch):
    """Count the build and evaluation units the runner executes."""
    calls = {"build": 0, "eval": 0}
    real_build, real_eval = units.build_job, units.eval_job

    def build(*a, **k):
        calls["build"] += 1
        return real_build(*a, **k)

    def evaluate(cfg, root, unit, episodes, *a, **k):
        calls["eval"] += len(episodes)
        return real_eval(cfg, root, unit, episodes, *a, **k)

    monkeypatch.setattr(units, "build_job", build)
    monkeypatch.setattr(units, "eval_job", evaluate)
    return calls


def edited(monkeypatch, package: str) -> None:
    """Pretend the source files of ``package`` were edited (its digest changes, nothing else)."""
    real = manifest_mod.source_digest

    def digest(name: str) -> str:
        return "edited-" + real(name) if name == package else real(name)

    monkeypatch.setattr(manifest_mod, "source_digest", digest)


def run(tmp_path):
    return run_experiment(parse_config(CONFIG), RunOptions(out=tmp_path, progress=False, report=False))


def test_unchanged_code_resumes_and_changed_code_recomputes(tmp_path, monkeypatch, counted):
    root = run(tmp_path)
    assert counted == {"build": 2, "eval": 6}
    before = (root / "episodes.csv").read_bytes()

    run(tmp_path)  # same code: everything resumes
    assert counted == {"build": 2, "eval": 6}

    edited(monkeypatch, "stocklab.experiments.analysis.kpis")  # evaluation code only
    run(tmp_path)
    assert counted == {"build": 2, "eval": 12}  # builds kept, every episode recomputed
    assert (root / "episodes.csv").read_bytes() == before  # same numbers: the edit changed nothing real

    edited(monkeypatch, "stocklab.baselines")  # the policies' own code
    run(tmp_path)
    assert counted == {"build": 4, "eval": 18}


def test_records_and_manifest_name_the_code(tmp_path):
    root = run(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    record = json.loads((root / "policies" / "bs" / "record.json").read_text())
    episode = json.loads((root / "episodes" / "bs" / "00000.json").read_text())
    identity = manifest["code"][record["code"]]
    assert set(identity["sources"]) >= {"stocklab.envs", "stocklab.baselines", "stocklab.experiments.run"}
    assert identity["libraries"]["numpy"] and identity["libraries"]["gymnasium"]
    assert "stocklab.experiments.analysis.kpis" in manifest["code"][episode["code"]]["sources"]
