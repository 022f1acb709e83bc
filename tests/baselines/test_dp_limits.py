"""The DP's size is counted before it is built and refused over its limits; long loops stop at a deadline.

Sizes are checked against the enumerated state space and the built transition matrix, the count of
Zipkin's L = 6 instance against a closed form (inclusion-exclusion), the memory estimate against the
peak that tracemalloc measures while the DP is built and solved.
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.baselines.exact.limits import GIB, Deadline, DPLimits, ResourceLimitError, TimeLimitError
from stocklab.baselines.exact.solver import DPInstance, evaluate_policy, solve_optimal, transitions
from stocklab.envs import ConfigError, parse_env_config

ZIPKIN = {"unmet_demand": "lost", "demand": {"dist": "poisson", "mean": 5}, "costs": {"shortage": 9}}


def built_size(inst: DPInstance) -> tuple[int, int, int]:
    """States, (state, order) pairs and transition-matrix entries of the DP as the solver builds it."""
    x, ip = inst.states[:, 0], inst.states.sum(axis=1)
    lo, hi, _ = inst.order_range(x, ip)
    n_act = hi - lo + 1
    rows = np.repeat(np.arange(inst.n_states), n_act)
    q = np.arange(int(n_act.sum())) - np.repeat(np.cumsum(n_act) - n_act, n_act) + np.repeat(lo, n_act)
    return inst.n_states, len(q), transitions(inst, rows, q).mat.nnz


@settings(max_examples=40, deadline=None)
@given(
    lost=st.booleans(),
    lead=st.integers(0, 3),
    mean=st.sampled_from([1.0, 3.0]),
    fixed=st.sampled_from([0.0, 5.0]),
    max_order=st.integers(4, 20),
    extra=st.sampled_from([{}, {"capacity": 9}, {"action": {"mode": "order_up_to", "max_level": 12}}]),
)
def test_counted_size_equals_the_built_one(lost, lead, mean, fixed, max_order, extra) -> None:
    cfg = parse_env_config({
        "unmet_demand": "lost" if lost else "backorder", "lead_time": lead,
        "demand": {"dist": "poisson", "mean": mean}, "costs": {"shortage": 4, "fixed_order": fixed},
        "max_order": max_order, **extra,
    })  # fmt: skip
    inst = DPInstance.from_config(cfg)
    states, pairs, entries = built_size(inst)
    assert (inst.size.states, inst.size.pairs) == (states, pairs)
    assert DPInstance.measure(cfg) == inst.size
    if "capacity" in extra:  # capped stock merges outcomes: the count is an upper bound
        assert inst.size.transitions >= entries
    else:
        assert inst.size.transitions == entries


def zipkin_l6_states() -> int:
    """States of Zipkin's p = 9, L = 6 instance by a closed form: x >= 0 units on hand and a pipeline
    of 5 orders of 0..30 units, with x + pipeline <= U = 43 (the base-stock level S̄ of the backorder
    system); pipelines of sum s counted by inclusion-exclusion over entries above 30.
    """
    m, top, upper = 5, 30, 43

    def pipelines(s: int) -> int:
        return sum((-1) ** j * math.comb(m, j) * math.comb(s - j * (top + 1) + m - 1, m - 1)
                   for j in range(m + 1) if s - j * (top + 1) >= 0)  # fmt: skip

    return sum(pipelines(s) * (upper - s + 1) for s in range(upper + 1))


def test_too_big_an_instance_is_refused_before_allocating() -> None:
    cfg = parse_env_config({**ZIPKIN, "lead_time": 6, "max_order": 30})
    tracemalloc.start()
    with pytest.raises(ResourceLimitError) as info:
        DPInstance.from_config(cfg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # counted, not enumerated (the states alone would take 0.6 GB)
    message = str(info.value)
    assert zipkin_l6_states() == 13_890_996  # the figure of the issue that found the crash
    assert f"{zipkin_l6_states():,} states" in message
    assert "GiB of memory" in message and "max_states=500,000" in message and "env.lead_time" in message
    # a generous state limit leaves the memory limit, which names the estimate and the limit
    with pytest.raises(ResourceLimitError, match=r"max_memory=2 GiB"):
        DPInstance.from_config(cfg, max_states=10**9, max_bytes=2 * GIB)


def test_memory_limit_is_honoured_both_ways() -> None:
    cfg = parse_env_config({**ZIPKIN, "lead_time": 2})
    need = DPInstance.measure(cfg).bytes
    with pytest.raises(ResourceLimitError, match="max_memory"):
        DPInstance.from_config(cfg, max_bytes=need - 1)
    assert DPInstance.from_config(cfg, max_bytes=need).size.bytes == need
    # a widened instance is checked too: solve_optimal stops widening and says so
    with pytest.raises(ResourceLimitError, match="max_states=10"):
        DPInstance.from_config(cfg).with_bounds(max_states=10)


@pytest.mark.parametrize(
    "change",
    [{**ZIPKIN, "lead_time": 3}, {**ZIPKIN, "lead_time": 3, "costs": {"shortage": 39}},
     {"unmet_demand": "backorder", "lead_time": 3, "costs": {"shortage": 9}, "max_order": 30}],
)  # fmt: skip
def test_memory_estimate_is_close_to_the_measured_peak(change: dict) -> None:
    cfg = parse_env_config(change)
    tracemalloc.start()
    inst = DPInstance.from_config(cfg)
    solve_optimal(inst)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.75 * inst.size.bytes <= peak <= 1.05 * inst.size.bytes


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"max_state": 5}, "unknown key"),
        ({"max_states": 0}, "max_states"),
        ({"max_states": 2.5}, "whole number"),
        ({"max_memory_gib": -1}, "max_memory_gib"),
        ({"time_limit": True}, "time_limit"),
    ],
)
def test_limits_from_config_params_name_the_key(params: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        DPLimits.from_params(params)


def test_limits_from_params() -> None:
    limits = DPLimits.from_params({"max_states": 10, "max_memory_gib": 0.5, "time_limit": 3})
    assert (limits.max_states, limits.max_bytes, limits.time_limit) == (10, GIB // 2, 3.0)
    assert DPLimits.from_params({}).memory_limit() > 0


def test_solver_stops_at_its_deadline_and_reports_progress() -> None:
    inst = DPInstance.from_config(parse_env_config({**ZIPKIN, "lead_time": 2}))
    with pytest.raises(TimeLimitError, match="time limit of 0.001 s"):
        solve_optimal(inst, deadline=Deadline(time.monotonic() - 1, 0.001))
    seen: list[tuple[float, float | None]] = []
    sol = solve_optimal(inst, tol=1e-6, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) == sol.iterations
    done, total = seen[-1]
    assert total is not None and done >= total  # the last span is below tol


def test_policy_evaluation_stops_at_its_deadline() -> None:
    inst = DPInstance.from_config(parse_env_config({**ZIPKIN, "lead_time": 2}))
    with pytest.raises(TimeLimitError, match="exact evaluation"):
        evaluate_policy(inst, lambda obs: 5, deadline=Deadline(time.monotonic() - 1, 0.5))


def test_a_huge_position_bound_is_refused_without_allocating_its_width() -> None:
    # e.g. an edited dp_bounds.json: one state per position already exceeds the limit
    cfg = parse_env_config({**ZIPKIN, "lead_time": 2})
    tracemalloc.start()
    with pytest.raises(ResourceLimitError, match="at least 1,000,000,001 states"):
        DPInstance.from_config(cfg, max_position=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20
