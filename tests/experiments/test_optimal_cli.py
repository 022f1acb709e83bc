"""`stocklab optimal`: JSON figures that agree with the library, a table, and clean errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stocklab.baselines.exact.solver import DPInstance, best_base_stock, evaluate_policy, solve_optimal
from stocklab.envs import parse_env_config
from stocklab.experiments.cli.app import app

runner = CliRunner()

ZIPKIN = "env: {unmet_demand: lost, lead_time: 2, demand: {dist: poisson, mean: 5}, costs: {holding: 1, shortage: 4}}\n"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)


def test_optimal_json(tmp_path: Path) -> None:
    res = runner.invoke(app, ["optimal", write(tmp_path, ZIPKIN), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"optimal_cost", "base_stock", "states", "seconds"} <= data.keys()
    assert {"level", "cost"} <= data["base_stock"].keys()
    # the figures are those of the library, and the optimum beats the best base-stock policy
    cfg = parse_env_config({"lead_time": 2, "costs": {"holding": 1, "shortage": 4}})
    inst = DPInstance.from_config(cfg)
    sol = solve_optimal(inst)
    assert data["optimal_cost"] == pytest.approx(evaluate_policy(inst, sol.policy), abs=1e-8)
    assert [data["base_stock"]["level"], data["base_stock"]["cost"]] == pytest.approx(
        list(best_base_stock(inst))
    )
    assert data["optimal_cost"] < data["base_stock"]["cost"]
    assert data["states"] == inst.n_states


def test_optimal_table_and_set_override(tmp_path: Path) -> None:
    res = runner.invoke(app, ["optimal", write(tmp_path, ZIPKIN), "--set", "env.lead_time=1"])
    assert res.exit_code == 0, res.output
    assert "optimal average cost / period" in res.stdout
    assert "best base-stock level S" in res.stdout


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("env: {lead_time: {dist: gamma, mean: 2, cv: 0.5}}\n", "env.lead_time"),
        ("env: {demand: {dist: replay, values: [1, 2, 3]}}\n", "env.demand"),
        ("env: {lead_time: 2, costs: {holding: 2}, foo: 1}\n", "Allowed"),
    ],
)
def test_bad_config_exits_2_without_traceback(tmp_path: Path, text: str, fragment: str) -> None:
    res = runner.invoke(app, ["optimal", write(tmp_path, text)])
    assert res.exit_code == 2, res.output
    assert fragment in " ".join(res.output.split())
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
