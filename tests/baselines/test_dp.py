"""The exact DP against independently obtained numbers: the newsvendor closed form, brute force over
every deterministic stationary policy of tiny instances, hand-built Markov chains, (s, S) theory,
and long simulations of the env."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from stocklab.baselines.exact.chain import UnboundedChainError
from stocklab.baselines.exact.solver import DPInstance, best_base_stock, evaluate_policy, solve_optimal
from stocklab.baselines.policies.classic import BaseStock
from stocklab.envs import ConfigError, ObsSpec, PolicyError, parse_env_config
from stocklab.envs.core.policy import ActionMap
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs

State = tuple[int, ...]
Step = Callable[[State, int], tuple[list[tuple[float, State]], float]]


def env(**kw: object):
    return parse_env_config(kw)


def period_cost(y: int, pmf: np.ndarray, h: float, p: float) -> float:
    """h E(y - D)^+ + p E(D - y)^+ summed over the pmf (y = stock facing the demand)."""
    d = np.arange(len(pmf))
    return float(pmf @ (h * np.maximum(y - d, 0) + p * np.maximum(d - y, 0)))


def chain_matrices(states: list[State], actions: list[int], step: Step) -> tuple[np.ndarray, np.ndarray]:
    """P[s, a, s'] and c[s, a] of a small MDP, from a step function written in the test."""
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    trans = np.zeros((n, len(actions), n))
    cost = np.zeros((n, len(actions)))
    for i, s in enumerate(states):
        for a, q in enumerate(actions):
            outcomes, cost[i, a] = step(s, q)
            for prob, nxt in outcomes:
                trans[i, a, idx[nxt]] += prob
    return trans, cost


def limiting_gains(p: np.ndarray, c: np.ndarray, start: int) -> np.ndarray:
    """Long-run average cost from ``start`` of a batch of chains p[k] (n x n) with costs c[k]:
    the Cesaro limit of P^t equals the limit of the lazy chain ((I + P) / 2)^t, taken by squaring."""
    lazy = 0.5 * (p + np.eye(p.shape[1]))
    for _ in range(48):
        lazy = lazy @ lazy
        lazy /= lazy.sum(axis=-1, keepdims=True)  # keep rounding from compounding over 2^48 steps
    assert np.allclose(lazy @ p, lazy, atol=1e-9)  # the limit is reached
    return np.einsum("kj,kj->k", lazy[:, start, :], c)


def brute_force_optimum(states: list[State], actions: list[int], step: Step, start: State) -> float:
    """Minimum average cost over every deterministic stationary policy (one action per state)."""
    trans, cost = chain_matrices(states, actions, step)
    n = len(states)
    policies = np.asarray(list(itertools.product(range(len(actions)), repeat=n)))
    rows = np.arange(n)
    gains = limiting_gains(trans[rows, policies], cost[rows, policies], states.index(start))
    return float(gains.min())


# ------------------------------------------------------------------------- 1. newsvendor (L = 0)
@pytest.mark.parametrize("mode", ["backorder", "lost"])
@pytest.mark.parametrize(
    ("demand", "h", "p"),
    [
        ({"dist": "poisson", "mean": 5}, 1.0, 9.0),
        ({"dist": "negative_binomial", "mean": 4, "dispersion": 2.5}, 2.0, 5.0),
    ],
)
def test_lead_time_0_optimum_is_the_newsvendor(mode: str, demand: dict, h: float, p: float) -> None:
    # max_order above any demand of the pmf, so that the order-up-to level is always reached
    cfg = env(
        unmet_demand=mode, lead_time=0, demand=demand, costs={"holding": h, "shortage": p}, max_order=200
    )
    if demand["dist"] == "poisson":
        dist = stats.poisson(demand["mean"])
    else:
        n = demand["mean"] / (demand["dispersion"] - 1)
        dist = stats.nbinom(n, 1 / demand["dispersion"])
    level = int(dist.ppf(p / (p + h)))  # critical fractile
    d = np.arange(400)
    exact = period_cost(level, dist.pmf(d), h, p)
    inst = DPInstance.from_config(cfg)
    sol = solve_optimal(inst)
    assert sol.cost == pytest.approx(exact, rel=1e-6)
    bs_level, bs_cost = best_base_stock(inst)
    assert bs_level == level
    assert bs_cost == pytest.approx(exact, rel=1e-6)


# --------------------------------------------------------------------- 2. brute force over policies
# Poisson(0.3) demand folded at tail mass 0.005: demand 0..3, small enough to enumerate every policy.
TINY = {"demand": {"dist": "poisson", "mean": 0.3}, "capacity": 3}
TINY_TOL = 0.005


def tiny_pmf() -> np.ndarray:
    dist = stats.poisson(0.3)
    pmf = dist.pmf(np.arange(4))
    pmf[3] = dist.sf(2)  # P(D >= 3)
    return pmf


def test_tiny_pmf_is_what_the_dp_uses() -> None:
    inst = DPInstance.from_config(env(**TINY, lead_time=1), tol=TINY_TOL)
    np.testing.assert_allclose(inst.pmf, tiny_pmf(), rtol=1e-12)


def test_brute_force_lost_sales_lead_time_1() -> None:
    h, p, k, c, cap = 1.0, 6.0, 2.0, 0.5, 3
    pmf = tiny_pmf()

    def step(s: State, q: int) -> tuple[list[tuple[float, State]], float]:
        (x,) = s
        nxt = [(pmf[d], (min(cap, max(x - d, 0) + q),)) for d in range(4)]
        return nxt, k * (q > 0) + c * q + period_cost(x, pmf, h, p)

    best = brute_force_optimum([(x,) for x in range(cap + 1)], [0, 1, 2], step, (0,))
    cfg = env(
        **TINY,
        lead_time=1,
        max_order=2,
        costs={"holding": h, "shortage": p, "fixed_order": k, "unit_order": c},
    )
    sol = solve_optimal(DPInstance.from_config(cfg, tol=TINY_TOL))
    assert sol.cost == pytest.approx(best, abs=1e-7)


def test_brute_force_lost_sales_lead_time_2() -> None:
    h, p, k, cap = 1.0, 8.0, 1.0, 3
    pmf = tiny_pmf()

    def step(s: State, q: int) -> tuple[list[tuple[float, State]], float]:
        x, due = s  # on hand after arrivals, units arriving next period
        nxt = [(pmf[d], (min(cap, max(x - d, 0) + due), q)) for d in range(4)]
        return nxt, k * (q > 0) + period_cost(x, pmf, h, p)

    states = [(x, due) for x in range(cap + 1) for due in (0, 1)]
    best = brute_force_optimum(states, [0, 1], step, (0, 0))
    cfg = env(**TINY, lead_time=2, max_order=1, costs={"holding": h, "shortage": p, "fixed_order": k})
    sol = solve_optimal(DPInstance.from_config(cfg, tol=TINY_TOL))
    assert sol.cost == pytest.approx(best, abs=1e-7)


def test_brute_force_backorders_lead_time_1() -> None:
    # Net inventory -4..3; the test floors it at -4, which no policy near the optimum reaches
    # (a backlog of 4 costs p * 4 = 16 per period, far above the optimum).
    h, p, k, cap, floor = 1.0, 4.0, 1.5, 3, -4
    pmf = tiny_pmf()

    def step(s: State, q: int) -> tuple[list[tuple[float, State]], float]:
        (y,) = s
        nxt = [(pmf[d], (max(floor, min(cap, y - d + q)),)) for d in range(4)]
        return nxt, k * (q > 0) + period_cost(y, pmf, h, p)

    best = brute_force_optimum([(y,) for y in range(floor, cap + 1)], [0, 1, 2], step, (0,))
    cfg = env(**TINY, lead_time=1, max_order=2, unmet_demand="backorder",
              costs={"holding": h, "shortage": p, "fixed_order": k})  # fmt: skip
    sol = solve_optimal(DPInstance.from_config(cfg, tol=TINY_TOL))
    assert sol.cost == pytest.approx(best, abs=1e-7)
    assert sol.truncation_mass < 1e-12


# ---------------------------------------------------------------------- 3. exact policy evaluation
def test_evaluate_base_stock_equals_hand_built_chain() -> None:
    # Lost sales, L = 1: with x <= S on hand the policy orders S - x, so x' = max(x - D, 0) + S - x.
    h, p, mean, level = 1.0, 9.0, 3.0, 6
    d = np.arange(80)
    pmf = stats.poisson.pmf(d, mean)
    n = level + 1
    trans = np.zeros((n, n))
    for x in range(n):
        for dd, pr in zip(d, pmf):
            trans[x, max(x - dd, 0) + level - x] += pr
    cost = np.asarray([period_cost(x, pmf, h, p) for x in range(n)])
    a = np.vstack([(trans.T - np.eye(n))[1:], np.ones(n)])  # pi (P - I) = 0, sum pi = 1
    pi = np.linalg.solve(a, np.eye(n)[-1])
    cfg = env(lead_time=1, demand={"dist": "poisson", "mean": mean}, costs={"holding": h, "shortage": p})
    inst = DPInstance.from_config(cfg)
    policy = BaseStock(ObsSpec.for_config(cfg), ActionMap.for_config(cfg), level)
    assert evaluate_policy(inst, policy) == pytest.approx(float(pi @ cost), rel=1e-8)


def test_evaluate_callable_policy_equals_hand_built_chain() -> None:
    # Lost sales, L = 2, order 1 unit whenever on hand + due <= 2 (a function of the observation).
    h, p, cap = 1.0, 5.0, 3
    pmf = tiny_pmf()
    cfg = env(**TINY, lead_time=2, max_order=1, costs={"holding": h, "shortage": p})
    spec = ObsSpec.for_config(cfg)
    on_hand, due = spec.index("on_hand").start, spec.index("pipeline").start

    def rule(obs: np.ndarray) -> int:
        return int(obs[on_hand] + obs[due] <= 2)

    def step(s: State, q: int) -> tuple[list[tuple[float, State]], float]:
        x, arriving = s
        order = int(x + arriving <= 2)
        return [(pmf[dd], (min(cap, max(x - dd, 0) + arriving), order)) for dd in range(4)], period_cost(
            x, pmf, h, p
        )

    states = [(x, a) for x in range(cap + 1) for a in (0, 1)]
    trans, cost = chain_matrices(states, [0], step)
    exact = limiting_gains(trans[:, 0][None], cost[:, 0][None], states.index((0, 0)))[0]
    inst = DPInstance.from_config(cfg, tol=TINY_TOL)
    assert evaluate_policy(inst, rule) == pytest.approx(exact, abs=1e-10)
    assert evaluate_policy(inst, rule, start={"on_hand": 3, "pipeline": [1]}) == pytest.approx(
        exact, abs=1e-10
    )


def test_evaluate_policy_with_two_recurrent_classes() -> None:
    # Lost sales, L = 1, capacity 3: order 3 at x = 3 (x stays 3), 1 at x = 2, none below (x sinks
    # to 0). From x = 2 the chain ends in {3} with probability a = P(D = 0) / (1 - P(D = 1)), else
    # in {0}; the long-run average is a g_3 + (1 - a) g_0.
    h, p, k, c = 1.0, 6.0, 2.0, 0.5
    pmf = tiny_pmf()
    cfg = env(
        **TINY,
        lead_time=1,
        max_order=3,
        costs={"holding": h, "shortage": p, "fixed_order": k, "unit_order": c},
    )
    on_hand = ObsSpec.for_config(cfg).index("on_hand").start

    def rule(obs: np.ndarray) -> int:
        return {3: 3, 2: 1}.get(int(obs[on_hand]), 0)

    a = pmf[0] / (1 - pmf[1])
    g3 = k + 3 * c + period_cost(3, pmf, h, p)
    g0 = period_cost(0, pmf, h, p)
    inst = DPInstance.from_config(cfg, tol=TINY_TOL)
    assert evaluate_policy(inst, rule, start={"on_hand": 2}) == pytest.approx(
        a * g3 + (1 - a) * g0, abs=1e-10
    )
    assert evaluate_policy(inst, rule, start={"on_hand": 3}) == pytest.approx(g3, abs=1e-10)


def test_evaluate_optimal_policy_equals_optimum() -> None:
    for mode in ("lost", "backorder"):
        cfg = env(unmet_demand=mode, lead_time=2, costs={"holding": 1, "shortage": 9, "fixed_order": 3})
        inst = DPInstance.from_config(cfg)
        sol = solve_optimal(inst)
        lo, hi = sol.cost_bounds
        assert lo - 1e-9 <= sol.cost <= hi + 1e-9
        assert evaluate_policy(inst, sol.policy) == pytest.approx(sol.cost, abs=1e-8)


def test_evaluate_rejects_bad_actions_and_runaway_backlog() -> None:
    cfg = env(unmet_demand="backorder", lead_time=1, max_order=5)
    with pytest.raises(PolicyError, match="action 6"):
        evaluate_policy(DPInstance.from_config(cfg), lambda obs: 6)
    # never ordering: the backlog drifts down for ever (the backlog floor does not stop it)
    with pytest.raises(UnboundedChainError, match="without bound"):
        evaluate_policy(DPInstance.from_config(cfg, max_states=1000), lambda obs: 0)
    # ordering more than the mean demand every period: the stock grows for ever
    lost = env(unmet_demand="lost", lead_time=1, max_order=10)
    with pytest.raises(PolicyError, match="more than 1,000 states"):
        evaluate_policy(DPInstance.from_config(lost, max_states=1000), lambda obs: 6)


def test_best_base_stock_equals_scan_of_exact_evaluations() -> None:
    cfg = env(lead_time=2, costs={"holding": 1, "shortage": 9})
    inst = DPInstance.from_config(cfg)
    spec, amap = ObsSpec.for_config(cfg), ActionMap.for_config(cfg)
    scan = {s: evaluate_policy(inst, BaseStock(spec, amap, s)) for s in range(12, 26)}
    level, cost = best_base_stock(inst)
    assert level == min(scan, key=scan.get)
    assert cost == pytest.approx(scan[level], abs=1e-9)


def test_backorders_with_fixed_cost_optimum_is_best_s_S_policy() -> None:
    # With backorders an (s, S) policy on the inventory position is optimal (Scarf 1960, Iglehart 1963).
    cfg = env(unmet_demand="backorder", lead_time=1, demand={"dist": "poisson", "mean": 2},
              costs={"holding": 1, "shortage": 9, "fixed_order": 5})  # fmt: skip
    inst = DPInstance.from_config(cfg)
    ip = ObsSpec.for_config(cfg).index("inventory_position").start

    def s_S(s: int, big_s: int) -> Callable[[np.ndarray], int]:
        return lambda obs: max(0, big_s - int(obs[ip])) if obs[ip] <= s else 0

    best = min(evaluate_policy(inst, s_S(s, big_s)) for big_s in range(2, 14) for s in range(-1, big_s))
    assert solve_optimal(inst).cost == pytest.approx(best, abs=1e-7)


def test_order_up_to_mode_has_the_same_optimum() -> None:
    base = {"lead_time": 2, "costs": {"holding": 1, "shortage": 9}}
    quantity = solve_optimal(DPInstance.from_config(env(**base)))
    cfg = env(**base, action={"mode": "order_up_to", "max_level": 40})
    inst = DPInstance.from_config(cfg)
    level_mode = solve_optimal(inst)
    assert level_mode.cost == pytest.approx(quantity.cost, abs=1e-8)
    assert evaluate_policy(inst, level_mode.policy) == pytest.approx(quantity.cost, abs=1e-8)


# ------------------------------------------------------------------ 4. agreement with simulation
@pytest.mark.parametrize(("mode", "lead"), [("lost", 1), ("lost", 2), ("backorder", 1), ("backorder", 2)])
def test_exact_base_stock_cost_within_simulation_ci(mode: str, lead: int) -> None:
    cfg = env(unmet_demand=mode, lead_time=lead, costs={"holding": 1, "shortage": 9})
    level, exact = best_base_stock(DPInstance.from_config(cfg))
    policy = BaseStock(ObsSpec.for_config(cfg), ActionMap.for_config(cfg), level)
    costs = episode_costs(cfg, policy.act, episode_seeds(7, 10), periods=5000, warmup=100)
    half = stats.t.ppf(0.975, len(costs) - 1) * costs.std(ddof=1) / np.sqrt(len(costs))
    assert abs(costs.mean() - exact) <= half, (costs.mean(), half, exact)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "capacity": 12,
            "costs": {"holding": 1, "shortage": 9, "fixed_order": 4},
            "unmet_demand": "backorder",
        },
    ],
)
def test_optimal_policy_cost_within_simulation_ci(extra: dict) -> None:
    cfg = env(**({"lead_time": 2, "costs": {"holding": 1, "shortage": 9}} | extra))
    sol = solve_optimal(DPInstance.from_config(cfg))
    lo, hi = sol.cost_bounds
    assert lo - 1e-9 <= sol.cost <= hi + 1e-9
    costs = episode_costs(cfg, sol.policy.act, episode_seeds(11, 10), periods=5000, warmup=100)
    half = stats.t.ppf(0.975, len(costs) - 1) * costs.std(ddof=1) / np.sqrt(len(costs))
    assert abs(costs.mean() - sol.cost) <= half, (costs.mean(), half, sol.cost)


# ---------------------------------------------------------------------------- 5. Zipkin's instances
@pytest.mark.parametrize("lead", [1, 2])
def test_zipkin_lost_sales_instances(lead: int) -> None:
    # Zipkin (2008): Poisson(5) demand, h = 1, p = 9, lost sales, no ordering costs.
    cfg = env(lead_time=lead, max_order=60, costs={"holding": 1, "shortage": 9})
    inst = DPInstance.from_config(cfg)
    sol = solve_optimal(inst)
    assert sol.converged and sol.seconds < 5
    _, bs_cost = best_base_stock(inst)
    assert sol.cost < bs_cost
    assert evaluate_policy(inst, sol.policy) == pytest.approx(sol.cost, abs=1e-8)
    # The position bound (Morton 1969) does not bind: a wider state space gives the same optimum.
    wider = solve_optimal(DPInstance.from_config(cfg, max_position=inst.max_position + 5))
    assert wider.cost == pytest.approx(sol.cost, abs=1e-7)


# ----------------------------------------------------------------------------- 6. out of scope
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead_time": {"dist": "gamma", "mean": 2, "cv": 0.5}}, "env.lead_time"),
        ({"demand": {"dist": "replay", "values": [3, 5, 4]}}, "env.demand"),
        ({"holding_accrual": "time_weighted"}, "env.holding_accrual"),
        ({"lead_time": 1, "initial": {"pipeline": [3]}}, "env.initial.pipeline"),
        ({"costs": {"holding": 0.0}}, "env.costs.holding"),
    ],
)
def test_out_of_scope_configs_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        DPInstance.from_config(env(**change))


def test_too_many_states_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_states"):
        DPInstance.from_config(env(lead_time=4, costs={"shortage": 39}), max_states=1000)


def test_recent_demand_observation_cannot_be_evaluated() -> None:
    cfg = env(lead_time=1, observation={"recent_demand": 2})
    with pytest.raises(ConfigError, match=r"env\.observation\.recent_demand"):
        evaluate_policy(DPInstance.from_config(cfg), lambda obs: 0)
