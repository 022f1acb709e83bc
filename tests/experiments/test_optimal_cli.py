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


# ------------------------------------------------------------------------------ resource limits
ZIPKIN_P9 = (
    "env: {unmet_demand: lost, lead_time: LEAD, demand: {dist: poisson, mean: 5}, max_order: 30,"
    " costs: {holding: 1, shortage: 9}}\n"
)
WITH_OPTIMAL = "policies: [{name: optimal, kind: optimal PARAMS}, {name: bs, kind: base_stock}]\n"


def config(tmp_path: Path, lead: int, params: str = "") -> str:
    text = ZIPKIN_P9.replace("LEAD", str(lead)) + WITH_OPTIMAL.replace("PARAMS", params)
    return write(tmp_path, text)


def message(res) -> str:  # noqa: ANN001 - a click Result
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    return " ".join(res.output.split())


def test_a_state_space_that_cannot_fit_is_refused_at_once_with_its_estimate(tmp_path: Path) -> None:
    res = runner.invoke(app, ["optimal", config(tmp_path, 6)])
    assert res.exit_code == 2
    text = message(res)
    assert "13,890,996 states" in text and "GiB of memory" in text  # the estimate
    assert "max_states=500,000" in text and "max_memory=" in text  # and the limits
    assert "--max-states" in text and "--max-memory" in text  # and how to raise them
    # with the state limit raised, the memory limit still refuses it (59.8 GiB > 1 GiB)
    res = runner.invoke(
        app, ["optimal", config(tmp_path, 6), "--max-states", "20000000", "--max-memory", "1"]
    )
    assert res.exit_code == 2 and "max_memory=1 GiB" in message(res)


def test_max_states_is_honoured_when_the_config_lists_optimal(tmp_path: Path) -> None:
    # L = 5 has 848,820 states: over the default 500,000, which the config check used to apply
    # before the option; raised, the solve starts (and stops at the time limit)
    res = runner.invoke(
        app, ["optimal", config(tmp_path, 5), "--max-states", "1000000", "--time-limit", "0.01"]
    )
    assert res.exit_code == 2
    assert "time limit of 0.01 s" in message(res) and "max_states" not in message(res)
    # lowered, it refuses a small instance (231 states)
    res = runner.invoke(app, ["optimal", config(tmp_path, 2), "--max-states", "100"])
    assert res.exit_code == 2 and "231 states" in message(res) and "max_states=100" in message(res)


def test_limits_from_the_config_and_options_that_override_them(tmp_path: Path) -> None:
    small = config(tmp_path, 2, ", params: {max_states: 100}")
    res = runner.invoke(app, ["optimal", small])
    assert res.exit_code == 2 and "max_states=100" in message(res)
    res = runner.invoke(app, ["optimal", small, "--max-states", "1000", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["states"] == 231
    res = runner.invoke(app, ["optimal", config(tmp_path, 3), "--max-memory", "0.001"])
    assert res.exit_code == 2 and "max_memory=0.001 GiB" in message(res)
    res = runner.invoke(app, ["optimal", config(tmp_path, 2, ", params: {max_stats: 1}")])
    assert res.exit_code == 2 and "max_stats" in message(res) and "max_memory_gib" in message(res)


def test_run_and_validate_honour_the_optimal_entrys_limits(tmp_path: Path) -> None:
    refused = config(tmp_path, 2, ", params: {max_states: 100}")
    for command in (["validate", refused], ["run", refused, "--out", str(tmp_path / "runs"), "--quiet"]):
        res = runner.invoke(app, command)
        assert res.exit_code == 2
        assert "policies[0] (optimal)" in message(res) and "max_states=100" in message(res)
    assert not (tmp_path / "runs" / "experiment").exists()  # refused before any work
    text = ZIPKIN_P9.replace("LEAD", "2") + (
        "policies: [{name: optimal, kind: optimal, params: {max_states: 1000, time_limit: 60}},"
        " {name: bs, kind: base_stock, params: {level: 14}}]\n"
        "evaluation: {episodes: 2, periods: 30}\n"
    )
    res = runner.invoke(
        app, ["run", write(tmp_path, text), "--out", str(tmp_path / "runs"), "--quiet", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    exact = solve_optimal(DPInstance.from_config(parse_env_config(yaml_env(text)))).cost
    assert summary["optimum"]["cost"] == pytest.approx(exact, rel=1e-9)


def yaml_env(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)["env"]
