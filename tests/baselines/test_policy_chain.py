"""Exact evaluation of policies whose reachable states are unbounded: the (r, Q) stall of
``configs/backorder_ss.yaml``, the backlog floor, and the index of the states found.

The costs are checked against a Markov chain written out in the test over a wide range of net
inventory (numpy dense algebra), not against the library's own chain.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.exact.chain import UnboundedChainError, policy_chain
from stocklab.baselines.exact.keys import KeyIndex
from stocklab.baselines.exact.limits import Deadline
from stocklab.baselines.exact.solver import DPInstance, solve_optimal
from stocklab.baselines.policies.classic import build_policy
from stocklab.baselines.tuning.search import tune
from stocklab.envs import parse_env_config

#: The env of configs/backorder_ss.yaml: backorders, L = 1, Poisson(10), h = 1, p = 9, K = 40.
BACKORDER_SS = {
    "unmet_demand": "backorder", "lead_time": 1, "demand": {"dist": "poisson", "mean": 10},
    "costs": {"holding": 1.0, "shortage": 9.0, "fixed_order": 40.0}, "max_order": 60,
    "initial": {"on_hand": 20},
}  # fmt: skip


def rq_chain_cost(pmf: np.ndarray, r: int, q: int, max_order: int, h: float, p: float, k: float) -> float:
    """Average cost of (r, nQ) with L = 1 under backorders, from a chain on net inventory -600..150.

    State x = net inventory at the decision (the order of the last period has arrived, so the
    position is x); order n Q when x <= r, n = min(ceil((r + 1 - x) / Q), max_order // Q); next
    x' = x + order - D; cost K [order > 0] + h E(x - D)^+ + p E(D - x)^+. The floor -600 is far
    below anything with mass above 1e-30.
    """
    lo, hi = -600, 150
    xs = np.arange(lo, hi + 1)
    d = np.arange(len(pmf))
    n = np.minimum(-((xs - r - 1) // q), max_order // q)
    order = np.where(xs <= r, n * q, 0)
    trans = np.zeros((len(xs), len(xs)))
    for i, x in enumerate(xs):
        np.add.at(trans[i], np.clip(x + order[i] - d, lo, hi) - lo, pmf)
    cost = k * (order > 0) + pmf @ (
        h * np.maximum(xs[None, :] - d[:, None], 0) + p * np.maximum(d[:, None] - xs[None, :], 0)
    )
    a = np.vstack([(np.eye(len(xs)) - trans).T[1:], np.ones(len(xs))])
    pi = np.linalg.solve(a, np.eye(len(xs))[-1])
    return float(pi @ cost)


def rq_cost(inst: DPInstance, r: int, q: int) -> float:
    return rq_chain_cost(inst.pmf, r, q, 60, 1.0, 9.0, 40.0)


def test_rq_with_batches_below_the_top_demand_is_evaluated_quickly() -> None:
    # The stall: Q = 33 and max_order = 60 allow one batch of 33 units per period, below the top
    # demand d_top = 35 of the truncated pmf; a run of top demands lowers the backlog 2 units a
    # period without end. The enumeration used to add 2 states per level up to 500,000 states
    # (about 250,000 levels, hours). Bounded here: with the bug this stops at 2,000 states.
    inst = DPInstance.from_config(parse_env_config(BACKORDER_SS))
    assert inst.d_top == 35
    policy = build_policy("rq", inst.config, {"r": -1, "Q": 33})
    ev = policy_chain(inst, policy, max_states=2_000, deadline=Deadline.after(60))
    assert ev.states < 200 and ev.levels < 100
    assert ev.floor is not None and ev.truncation_mass <= 1e-9
    assert ev.cost == pytest.approx(rq_cost(inst, -1, 33), rel=1e-9)


@pytest.mark.parametrize(("r", "q"), [(17, 32), (5, 30), (-1, 34), (30, 60)])
def test_rq_costs_equal_the_hand_built_chain(r: int, q: int) -> None:
    inst = DPInstance.from_config(parse_env_config(BACKORDER_SS))
    ev = policy_chain(inst, build_policy("rq", inst.config, {"r": r, "Q": q}), max_states=2_000)
    assert ev.cost == pytest.approx(rq_cost(inst, r, q), rel=1e-9)


def test_tuning_rq_on_backorder_ss_is_exact_and_locally_optimal() -> None:
    cfg = parse_env_config(BACKORDER_SS)
    start = time.monotonic()
    result = tune(cfg, "rq", episodes=1, periods=50)  # a tiny simulation budget, should it be used
    assert result.method == "exact", "the exact search fell back to simulation"
    assert time.monotonic() - start < 120  # a hang would have been hours (not a speed target)
    r, q = result.params["r"], result.params["Q"]
    inst = DPInstance.from_config(cfg)
    assert result.avg_cost == pytest.approx(rq_cost(inst, r, q), rel=1e-9)
    # no neighbour is better, and (r, Q) is at least the (s, S) optimum, which the DP gives
    for dr, dq in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)]:
        assert rq_cost(inst, r + dr, q + dq) >= result.avg_cost - 1e-9
    assert solve_optimal(inst).cost <= result.avg_cost <= 1.02 * solve_optimal(inst).cost


def test_a_policy_that_cannot_keep_up_with_demand_has_no_finite_cost() -> None:
    # at most 8 units a period against a mean demand of 10: the backlog drifts down for ever
    cfg = parse_env_config({**BACKORDER_SS, "max_order": 8})
    inst = DPInstance.from_config(cfg)
    with pytest.raises(UnboundedChainError, match="without bound"):
        policy_chain(
            inst, build_policy("rq", cfg, {"r": 0, "Q": 8}), max_states=50_000, deadline=Deadline.after(60)
        )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(-50, 50), max_size=12), min_size=1, max_size=30))
def test_key_index_numbers_keys_in_order_of_first_sight(batches: list[list[int]]) -> None:
    reference: dict[int, int] = {}
    index = KeyIndex(np.asarray(batches[0], dtype=np.int64))
    for b in sorted(set(batches[0])):
        reference[b] = len(reference)
    for batch in batches[1:]:
        keys = np.asarray(batch, dtype=np.int64)
        new = index.add(keys)
        expect_new = sorted(set(batch) - set(reference))
        assert new.tolist() == expect_new
        for b in expect_new:
            reference[b] = len(reference)
    probe = np.arange(-60, 61, dtype=np.int64)
    assert index.find(probe).tolist() == [reference.get(int(k), -1) for k in probe]
    assert index.n == len(reference)
