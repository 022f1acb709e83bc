"""Tuning: the exact formulas against brute force and the DP, and the simulation search.

Reference values come from independent computations: direct sums over the demand pmf, the
stationary distribution of the (s, S) inventory-position Markov chain solved by linear algebra, the
exact DP of ``stocklab.baselines.exact.solver``, and scipy's Student t quantile.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from stocklab.baselines import build_policy
from stocklab.baselines.exact.solver import DPInstance, best_base_stock, evaluate_policy, policy_chain
from stocklab.baselines.tuning import search as tuning_module
from stocklab.baselines.tuning.search import TuneResult, grid_search, tune
from stocklab.baselines.tuning.theory import RenewalCost, fractile_base_stock, zheng_federgruen
from stocklab.envs import ConfigError, parse_env_config
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense solves run far slower when BLAS threads compete for the 2 shared cores."""
    with threadpool_limits(limits=1):
        yield


def poisson_pmf(mean: float) -> np.ndarray:
    pmf = stats.poisson(mean).pmf(np.arange(int(mean + 15 * math.sqrt(mean)) + 15))
    return pmf / pmf.sum()


def direct_G(pmf: np.ndarray, h: float, p: float, ys: np.ndarray) -> np.ndarray:
    """h E(y - D)^+ + p E(D - y)^+ by summing over every demand value."""
    d = np.arange(len(pmf))
    diff = ys[:, None] - d[None, :]
    return (h * np.maximum(diff, 0) + p * np.maximum(-diff, 0)) @ pmf


def stationary_offsets(pmf: np.ndarray, delta: int) -> tuple[np.ndarray, float]:
    """Stationary law of the inventory position after ordering under (s, s + delta), L = 0, backorders,
    as offsets j = x - s in 1..delta (x -> x - D if that is > s, else S), and the order frequency.

    The chain of offsets does not depend on s, so one linear solve serves every s.
    """
    j = np.arange(1, delta + 1)
    nxt = j[:, None] - np.arange(len(pmf))[None, :]  # next offset before ordering
    nxt = np.where(nxt >= 1, nxt, delta)  # at or below s: order up to S (offset delta)
    P = np.zeros((delta, delta))
    np.add.at(P, (np.repeat(j - 1, len(pmf)), nxt.ravel() - 1), np.tile(pmf, delta))
    A = (np.eye(delta) - P).T
    A[-1, :] = 1.0
    b = np.zeros(delta)
    b[-1] = 1.0
    pi = np.linalg.solve(A, b)
    order_next = 1.0 - np.concatenate([np.cumsum(pmf), np.ones(delta)])[j - 1]  # P(D >= j)
    return pi, float(pi @ order_next)


def chain_costs(
    pmf: np.ndarray, h: float, p: float, K: float, delta: int, s_values: np.ndarray
) -> np.ndarray:
    """Exact average cost (per period) of (s, s + delta) for each s in ``s_values`` (consecutive)."""
    pi, freq = stationary_offsets(pmf, delta)
    G = direct_G(pmf, h, p, np.arange(s_values[0] + 1, s_values[-1] + delta + 1))
    return np.lib.stride_tricks.sliding_window_view(G, delta) @ pi + K * freq


def exhaustive_ss(pmf, h, p, K, s_range, max_delta):
    """The cheapest (s, S) with s in range(*s_range) and S - s <= max_delta, and its cost."""
    s_values = np.arange(*s_range)
    G = direct_G(pmf, h, p, np.arange(s_values[0] + 1, s_values[-1] + max_delta + 1))
    best = (math.inf, None)
    for delta in range(1, max_delta + 1):
        pi, freq = stationary_offsets(pmf, delta)
        costs = (
            np.lib.stride_tricks.sliding_window_view(G[: len(s_values) + delta - 1], delta) @ pi + K * freq
        )
        i = int(np.argmin(costs))
        if costs[i] < best[0]:
            best = (float(costs[i]), (int(s_values[i]), int(s_values[i]) + delta))
    return best


# ------------------------------------------------------------------------------------ base stock
@pytest.mark.parametrize("lead_time", [0, 1, 2])
def test_fractile_level_minimises_the_directly_summed_cost(lead_time):
    pmf = poisson_pmf(5)
    lt = pmf
    for _ in range(lead_time):
        lt = np.convolve(lt, pmf)
    ys = np.arange(0, 60)
    assert fractile_base_stock(pmf, lead_time, 1.0, 9.0) == ys[np.argmin(direct_G(lt, 1.0, 9.0, ys))]


@pytest.mark.parametrize("lead_time", [0, 1, 2])
def test_fractile_level_equals_the_dp_best_base_stock(lead_time):
    cfg = parse_env_config(
        {
            "unmet_demand": "backorder",
            "lead_time": lead_time,
            "demand": {"dist": "poisson", "mean": 5},
            "max_order": 40,
        }
    )
    result = tune(cfg, "base_stock")
    level, cost = best_base_stock(DPInstance.from_config(cfg))
    assert result.method == "exact"
    assert result.params == {"level": level}
    assert result.avg_cost == pytest.approx(cost, rel=1e-6)


# -------------------------------------------------------------------------------- (s, S), ZF
ZF_CASES = [
    pytest.param(10, id="mean10"),
    pytest.param(25, id="mean25"),
    pytest.param(50, id="mean50"),
    pytest.param(75, id="mean75"),
]


@pytest.mark.parametrize("mean", ZF_CASES)
def test_zheng_federgruen_matches_exhaustive_search(mean):
    # Zheng & Federgruen (1991), Table 1 instances: Poisson demand, K = 64, h = 1, p = 9, L = 0.
    pmf = poisson_pmf(mean)
    s, S, cost = zheng_federgruen(pmf, 0, 1.0, 9.0, 64.0)
    # region: s within +- 4 standard deviations of the mean, S - s up to 3 EOQ (EOQ = sqrt(2 K mean / h))
    sd, eoq = math.sqrt(mean), math.sqrt(2 * 64 * mean)
    s_range = (int(mean - 4 * sd), int(mean + 4 * sd))
    max_delta = int(3 * eoq)
    best_cost, (bs, bS) = exhaustive_ss(pmf, 1.0, 9.0, 64.0, s_range, max_delta)
    assert s_range[0] < bs < s_range[1] - 1 and bS - bs < max_delta  # optimum inside the region
    assert cost == pytest.approx(best_cost, rel=1e-9)
    assert chain_costs(pmf, 1.0, 9.0, 64.0, S - s, np.array([s]))[0] == pytest.approx(best_cost, rel=1e-9)
    if mean <= 25:  # unique optimum; for larger means s hardly matters (D < S - s has mass ~1e-20)
        assert (s, S) == (bs, bS)
    else:
        assert S == bS


def test_zheng_federgruen_reproduces_the_papers_first_instance():
    # mean 10: (s, S) = (6, 40), cost 35.022 (Zheng & Federgruen 1991, Table 1)
    s, S, cost = zheng_federgruen(poisson_pmf(10), 0, 1.0, 9.0, 64.0)
    assert (s, S) == (6, 40) and cost == pytest.approx(35.022, abs=5e-4)


def test_renewal_cost_equals_the_markov_chain_cost():
    pmf = poisson_pmf(6)
    cost = RenewalCost(pmf, 0, 2.0, 7.0, 30.0)
    for s, S in [(0, 5), (3, 20), (-2, 9), (8, 9)]:
        assert cost(s, S) == pytest.approx(
            chain_costs(pmf, 2.0, 7.0, 30.0, S - s, np.array([s]))[0], rel=1e-10
        )


def test_zheng_federgruen_with_lead_time_matches_exhaustive_dp_evaluation():
    cfg = parse_env_config(
        {
            "unmet_demand": "backorder", "lead_time": 1, "max_order": 60,
            "demand": {"dist": "poisson", "mean": 3}, "costs": {"holding": 1, "shortage": 9, "fixed_order": 20},
        }
    )  # fmt: skip
    inst = DPInstance.from_config(cfg)
    result = tune(cfg, "ss")
    assert result.method == "exact" and result.algorithm.startswith("Zheng")
    costs = {
        (s, S): evaluate_policy(inst, build_policy("ss", cfg, {"s": s, "S": S}))
        for s in range(0, 12)
        for S in range(s + 1, s + 22)
    }
    (bs, bS), best = min(costs.items(), key=lambda kv: kv[1])
    assert 0 < bs < 11 and bS - bs < 21  # optimum inside the region
    assert result.params == {"s": bs, "S": bS}
    assert result.avg_cost == pytest.approx(best, rel=1e-7)


# ------------------------------------------------------------------------------------ search
def test_grid_search_finds_an_off_grid_minimum():
    target = (37, 4)
    seen = []

    def score(point):
        seen.append(point)
        return (point[0] - target[0]) ** 2 + 3 * (point[1] - target[1]) ** 2

    best, value, n = grid_search([(0, 100), (1, 30)], score)
    assert best == target and value == 0 and n == len(set(seen)) < 300


def test_exact_search_agrees_with_the_dp_best_base_stock_for_lost_sales():
    cfg = parse_env_config({"unmet_demand": "lost", "lead_time": 2, "demand": {"dist": "poisson", "mean": 5}})
    result = tune(cfg, "base_stock")
    level, cost = best_base_stock(DPInstance.from_config(cfg))
    assert result.method == "exact" and result.params == {"level": level}
    assert result.avg_cost == pytest.approx(cost, rel=1e-9)


def test_simulation_search_on_common_random_numbers(monkeypatch):
    monkeypatch.setattr(tuning_module, "_exact_scorer", lambda config, kind: None)
    cfg = parse_env_config({"unmet_demand": "lost", "lead_time": 1, "demand": {"dist": "poisson", "mean": 5}})
    first = tune(cfg, "base_stock", episodes=4, periods=400, warmup=50, seed=3)
    again = tune(cfg, "base_stock", episodes=4, periods=400, warmup=50, seed=3)
    assert first == again and first.method == "simulation"
    # the reported cost and CI are the t-interval of the best level's episodes on the same seeds
    costs = episode_costs(
        cfg, build_policy("base_stock", cfg, first.params).act, episode_seeds(3, 4), 400, warmup=50
    )
    half = stats.t.ppf(0.975, 3) * costs.std(ddof=1) / 2.0
    assert first.avg_cost == pytest.approx(costs.mean()) and first.ci95 == pytest.approx(half)
    # and the level is the exact optimum (the DP), or a neighbour the noise cannot tell apart
    level, _ = best_base_stock(DPInstance.from_config(cfg))
    assert abs(first.params["level"] - level) <= 1


def test_tune_rejects_untunable_kinds():
    cfg = parse_env_config({})
    with pytest.raises(ConfigError, match="Did you mean 'ss'"):
        tune(cfg, "sss")
    with pytest.raises(ConfigError, match="cannot be tuned"):
        tune(cfg, "lp")


def test_tune_result_is_json_ready():
    result = TuneResult({"s": 1, "S": 4}, 2.5, 0.0, "exact", 1, "Zheng-Federgruen (1991)")
    assert result.to_dict()["params"] == {"s": 1, "S": 4}


def test_docstring_examples_of_the_formulas():
    import doctest

    from stocklab.baselines.tuning import theory

    assert doctest.testmod(theory).failed == 0


def test_tuning_refuses_a_warmup_longer_than_a_stopping_replay():
    from stocklab.baselines.tuning.search import tune
    from stocklab.envs import ConfigError, parse_env_config

    cfg = parse_env_config({"demand": {"dist": "replay", "values": [3, 4, 5] * 20, "at_end": "stop"}})
    with pytest.raises(ConfigError, match=r"warmup \(=100\) must be shorter than the 60 periods"):
        tune(cfg, "base_stock", warmup=100)


def test_exact_time_budget_is_honoured_inside_one_evaluation(monkeypatch):
    # One candidate whose exact evaluation would take ~90 states x 0.05 s: the deadline is checked
    # at every level of the chain's enumeration, so the scorer gives up long before the end.
    import time as time_mod

    calls = []

    class Slow:
        def __init__(self, policy):
            self.policy = policy

        def __call__(self, obs):
            calls.append(1)
            time_mod.sleep(0.05)
            return self.policy.act(obs)

    cfg = parse_env_config({
        "unmet_demand": "backorder", "lead_time": 1, "demand": {"dist": "poisson", "mean": 10},
        "costs": {"holding": 1, "shortage": 9, "fixed_order": 40}, "max_order": 60,
    })  # fmt: skip
    states = policy_chain(DPInstance.from_config(cfg), build_policy("rq", cfg, {"r": 17, "Q": 32})).states
    assert states > 100
    monkeypatch.setattr(tuning_module, "EXACT_TIME_BUDGET", 0.2)
    monkeypatch.setattr(
        tuning_module, "build_policy", lambda kind, config, params: Slow(build_policy(kind, config, params))
    )
    score = tuning_module._exact_scorer(cfg, "rq")
    with pytest.raises(tuning_module._NotExact):
        score({"r": 17, "Q": 32})
    assert 0 < len(calls) < 60  # stopped inside the evaluation (the whole chain has > 100 states)
