"""One demand event per period and one event per customer give identical results where both apply."""

from __future__ import annotations

import numpy as np
import pytest

from stocklab.envs import InventoryEnv, parse_env_config

CASES = [
    {"lead_time": 0},
    {"lead_time": 2},
    {"lead_time": 3, "unmet_demand": "backorder"},
    {"lead_time": {"dist": "discrete", "values": [1, 3], "probs": [0.6, 0.4]}},
    {"lead_time": {"dist": "poisson", "mean": 1.5}, "unmet_demand": "backorder", "capacity": 25},
    {"lead_time": {"dist": "uniform", "low": 0, "high": 2, "in_sequence": True}},
    {"demand": {"dist": "negative_binomial", "mean": 6, "dispersion": 3}, "lead_time": 1},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c)[:50])
def test_per_period_equals_per_customer(case):
    assert parse_env_config(case).per_period_exact
    actions = np.random.default_rng(1).integers(0, 15, 500).tolist()
    runs = []
    for mode in ("per_period", "per_customer"):
        env = InventoryEnv({**case, "simulation": mode})
        obs, _ = env.reset(seed=11)
        trace = [obs.tolist()]
        for a in actions:
            obs, r, *_, info = env.step(a)
            trace.append((obs.tolist(), r, info))
        runs.append(trace)
    assert runs[0] == runs[1]


def test_auto_picks_per_period_only_where_exact():
    assert not parse_env_config({"lead_time": 2}).per_customer
    assert parse_env_config({"lead_time": {"dist": "gamma", "mean": 2, "cv": 0.5}}).per_customer
    assert parse_env_config({"holding_accrual": "time_weighted"}).per_customer
