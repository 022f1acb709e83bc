"""The report: gaps to the exact optimum, a self-contained HTML page, and `stocklab report` rebuilding
everything from the saved results."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from stocklab.experiments.cli.app import app
from stocklab.experiments.config import parse_config
from stocklab.experiments.run.runner import RunOptions, run_experiment
from tests.oracles import lost_sales_l1_optimum, lost_sales_l1_policy_cost

ENV = {"lead_time": 1, "demand": {"dist": "poisson", "mean": 4}, "costs": {"holding": 1, "shortage": 9},
       "initial": {"on_hand": 8}, "max_order": 20}  # fmt: skip
CONFIG = {
    "name": "report_case",
    "env": ENV,
    "policies": [
        {"name": "optimal", "kind": "optimal"},
        {"name": "bs", "kind": "base_stock", "params": {"level": 10}},
        {"name": "ss", "kind": "ss", "params": {"s": 6, "S": 12}},
    ],
    "evaluation": {"episodes": 6, "periods": 1500, "warmup": 50, "seed": 3, "trace_periods": 30},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = parse_config(CONFIG)
    return run_experiment(cfg, RunOptions(out=tmp_path_factory.mktemp("report"), progress=False))


def test_gaps_against_an_independent_dp(run_dir):
    # L = 1 lost sales: the optimum and each policy's exact cost from the small chains of tests.oracles
    optimum = lost_sales_l1_optimum(4.0, 1.0, 9.0, max_order=20)
    summary = json.loads((run_dir / "summary.json").read_text())
    pol = summary["policies"]
    assert summary["optimum"]["cost"] == pytest.approx(optimum, abs=1e-6)
    assert pol["optimal"]["gap_pct"] == pytest.approx(0.0, abs=1e-4)
    orders = {
        "bs": lambda x: min(20, max(0, 10 - x)),  # base-stock 10 on IP = on hand (L = 1)
        "ss": lambda x: min(20, 12 - x) if x <= 6 else 0,  # (s, S) = (6, 12)
    }
    for name, order in orders.items():
        exact = lost_sales_l1_policy_cost(order, 4.0, 1.0, 9.0)
        assert pol[name]["gap_method"] == "exact"
        assert pol[name]["exact_cost"] == pytest.approx(exact, abs=1e-6)
        assert pol[name]["gap_pct"] == pytest.approx(100 * (exact - optimum) / optimum, abs=1e-4)
        assert pol[name]["diff_to_optimal"] is not None
    # simulation and the DP are independent methods: the simulated optimal policy's mean cost must
    # match the DP optimum within its confidence interval (3 half-widths: a 99.9%+ check)
    sim = pol["optimal"]
    assert abs(sim["avg_cost"] - optimum) <= 3 * sim["ci95"]
    # the report lists every policy with its gap
    md = (run_dir / "report.md").read_text()
    for name in ("optimal", "bs", "ss"):
        gap = pol[name]["gap_pct"]
        assert re.search(rf"\| {name} \| .* \| {gap:.2f} \(exact\) \|", md), name


def test_html_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) >= 3  # cost, breakdown, trajectories
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(href|src)=\"https?://", page)
    for section in ("What was run", "KPIs", "Policies", "Plots"):
        assert section in page


def test_report_command_rebuilds_from_saved_results(run_dir):
    before = {n: (run_dir / n).read_text() for n in ("summary.json", "summary.csv", "report.md")}
    for name in ("summary.json", "summary.csv", "report.md", "report.html"):
        (run_dir / name).unlink()
    for png in (run_dir / "plots").glob("*.png"):
        png.unlink()
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    for name, text in before.items():
        assert (run_dir / name).read_text() == text, name
    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {
        "cost.png",
        "cost_breakdown.png",
        "trajectories.png",
    }
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary["policy"]) == list(json.loads(before["summary.json"])["policies"])
