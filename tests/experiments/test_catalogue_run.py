"""Catalogue runs: the evaluation and KPIs against hand traces of a two-SKU catalogue, and one run end to end.

The hand trace (lost sales, lead time 1, deterministic demand, base-stock level 4 for both SKUs):

* SKU A (demand 2, start 5 on hand, h = 1, p = 9, c = 2): orders 0, 1, 2, 2; ends periods with
  3, 1, 0, 0 on hand; never short: holding 4 over 4 periods, 8 sold of 8.
* SKU B (demand 3, start empty, h = 2, p = 5, c = 1): orders 4, 0, 3, 1; ends with 0, 1, 0, 0 on
  hand; short 3 then 2 units: holding 2, shortage 25, 7 sold of 12.

With a shared capacity of 10 units nothing binds; with 6, B's first arrival (4 units) meets 3 units of
room (A holds 3) and pro rata keeps 3: B then ends period 1 empty (holding 0), the rest as above.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from stocklab.baselines.policies.classic import BaseStock
from stocklab.envs.catalogue.build import build_catalogue
from stocklab.experiments.analysis.catalogue import kpis as K
from stocklab.experiments.cli.app import app
from stocklab.experiments.run.catalogue.evaluate import evaluate
from stocklab.experiments.run.catalogue.policies import _rules
from stocklab.experiments.run.catalogue.results import episode_rows, period_rows

runner = CliRunner()


def two_skus(capacity: float) -> object:
    section = {
        "skus": [
            {"sku": "A", "demand": {"dist": "empirical", "values": [2], "probs": [1.0]},
             "costs": {"holding": 1, "shortage": 9}, "unit_cost": 2, "initial": {"on_hand": 5}},
            {"sku": "B", "demand": {"dist": "empirical", "values": [3], "probs": [1.0]},
             "costs": {"holding": 2, "shortage": 5}, "unit_cost": 1},
        ],
        "shared": {"capacity": {"limit": capacity, "measure": "units", "rule": "pro_rata"}},
    }  # fmt: skip
    env = {"unmet_demand": "lost", "lead_time": 1, "max_order": 50, "initial": {"on_hand": 0}}
    return build_catalogue(section, env)


def run_two(capacity: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cat = two_skus(capacity)
    policy = _rules(cat, lambda i, c, s, a: BaseStock(s, a, 4), "bs", {})
    episodes = evaluate(cat, policy, [11, 12], periods=4, warmup=0)
    return episode_rows("bs", "per_sku", episodes, cat), period_rows("bs", episodes)


def test_two_sku_kpis_by_hand_capacity_slack() -> None:
    eps, per = run_two(10)
    a, b = (eps[(eps.sku == s) & (eps.episode == 0)].iloc[0] for s in "AB")
    assert (a.holding_cost, a.shortage_cost, a.sold, a.demand, a.ordered) == (1.0, 0.0, 8, 8, 5)
    assert (b.holding_cost, b.shortage_cost, b.sold, b.lost, b.ordered) == (0.5, 6.25, 7, 5, 8)
    assert (b.stockout_periods, b.order_periods) == (2, 3)
    assert per[per.episode == 0].capacity_used.tolist() == [7, 3, 5, 3]
    k = K.policy_kpis(eps, per, capacity=10, budget=None, bound=7.0)["bs"]
    assert k["cost"] == pytest.approx(7.75)
    assert k["ci95"] == pytest.approx(0.0)  # deterministic demand: both episodes agree
    assert k["fill_rate"] == pytest.approx(15 / 20)
    assert k["stockout_sku_share"] == pytest.approx(0.5)
    assert k["inventory_value"] == pytest.approx(2 * 1.0 + 1 * 0.25)
    assert k["turns"] == pytest.approx((2 * 8 / 4 + 1 * 7 / 4) / 2.25)
    assert (k["capacity_util"], k["capacity_peak"], k["within_capacity"]) == (0.45, 0.7, 1.0)
    assert k["gap_pct"] == pytest.approx(100 * 0.75 / 7.0)


def test_two_sku_kpis_by_hand_capacity_binds() -> None:
    eps, per = run_two(6)
    b = eps[(eps.sku == "B") & (eps.episode == 0)].iloc[0]
    assert (b.refused, b.holding_cost, b.shortage_cost, b.sold) == (1, 0.0, 6.25, 7)
    assert per[per.episode == 0].capacity_used.tolist() == [6, 3, 5, 3]
    assert per[per.episode == 0].refused.tolist() == [1, 0, 0, 0]
    k = K.policy_kpis(eps, per, capacity=6)["bs"]
    assert k["cost"] == pytest.approx(7.25)
    assert k["inventory_value"] == pytest.approx(2.0)
    assert k["capacity_util"] == pytest.approx(17 / 4 / 6)
    assert (k["capacity_peak"], k["within_capacity"], k["capacity_violations"]) == (1.0, 0.75, 2)
    assert k["gap_pct"] is None
    seg = K.segment_kpis(eps.assign(segment=np.where(eps.sku == "A", "x", "y")))
    assert dict(zip(seg.segment, seg.cost)) == pytest.approx({"x": 1.0, "y": 6.25})
    assert dict(zip(seg.segment, seg.cost_share)) == pytest.approx({"x": 1 / 7.25, "y": 6.25 / 7.25})


def test_paired_difference_and_best_policy() -> None:
    rows = pd.DataFrame(
        {"policy": ["p", "p", "q", "q"], "episode": [0, 1, 0, 1], "avg_cost": [3.0, 5.0, 2.0, 3.0]}
    )
    d = K.paired_difference(rows, "p", "q")
    assert d["mean"] == pytest.approx(1.5) and d["pct"] == pytest.approx(60.0)
    kp = {"p": {"cost": 1.0, "within_capacity": 0.9}, "q": {"cost": 2.0, "within_capacity": 1.0}}
    assert K.best_policy(kp) == "q"  # p is cheaper but breaks the capacity in 10% of periods


SMALL = {
    "name": "cat_small_test",
    "env": {"unmet_demand": "lost", "lead_time": 1, "costs": {"holding": 1.0, "shortage": 9.0},
            "max_order": 40, "initial": {"on_hand": 5}, "periods": 100},
    "catalogue": {
        "skus": [
            {"sku": "A", "demand": {"dist": "poisson", "mean": 4}, "volume": 1, "unit_cost": 2},
            {"sku": "B", "demand": {"dist": "poisson", "mean": 8}, "volume": 2, "unit_cost": 1},
            {"sku": "C", "demand": {"dist": "poisson", "mean": 3}, "lead_time": 2, "volume": 1},
        ],
        "shared": {"capacity": {"limit": 45, "measure": "volume", "rule": "pro_rata"}},
    },
    "policies": [
        {"name": "base_stock", "kind": "per_sku"},
        {"name": "capped", "kind": "per_sku", "params": {"base": "capped_base_stock", "caps": [1.0, None]}},
        {"name": "coordinator", "kind": "lagrangian"},
        {"name": "newsvendor", "kind": "newsvendor"},
    ],
    "evaluation": {"episodes": 2, "periods": 150, "warmup": 10, "worst": 3,
                   "tuning": {"episodes": 1, "periods": 150, "warmup": 10}},
}  # fmt: skip


SMALL_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "catalogue_small.yaml"


@pytest.mark.slow
def test_catalogue_small_end_to_end_through_the_cli(catalogue_run: Path) -> None:
    root = catalogue_run  # the shipped config through `stocklab run`, shrunk (conftest.CATALOGUE_SETTINGS)
    for name in ("catalogue_episodes.csv", "catalogue_periods.csv", "catalogue_summary.json", "report.md",
                 "report.html", "plots/cost_by_sku.png", "plots/pareto.png", "plots/worst_skus.png",
                 "plots/capacity.png"):  # fmt: skip
        assert (root / name).is_file(), name
    s = json.loads((root / "catalogue_summary.json").read_text())
    names = ["base_stock", "capped", "coordinator", "newsvendor", "shared_ppo"]
    assert list(s["policies"]) == names
    assert s["bound"]["applies"] and s["bound"]["value"] > 0
    eps = pd.read_csv(root / "catalogue_episodes.csv")
    assert len(eps) == len(names) * 2 * 6  # policies x episodes x SKUs
    # paired: every policy saw the same demand in each episode, SKU by SKU
    demand = eps.pivot_table(index=["episode", "sku"], columns="policy", values="demand")
    assert (demand.nunique(axis=1) == 1).all()
    # the table's catalogue cost is the sum of the SKUs' costs
    cost = eps.groupby("policy")["avg_cost"].sum() / 2
    assert cost["coordinator"] == pytest.approx(s["policies"]["coordinator"]["cost"])
    html = (root / "report.html").read_text()
    assert f"Best policy: {s['best']}" in html and "Lagrangian lower bound" in html


M3_CONFIG = SMALL_CONFIG.with_name("catalogue_m3.yaml")


@pytest.mark.slow
def test_catalogue_m3_runs_end_to_end_on_a_sample_of_its_skus(tmp_path: Path) -> None:
    # the shipped M3 catalogue on 24 of its 474 SKUs: 20,000 units of room for 24 SKUs never binds,
    # so the coordinator's price is 0 and it orders exactly as per-SKU base-stock (weak duality, slack)
    shrink = ["catalogue.select.sample=24", "catalogue.select.seed=1", "policies.4.train.steps=1024",
              "evaluation.tuning.periods=100", "evaluation.tuning.warmup=10"]  # fmt: skip
    args = ["run", str(M3_CONFIG), "--out", str(tmp_path / "runs"), "--quiet"]
    res = runner.invoke(app, args + [a for s in shrink for a in ("--set", s)])
    assert res.exit_code == 0, res.output
    root = tmp_path / "runs" / "catalogue_m3"
    s = json.loads((root / "catalogue_summary.json").read_text())
    assert list(s["policies"]) == ["base_stock", "capped", "coordinator", "newsvendor", "shared_ppo"]
    assert not s["bound"]["applies"]  # replayed months are not a stationary distribution
    eps = pd.read_csv(root / "catalogue_episodes.csv")
    assert eps["sku"].nunique() == 24 and len(eps) == 5 * 24  # one replayed episode per SKU
    assert s["policies"]["coordinator"]["cost"] == s["policies"]["base_stock"]["cost"]
    assert all(row["within_capacity"] == 1.0 for row in s["policies"].values())
    assert (root / "report.html").is_file()


def test_bad_catalogue_policy_kind_exit_2(tmp_path: Path) -> None:
    bad = dict(SMALL, policies=[{"name": "x", "kind": "per_skuu"}])
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2
    assert "policies" in res.output and "per_skuu" in res.output


def test_bench_catalogue_json_small() -> None:
    res = runner.invoke(
        app, ["bench", "catalogue", "--skus", "20", "--periods", "20", "--repeats", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["skus"] == 20 and out["sku_periods_per_s"] > 0 and len(out["runs"]) == 1
    assert out["shared_network"]["sku_periods_per_s"] > 0
    decide = out["decide"]  # one POST /decide with the 20 SKUs' states, to a real `stocklab serve`
    assert decide["states"] == 20 and decide["statuses"] == {"200": decide["requests"] + 2}
    assert decide["in_service_ms"]["median"] > 0


def test_validate_catalogue_config_and_bad_attribute(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(SMALL_CONFIG)])
    assert res.exit_code == 0 and "catalogue of 6 SKUs" in res.output
    res = runner.invoke(app, ["validate", str(SMALL_CONFIG.with_name("catalogue_stationary.yaml"))])
    assert res.exit_code == 0 and "catalogue of 120 SKUs, shared capacity, 5 policies" in res.output
    bad = yaml.safe_load(SMALL_CONFIG.read_text())
    bad["policies"][2]["params"] = {"exact": 5}
    (tmp_path / "exact.yaml").write_text(yaml.safe_dump(bad))
    res = runner.invoke(app, ["validate", str(tmp_path / "exact.yaml")])
    assert res.exit_code == 2 and "params.exact: 5" in res.output and "Traceback" not in res.output
    bad = yaml.safe_load(SMALL_CONFIG.read_text())
    bad["catalogue"]["skus"][2]["lead_time"] = -1
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "lead_time" in res.output and "-1" in res.output
