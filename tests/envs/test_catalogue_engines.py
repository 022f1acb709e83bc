"""The two catalogue engines against each other, and the conservation laws of shared limits.

The SimPy catalogue engine (stocking points in one simulation, a warehouse stocking each instant's
arrivals as one batch, rules applied one SKU at a time) and the batched engine (the same rules as
array operations) are independent implementations of ``stocklab.envs.engines.shared``: driven by the
same seeds and orders on random small catalogues they must give identical flows, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocklab.envs import ConfigError
from stocklab.envs.catalogue.config import SharedLimits, parse_catalogue_config
from stocklab.envs.engines.batched import BatchedEngine
from stocklab.envs.engines.flows import FLOW_FIELDS, SHARED_FIELDS, TOTAL_FIELDS
from stocklab.envs.engines.simpy_catalogue import SimPyCatalogue

LEADS = st.one_of(
    st.integers(0, 3),
    st.builds(
        lambda values, seq: {"dist": "discrete", "values": values, "probs": [1 / len(values)] * len(values),
                             "in_sequence": seq},
        st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True), st.booleans(),
    ),
)  # fmt: skip


@st.composite
def catalogues(draw: st.DrawFn) -> tuple[list[dict], dict, dict]:
    n = draw(st.integers(2, 5))
    backorder = draw(st.booleans())
    configs = []
    for _ in range(n):
        cap = draw(st.none() | st.integers(5, 30))
        cfg: dict = {
            "unmet_demand": "backorder" if backorder else "lost",
            "lead_time": draw(LEADS),
            "demand": {"dist": "poisson", "mean": draw(st.sampled_from([0.5, 2.0, 4.0, 7.5]))},
            "costs": {"holding": draw(st.sampled_from([0.2, 1.0])), "shortage": draw(st.sampled_from([1.0, 9.0])),
                      "fixed_order": draw(st.sampled_from([0.0, 2.5])), "unit_order": draw(st.sampled_from([0.0, 0.7]))},
            "max_order": 40,
            "initial": {"on_hand": draw(st.integers(0, cap or 20)),
                        "backlog": draw(st.integers(0, 4)) if backorder else 0,
                        "pipeline": draw(st.lists(st.integers(0, 6), max_size=2))},
        }  # fmt: skip
        if cap is not None:
            cfg["capacity"] = cap
        configs.append(cfg)
    shared: dict = {}
    if draw(st.booleans()):
        rule = draw(st.sampled_from(["pro_rata", "priority", "overflow"]))
        shared["capacity"] = {
            "limit": draw(st.sampled_from([6, 15, 33.5, 60])),
            "measure": draw(st.sampled_from(["units", "volume"])),
            "rule": rule,
            "overflow_cost": draw(st.sampled_from([0.0, 0.3, 2.0])) if rule == "overflow" else 0.0,
        }
    if draw(st.booleans()):
        shared["budget"] = {"limit": draw(st.sampled_from([4, 10.5, 30])),
                            "rule": draw(st.sampled_from(["pro_rata", "priority"]))}  # fmt: skip
    arrays = {
        "volume": draw(st.lists(st.sampled_from([0.3, 1.0, 1.7, 2.5]), min_size=n, max_size=n)),
        "unit_cost": draw(st.lists(st.sampled_from([0.7, 1.0, 2.2]), min_size=n, max_size=n)),
        "priority": draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
    }
    return configs, shared, arrays


def engines(configs: list[dict], shared: dict, arrays: dict, seeds: list[int]):
    limits = SharedLimits.model_validate(shared)
    batched = BatchedEngine(configs, shared=limits, **arrays)
    simpy = SimPyCatalogue(configs, shared=limits, **arrays)
    batched.reset(seeds)
    simpy.reset(seeds)
    return batched, simpy


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cat=catalogues(), seed=st.integers(0, 2**31), order_seed=st.integers(0, 2**31))
def test_random_catalogues_give_identical_flows_in_both_engines(cat, seed, order_seed):
    configs, shared, arrays = cat
    n = len(configs)
    batched, simpy = engines(configs, shared, arrays, [seed + i for i in range(n)])
    rng = np.random.default_rng(order_seed)
    orders = rng.integers(0, 16, size=(25, n)) * (rng.random((25, n)) < 0.7)
    for t, q in enumerate(orders):
        np.testing.assert_array_equal(batched.observe(), simpy.observe(), err_msg=f"observation at {t}")
        a, b = batched.step(q), simpy.step(q)
        for name in FLOW_FIELDS + SHARED_FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{name} at {t}")
            assert getattr(a, name).dtype == getattr(b, name).dtype
        assert a.totals() == b.totals(), f"totals at {t}"
        np.testing.assert_array_equal(a.cost, b.cost)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cat=catalogues(), seed=st.integers(0, 2**31), order_seed=st.integers(0, 2**31))
def test_conservation_laws_under_shared_limits(cat, seed, order_seed):
    """Stock and money balance; refusal rules keep stock within capacity; the budget is never exceeded."""
    configs, shared, arrays = cat
    n = len(configs)
    batched, _ = engines(configs, shared, arrays, [seed + i for i in range(n)])
    cap = shared.get("capacity")
    volume = np.ones(n) if cap is not None and cap["measure"] == "units" else np.asarray(arrays["volume"])
    refusing = cap is not None and cap["rule"] != "overflow"
    within = refusing and float(np.cumsum(volume * batched.on_hand)[-1]) <= cap["limit"]
    rng = np.random.default_rng(order_seed)
    for _ in range(25):
        asked = rng.integers(0, 16, size=n)
        on_hand, on_order = batched.on_hand.copy(), batched.on_order.copy()
        f = batched.step(asked)
        # stock: on hand before + received - refused - sold = on hand after the step's arrivals
        np.testing.assert_array_equal(on_hand + f.received - f.refused - f.sold, batched.on_hand)
        np.testing.assert_array_equal(on_order + f.order - f.received, batched.on_order)
        np.testing.assert_array_equal(f.order + f.cut, asked)
        assert (f.cut >= 0).all() and (f.refused >= 0).all()
        assert f.budget_used == pytest.approx(float(np.dot(arrays["unit_cost"], f.order)), rel=1e-12)
        assert f.capacity_used == pytest.approx(float(np.dot(volume, batched.on_hand)), rel=1e-12)
        if "budget" in shared:
            assert f.budget_used <= shared["budget"]["limit"] * (1 + 1e-12)
        if within:
            assert f.capacity_used <= cap["limit"] * (1 + 1e-12)
        if cap is not None and cap["rule"] == "overflow":
            assert f.overflow_cost.sum() == pytest.approx(cap["overflow_cost"] * f.overflow, abs=1e-9)
        else:
            assert (f.overflow_cost == 0).all()


def test_without_shared_limits_a_catalogue_is_its_skus_alone():
    """No limits: each SKU's flows equal those of a batch of that SKU alone (same seed)."""
    configs = [{"lead_time": 1, "demand": {"dist": "poisson", "mean": 3}},
               {"lead_time": 2, "unmet_demand": "lost", "capacity": 9}]  # fmt: skip
    coupled = BatchedEngine(configs, shared=SharedLimits(), volume=[1.0, 2.0])
    coupled.reset([5, 6])
    alone = [BatchedEngine(c, 1) for c in configs]
    for e, s in zip(alone, [5, 6]):
        e.reset([s])
    for t in range(40):
        q = np.asarray([t % 5, (2 * t) % 7])
        f = coupled.step(q)
        for i, e in enumerate(alone):
            g = e.step(q[i : i + 1])
            assert {k: v for k, v in f.row(i).items() if k not in SHARED_FIELDS} == g.row(0)
        assert set(f.totals()) == set(TOTAL_FIELDS)


def test_bad_shared_inputs_are_refused():
    with pytest.raises(ConfigError, match="volume has 1 values for 2 SKUs"):
        BatchedEngine([{}, {}], shared=SharedLimits(), volume=[1.0])
    with pytest.raises(ConfigError, match="must be > 0"):
        BatchedEngine([{}, {}], shared=SharedLimits(), unit_cost=[1.0, 0.0])
    with pytest.raises(
        ConfigError, match=r"catalogue.shared.capacity: overflow_cost \(=1.0\) applies to rule"
    ):
        parse_catalogue_config({"history": "m3", "shared": {"capacity": {"limit": 5, "overflow_cost": 1.0}}})
    with pytest.raises(ConfigError, match=r"catalogue.shared.budget.rule: .*'pro_rata' or 'priority'"):
        parse_catalogue_config({"history": "m3", "shared": {"budget": {"limit": 5, "rule": "overflow"}}})
