"""BatchedEngine.set_state and replay_demand: rollouts from a given state on given demand.

Checked by hand on one period, and against the other route to a start state (the config's
``initial`` section, reset with the same demand replayed) on random states, orders and demand.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocklab.envs import ConfigError, parse_env_config
from stocklab.envs.engines.batched import BatchedEngine

BASE = {"demand": {"dist": "poisson", "mean": 5}, "costs": {"holding": 1.0, "shortage": 9.0}, "max_order": 20}


def test_one_period_from_a_set_state_by_hand():
    config = parse_env_config({**BASE, "unmet_demand": "lost", "lead_time": 3})
    engine = BatchedEngine(config, 2, streams="shared")
    engine.set_state([4, 10], [[3, 5], [0, 0]])
    engine.replay_demand(lambda: np.array([6, 2]))
    flows = engine.step(np.array([2, 0]))
    # point 0: 4 on hand, demand 6 -> 2 lost (cost 2 x 9); nothing left to hold; the 3 due arrive.
    # point 1: 10 on hand, demand 2 -> 8 held (cost 8).
    assert flows.lost.tolist() == [2, 0]
    assert flows.cost.tolist() == [18.0, 8.0]
    assert engine.on_hand.tolist() == [3, 8]
    assert engine.pipeline().tolist() == [[5, 2], [0, 0]]
    assert engine.inventory_position.tolist() == [10, 8]


@settings(max_examples=40, deadline=None)
@given(
    lead=st.integers(1, 4),
    backorder=st.booleans(),
    on_hand=st.integers(0, 30),
    backlog=st.integers(0, 10),
    pipe=st.lists(st.integers(0, 15), min_size=3, max_size=3),
    demand=st.lists(st.integers(0, 15), min_size=12, max_size=12),
    orders=st.lists(st.integers(0, 20), min_size=12, max_size=12),
)
def test_set_state_equals_starting_there_by_config(lead, backorder, on_hand, backlog, pipe, demand, orders):
    unmet = "backorder" if backorder else "lost"
    backlog = backlog if backorder else 0
    pipeline = pipe[: lead - 1]
    initial = {"on_hand": 0 if backlog else on_hand, "backlog": backlog, "pipeline": pipeline}
    by_config = parse_env_config({**BASE, "unmet_demand": unmet, "lead_time": lead, "initial": initial})
    other = parse_env_config({**BASE, "unmet_demand": unmet, "lead_time": lead})
    a = BatchedEngine(by_config, 1)
    a.reset([0])
    b = BatchedEngine(other, 1)
    b.set_state(
        [initial["on_hand"]], [pipeline] if pipeline else np.zeros((1, 0)), [backlog] if backorder else None
    )
    for engine in (a, b):
        clock = iter(demand)
        engine.replay_demand(lambda clock=clock: np.array([next(clock)]))
    for q in orders:
        fa, fb = a.step(np.array([q])), b.step(np.array([q]))
        for field in ("cost", "lost", "backlog", "received", "on_hand"):
            assert getattr(fa, field).tolist() == getattr(fb, field).tolist(), field
        assert a.observe().tolist() == b.observe().tolist()


def test_set_state_refuses_a_random_lead_time():
    config = parse_env_config(
        {**BASE, "lead_time": {"dist": "discrete", "values": [1, 2], "probs": [0.5, 0.5]}}
    )
    with pytest.raises(ConfigError, match="fixed lead time"):
        BatchedEngine(config, 1).set_state([0], [[0]])


def test_a_step_needs_a_reset_or_replayed_demand():
    engine = BatchedEngine(parse_env_config({**BASE, "lead_time": 1}), 1)
    with pytest.raises(ConfigError, match="reset"):
        engine.step(np.array([0]))
