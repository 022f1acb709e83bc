"""The Lagrangian lower bound of a catalogue, checked against a brute-force joint DP of two SKUs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.catalogue.bound import lagrangian_bound, maximise_concave
from stocklab.baselines.catalogue.priced import priced_optimum
from stocklab.baselines.exact.solver import DPInstance, solve_optimal
from stocklab.envs.catalogue.build import build_catalogue
from tests.baselines.catalogue_joint_dp import joint_optimum

PMF_A = [0.2, 0.3, 0.3, 0.2]
PMF_B = [0.4, 0.3, 0.2, 0.1]


def _sku(name: str, pmf: list[float], h: float, p: float, c: float, volume: float) -> dict:
    demand = {"dist": "empirical", "values": list(range(len(pmf))), "probs": pmf}
    costs = {"holding": h, "shortage": p, "unit_order": c}
    return {"sku": name, "demand": demand, "costs": costs, "volume": volume, "lead_time": 1}


def _catalogue(capacity=None, rule="pro_rata", overflow=0.0, budget=None, unit=(0.0, 0.0), volume=(1.0, 2.0)):
    skus = [_sku("A", PMF_A, 1.0, 6.0, unit[0], volume[0]), _sku("B", PMF_B, 0.5, 9.0, unit[1], volume[1])]
    shared = {}
    if capacity is not None:
        shared["capacity"] = {"limit": capacity, "measure": "volume", "rule": rule, "overflow_cost": overflow}
    if budget is not None:
        shared["budget"] = {"limit": budget}
    section = {"skus": skus, "shared": shared or None}
    return build_catalogue(section, {"unmet_demand": "lost", "max_order": 8})


def _joint(capacity=None, rule="pro_rata", overflow=0.0, budget=None, unit=(0.0, 0.0), volume=(1.0, 2.0)):
    slack = capacity is None or rule == "overflow"
    max_stock = [9, 9] if slack else [int(capacity // volume[0]), int(capacity // volume[1])]
    return joint_optimum(
        [np.array(PMF_A), np.array(PMF_B)], [1.0, 0.5], [6.0, 9.0], list(unit), list(volume), capacity,
        max_stock, [6, 6], rule=rule, overflow_cost=overflow, budget=budget,
    )  # fmt: skip


@pytest.mark.parametrize("capacity", [3.0, 5.0, 8.0])
def test_bound_is_below_the_joint_optimum_of_policies_never_refused(capacity):
    bound = lagrangian_bound(_catalogue(capacity))
    assert bound.applies and bound.lambda_ > 0  # the capacity binds
    assert bound.value <= _joint(capacity, rule="never") + 1e-9
    assert bound.value > bound.unconstrained  # and the price lifts the bound above the free optimum


@pytest.mark.parametrize(("capacity", "overflow"), [(3.0, 0.5), (3.0, 10.0), (5.0, 2.0)])
def test_bound_is_below_the_joint_optimum_under_overflow(capacity, overflow):
    # nothing is refused under `overflow`: the bound holds for every policy of the catalogue
    bound = lagrangian_bound(_catalogue(capacity, rule="overflow", overflow=overflow))
    assert bound.measure == "end" and bound.lambda_ <= overflow + 1e-12
    assert bound.value <= _joint(capacity, rule="overflow", overflow=overflow) + 1e-9


def test_bound_is_below_the_joint_optimum_under_a_budget():
    # a budget scales orders when they are placed: any policy could have placed the scaled orders
    bound = lagrangian_bound(_catalogue(budget=1.5))
    assert bound.mu > 0
    assert bound.value <= _joint(budget=1.5) + 1e-9


def test_refusals_are_a_free_disposal_outside_the_bound():
    # With free orders, ordering more than fits lets pro-rata refusal top the warehouse up at each
    # arrival (like a lead time of 0): the joint optimum under refusal then beats even the free
    # per-SKU optima. The bound claims only the policies whose arrivals are never refused.
    bound = lagrangian_bound(_catalogue(6.0, volume=(1.0, 1.0)))
    assert _joint(6.0, rule="pro_rata", volume=(1.0, 1.0)) < bound.unconstrained - 0.1 <= bound.value


def test_slack_capacity_gives_the_sum_of_per_sku_optima():
    bound = lagrangian_bound(_catalogue(1000.0, unit=(0.3, 0.2)))
    assert bound.lambda_ == 0.0 and bound.applies
    alone = [
        solve_optimal(DPInstance.from_config(cfg), tol=1e-9).cost
        for cfg in _catalogue(unit=(0.3, 0.2)).configs
    ]
    assert bound.value == pytest.approx(sum(alone), abs=1e-6)
    # and the joint DP of the two SKUs without a capacity agrees
    assert bound.value == pytest.approx(_joint(None, unit=(0.3, 0.2)), abs=1e-6)
    assert list(bound.per_sku_costs) == pytest.approx(alone, abs=1e-6)


def test_no_limits_is_the_sum_of_per_sku_optima():
    bound = lagrangian_bound(_catalogue())
    assert bound.value == pytest.approx(bound.unconstrained) and bound.lambda_ == 0.0


def test_not_applicable_with_the_reason():
    section = {
        "skus": [
            {"sku": "S1", "demand": {"dist": "poisson", "mean": 3}},
            {"sku": "S2", "demand": {"dist": "seasonal", "base": 3, "trend": 0.1}},
        ],
        "shared": {"capacity": {"limit": 10}},
    }
    bound = lagrangian_bound(build_catalogue(section, {"lead_time": 1}))
    assert not bound.applies and "S2" in bound.why_not and "stationary" in bound.why_not
    big = {"skus": [{"sku": "BIG", "demand": {"dist": "poisson", "mean": 400}}]}
    bound = lagrangian_bound(build_catalogue(big, {"lead_time": 4, "max_order": 2000}), max_states=10_000)
    assert not bound.applies and "BIG" in bound.why_not
    assert bound.to_dict()["value"] is None


def test_priced_arrival_stock_matches_the_lost_sales_identity():
    # Lost sales: pi * x = pi * (E(x - D)^+ + E[D] - E(D - x)^+), so the arrival price equals holding
    # h + pi and shortage p - pi, plus the constant pi E[D] (an independent way to the same optimum).
    cfg = _catalogue().configs[1]
    pi = 0.7
    direct = priced_optimum(cfg, pi, 0.0, "arrival", max_states=10_000)
    costs = cfg.costs.model_copy(update={"holding": 0.5 + pi, "shortage": 9.0 - pi})
    shifted = solve_optimal(DPInstance.from_config(cfg.model_copy(update={"costs": costs})), tol=1e-10)
    mean = float(np.dot(np.arange(len(PMF_B)), PMF_B))
    assert direct.cost == pytest.approx(shifted.cost + pi * mean, abs=1e-6)


@settings(max_examples=6, deadline=None)
@given(st.floats(2.0, 7.0), st.floats(0.0, 3.0), st.floats(0.0, 3.0), st.floats(0.0, 3.0))
def test_dual_is_concave_and_the_bound_is_its_maximum(capacity, a, b, t):
    cat = _catalogue(capacity)
    bound = lagrangian_bound(cat)

    def dual(lam: float) -> float:
        return (
            sum(
                priced_optimum(cfg, lam * v, 0.0, "arrival", max_states=10_000).cost
                for cfg, v in zip(cat.configs, cat.volume)
            )
            - lam * capacity
        )

    lo, hi = min(a, b), max(a, b)
    mid = lo + (hi - lo) * min(t, 1.0)
    # concave along the segment [lo, hi] (up to the value iteration's tolerance)
    chord = dual(lo) + (dual(hi) - dual(lo)) * (mid - lo) / (hi - lo) if hi > lo else dual(lo)
    assert dual(mid) >= chord - 1e-6
    assert dual(mid) <= bound.value + bound.dual_gap + 1e-6


@settings(max_examples=5, deadline=None)
@given(st.floats(2.0, 9.0), st.floats(0.5, 3.0))
def test_bound_falls_as_the_capacity_grows(capacity, more):
    small = lagrangian_bound(_catalogue(capacity))
    large = lagrangian_bound(_catalogue(capacity + more))
    # L(lambda) - lambda C falls with C at every lambda, so does its maximum (up to the search's gap)
    assert large.value <= small.value + small.dual_gap + large.dual_gap + 1e-9
    assert large.value >= large.unconstrained - 1e-9


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.1, 5.0), st.floats(-3.0, 3.0), st.floats(0.0, 2.0), st.one_of(st.none(), st.floats(0.5, 20.0))
)
def test_maximise_concave_finds_the_maximum(peak, offset, curvature, upper):
    def f(x: float) -> tuple[float, float]:  # a concave piecewise-linear-plus-quadratic function
        return -abs(x - peak) - curvature * (x - peak) ** 2 + offset, -np.sign(x - peak) - 2 * curvature * (
            x - peak
        )

    x, value, gap, n = maximise_concave(f, upper, start=1.0)
    target = min(peak, upper) if upper is not None else peak
    best = f(target)[0]
    assert value <= best + 1e-12
    assert value >= best - gap - 1e-9
    assert gap <= 1e-3 * max(1.0, abs(best)) + 1e-9
