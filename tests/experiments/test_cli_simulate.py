"""`stocklab simulate` and `stocklab validate`: figures, JSON keys and clean errors (exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
STOCKLAB = [sys.executable, "-c", "from stocklab.experiments.cli.app import main; main()"]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*STOCKLAB, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_simulate_json_matches_newsvendor(tmp_path):
    # L = 0 backorders: base-stock S costs E[h (S-D)^+ + p (D-S)^+] per period (newsvendor).
    cfg = tmp_path / "nv.yaml"
    cfg.write_text(
        "env: {unmet_demand: backorder, lead_time: 0, demand: {dist: poisson, mean: 5},"
        " costs: {holding: 1, shortage: 9}}\n"
    )
    res = cli("simulate", str(cfg), "--order-up-to", "8", "--episodes", "8", "--periods", "2000", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"avg_cost", "ci95", "fill_rate"} <= data.keys()
    d = range(0, 100)
    exact = sum(stats.poisson.pmf(k, 5) * (max(8 - k, 0) + 9 * max(k - 8, 0)) for k in d)
    assert abs(data["avg_cost"] - exact) <= 1.5 * data["ci95"] + 1e-9
    fill = sum(stats.poisson.pmf(k, 5) * min(k, 8) for k in d) / 5
    assert data["fill_rate"] == pytest.approx(fill, abs=0.01)


def test_simulate_table_output():
    res = cli("simulate", "configs/quickstart.yaml", "--order", "5", "--episodes", "2", "--periods", "200")
    assert res.returncode == 0, res.stderr
    assert "average cost / period" in res.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["simulate", "configs/quickstart.yaml"], "exactly one of --order-up-to S or --order Q"),
        (["simulate", "configs/quickstart.yaml", "--order", "5", "--order-up-to", "9"], "exactly one"),
        (["simulate", "missing.yaml", "--order", "5"], "missing.yaml: config file not found"),
        (["simulate", "configs/quickstart.yaml", "--order-up-to", "-4"], "level (=-4) must be >= 0"),
        (
            ["simulate", "configs/quickstart.yaml", "--order", "5", "--set", "env.costs.holding=-1"],
            "env.costs.holding",
        ),
        (["simulate", "configs/quickstart.yaml", "--order", "5", "--episodes", "0"], "--episodes"),
        (["validate", "configs/quickstart.yaml", "--set", "env.lead_tme=3"], "Did you mean 'lead_time'?"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(args, fragment):
    res = cli(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert fragment in " ".join(res.stderr.split()), res.stderr
    assert "Traceback" not in res.stderr


def test_validate_ok():
    res = cli("validate", "configs/quickstart.yaml")
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {lead_time: [1, 2\n")
    res = cli("validate", str(bad))
    assert res.returncode == 2
    assert "not valid YAML" in res.stderr


def test_help_texts_reflow_and_keep_their_words():
    """Help paragraphs are reflowed (no line broken mid-sentence) and no placeholder is eaten as markup."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "write a run folder export reads. The agent trains" in text
    assert "The folder OUT/NAME-POLICY/ is a run of that one policy" in text
    assert "``" not in result.output
