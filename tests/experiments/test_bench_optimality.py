"""`stocklab bench optimality`: every figure checked against an oracle written here; clean errors (exit 2).

The oracles follow the documented timing of a period (README) without stocklab's code: an exact
chain for lost sales with lead time 1 (``tests/oracles.py``) or 2 (below), relative value iteration
for the optimum, and brute force over the classic policies' parameters.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from stocklab.experiments.bench.optimality import (
    instance_config,
    run_instance,
    run_optimality,
    summarise,
    train_and_score,
)
from stocklab.experiments.bench.zipkin import ALL, parse_instances
from stocklab.experiments.cli.app import app
from tests.oracles import lost_sales_l1_optimum, lost_sales_l1_policy_cost

runner = CliRunner()
KEYS = {"agent", "family", "instance", "p", "L", "optimal_cost", "cost", "gap_pct", "seconds"}
MEAN, H = 5.0, 1.0


def lost_sales_l2_policy_cost(order, p: float, top: int = 40) -> float:
    """Exact long-run average cost of a policy q(x, o) for lost sales with lead time 2 (Poisson 5, h 1).

    The state after arrivals is (x, o): x on hand, o the order arriving next period. The policy orders
    q(x, o); demand D is served from x; next state ((x - D)^+ + o, q). States are enumerated from
    (10, 0) breadth first; the stationary distribution solves pi P = pi, sum pi = 1.
    """
    d = np.arange(top + 1)
    pmf = stats.poisson.pmf(d, MEAN)
    pmf[-1] += 1.0 - pmf.sum()
    index: dict[tuple[int, int], int] = {(10, 0): 0}
    rows: list[tuple[int, dict[int, float], float]] = []
    frontier = [(10, 0)]
    while frontier:
        nxt = []
        for x, o in frontier:
            q = int(order(x, o))
            left = np.maximum(x - d, 0)
            cost = float(pmf @ (H * left + p * np.maximum(d - x, 0)))
            probs: dict[int, float] = {}
            for x_next, w in zip((left + o).tolist(), pmf.tolist()):
                key = (x_next, q)
                if key not in index:
                    index[key] = len(index)
                    nxt.append(key)
                probs[index[key]] = probs.get(index[key], 0.0) + w
            rows.append((index[x, o], probs, cost))
        frontier = nxt
    n = len(index)
    mat, costs = np.zeros((n, n)), np.zeros(n)
    for i, probs, cost in rows:
        costs[i] = cost
        for j, w in probs.items():
            mat[i, j] += w
    a = np.vstack([(mat - np.eye(n)).T, np.ones(n)])
    pi = np.linalg.lstsq(a, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return float(pi @ costs)


def _l2_orders(policy, config):
    """The policy's order (units) in state (x, o) of a lead-time-2 instance, read from its action."""
    amap = policy.action_map

    def order(x: int, o: int) -> int:
        obs = np.asarray([x, o, x + o], dtype=np.float32)
        return amap.order(int(policy.act(obs)), x + o)

    return order


def _l1_orders(policy):
    amap = policy.action_map
    return lambda x: amap.order(int(policy.act(np.asarray([x, x], dtype=np.float32))), x)


def test_classic_rows_and_optimum_against_brute_force_oracles_l1() -> None:
    recs = {r["agent"]: r for r in run_instance("p9L1", [])}
    assert set(recs) == {"base_stock", "capped_base_stock"} and all(KEYS <= r.keys() for r in recs.values())
    optimum = lost_sales_l1_optimum(MEAN, H, 9.0, 20)
    assert recs["base_stock"]["optimal_cost"] == pytest.approx(optimum, abs=1e-6)

    def bs(s: int):
        return lambda x: max(0, s - x)

    def cbs(s: int, c: int):
        return lambda x: min(c, max(0, s - x))

    best_bs = min(lost_sales_l1_policy_cost(bs(s), MEAN, H, 9.0) for s in range(31))
    best_cbs = min(
        lost_sales_l1_policy_cost(cbs(s, c), MEAN, H, 9.0) for s in range(31) for c in range(1, 21)
    )
    assert recs["base_stock"]["cost"] == pytest.approx(best_bs, rel=1e-6)
    assert recs["capped_base_stock"]["cost"] == pytest.approx(best_cbs, rel=1e-6)
    s, c = recs["capped_base_stock"]["params"]["level"], recs["capped_base_stock"]["params"]["cap"]
    assert lost_sales_l1_policy_cost(cbs(s, c), MEAN, H, 9.0) == pytest.approx(best_cbs, rel=1e-6)
    for r in recs.values():
        assert r["gap_pct"] == pytest.approx(100 * (r["cost"] / optimum - 1), rel=1e-5)


def test_classic_rows_l2_against_an_independent_chain() -> None:
    recs = {r["agent"]: r for r in run_instance("p39L2", [])}
    s = recs["base_stock"]["params"]["level"]
    costs = {
        k: lost_sales_l2_policy_cost(lambda x, o, k=k: max(0, k - x - o), 39.0) for k in range(s - 2, s + 3)
    }
    assert recs["base_stock"]["cost"] == pytest.approx(costs[s], rel=1e-6)
    assert costs[s] == min(costs.values())  # the best level, at least locally
    lvl, cap = recs["capped_base_stock"]["params"]["level"], recs["capped_base_stock"]["params"]["cap"]
    capped = lost_sales_l2_policy_cost(lambda x, o: min(cap, max(0, lvl - x - o)), 39.0)
    assert recs["capped_base_stock"]["cost"] == pytest.approx(capped, rel=1e-6)
    assert capped <= costs[s] + 1e-9  # capped base-stock contains base-stock (cap = max order)


@pytest.mark.parametrize("agent", ["q_learning", "ppo"])
def test_an_agents_record_re_evaluated_independently(agent: str) -> None:
    instance = "p9L1" if agent == "q_learning" else "p9L2"
    config = instance_config(instance, agent)
    optimum = 5.4382 if instance == "p9L1" else 6.0936  # Zipkin (2008), Table 1 (4 digits)
    start = time.perf_counter()
    record, policy = train_and_score(
        agent, instance, steps=20_000, minutes=1.0, seed=0, sb3_steps=4_096, eval_every=2_048
    )
    wall = time.perf_counter() - start
    if instance == "p9L1":
        independent = lost_sales_l1_policy_cost(_l1_orders(policy), MEAN, H, 9.0)
    else:
        independent = lost_sales_l2_policy_cost(_l2_orders(policy, config), 9.0)
    assert record["cost"] == pytest.approx(independent, rel=1e-6)
    assert record["optimal_cost"] == pytest.approx(optimum, abs=6e-5)
    assert record["gap_pct"] == pytest.approx(100 * (independent / record["optimal_cost"] - 1), rel=1e-5)
    assert 0 < record["seconds"] <= wall and record["cpu_seconds"] <= record["seconds"] * 2.05 + 1
    assert record["steps"] == (4_096 if agent == "ppo" else 20_000)  # the step budgets
    # the curve: the same evaluations, stamped with increasing training times within the budget
    assert [[s, g] for s, _, g in record["curve"]] == record["evaluations"]
    times = [t for _, t, _ in record["curve"]]
    assert times == sorted(times) and 0 < times[-1] <= record["seconds"] + 1e-6
    assert record["steps_per_s"] == pytest.approx(record["steps"] / record["seconds"])
    # the learning curve is exact too: its best point is the policy kept
    assert min(g for _, g in record["evaluations"]) == pytest.approx(record["gap_pct"], abs=1e-6)


def test_instances_names_aliases_and_configs() -> None:
    assert len(ALL) == 16 and parse_instances("all") == list(ALL)
    assert parse_instances("p9L2, p39L3,L1") == ["p9L2", "p39L3", "p9L1"]
    cfg = instance_config("p39L3", "ppo")
    assert (cfg.lead_time.fixed, cfg.demand.mean, cfg.costs.shortage) == (3, 5, 39)
    assert cfg.action.mode == "order_up_to" and cfg.action.max_level == 45
    assert instance_config("L1", "sarsa").action.mode == "quantity"


def test_summary_verdicts() -> None:
    rows = [
        {"instance": "a", "family": "classic", "agent": "base_stock", "cost": 2.0, "gap_pct": 2.0},
        {"instance": "a", "family": "agent", "agent": "ppo", "cost": 1.5, "gap_pct": 1.5},
        {"instance": "b", "family": "classic", "agent": "capped_base_stock", "cost": 1.0, "gap_pct": 1.0},
        {"instance": "b", "family": "agent", "agent": "sarsa", "cost": 1.5, "gap_pct": 1.5},
    ]
    s = summarise(rows)
    assert [x["learned_beats_classic"] for x in s] == [True, False]
    assert s[1]["best_classic"] == "capped_base_stock" and s[0]["best_learned_gap_pct"] == 1.5


def test_jobs_run_instances_in_processes_with_the_same_results() -> None:
    one = run_optimality([], instances=["p4L1", "p19L1"], jobs=1)
    two = run_optimality([], instances=["p4L1", "p19L1"], jobs=2)
    assert [(r["instance"], r["agent"], r["cost"]) for r in one] == [
        (r["instance"], r["agent"], r["cost"]) for r in two
    ]


def test_cli_json_and_errors() -> None:
    res = runner.invoke(
        app,
        ["bench", "optimality", "--agents", "sarsa", "--steps", "5000", "--instances", "L1", "--json",
         "--no-classic", "--throughput-steps", "2000"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rec = data["records"][0]
    assert KEYS <= rec.keys() and rec["agent"] == "sarsa" and rec["instance"] == "p9L1"
    assert data["budget"]["tabular_steps"] == 5000 and rec["budget"]["steps"] == 5000
    assert rec["env_steps_per_s"] > 0 and rec["loop_steps_per_s"] > 0  # measured: no oracle for speed
    res = runner.invoke(app, ["bench", "optimality", "--agents", "q_lerning"])
    assert res.exit_code == 2 and "unknown agent 'q_lerning'" in res.output
    res = runner.invoke(app, ["bench", "optimality", "--instances", "p9L7"])
    assert res.exit_code == 2 and "unknown instance 'p9L7'" in res.output and "p9L2" in res.output
    res = runner.invoke(app, ["bench", "optimality", "--instances", "L1", "--clock", "moon"])
    assert res.exit_code == 2 and "--clock 'moon'" in res.output
