"""The env section's validation: every bad value is one readable line naming key path and value."""

from __future__ import annotations

import pytest

from stocklab.envs import ConfigError, InventoryEnv, parse_env_config


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"costs": {"holdin": 1}}, ["env.costs", "unknown key 'holdin'", "Did you mean 'holding'?"]),
        ({"costs": {"holding": -1}}, ["env.costs.holding", "greater than or equal to 0", "-1"]),
        ({"lead_time": -2}, ["env.lead_time:", "greater than or equal to 0", "-2"]),
        ({"lead_time": {"dist": "weibull"}}, ["env.lead_time", "weibull"]),
        ({"demand": {"dist": "poisson", "mean": 0}}, ["env.demand.mean", "greater than 0"]),
        (
            {"demand": {"dist": "negative_binomial", "mean": 3, "dispersion": 0.5}},
            ["env.demand.dispersion", "0.5"],
        ),
        ({"lead_time": {"dist": "discrete", "values": [1, 2], "probs": [0.5, 0.6]}}, ["probs must sum to 1"]),
        ({"initial": {"backlog": 3}}, ["initial.backlog (=3) must be 0"]),
        ({"action": {"mode": "order_up_to"}}, ["max_level is required"]),
        ({"action": {"mode": "target"}}, ["env.action.mode", "'quantity' or 'order_up_to'", "target"]),
        ({"periods": 10.5}, ["env.periods", "10.5"]),
        ({"max_order": 0}, ["env.max_order", "greater than or equal to 1"]),
        ({"costs": {"holding": 1e308}}, ["env.costs.holding", "less than or equal to 1000000000", "1e+308"]),
        ({"max_order": 10**9}, ["env.max_order", "less than or equal to 1000000"]),
        ({"unmet_demand": "lose"}, ["env.unmet_demand", "'lost' or 'backorder'"]),
        (
            {"simulation": "per_period", "lead_time": {"dist": "gamma", "mean": 2, "cv": 1}},
            ["'per_period' needs whole-period lead times"],
        ),
        ({"demand": {"dist": "replay", "path": "nope.csv"}}, ["nope.csv: demand file not found"]),
        ({"demand": {"dist": "replay"}}, ["exactly one of 'values' or 'path'"]),
    ],
)
def test_bad_env_configs_name_the_key_and_value(config, expected):
    with pytest.raises(ConfigError) as info:
        parse_env_config(config)
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, message
    assert "Traceback" not in message
    assert len(message.splitlines()) <= 3


def test_env_kwargs_are_validated_too():
    with pytest.raises(ConfigError, match="env.max_order"):
        InventoryEnv(max_order=-3)


def test_replay_from_csv_relative_to_config(tmp_path):
    (tmp_path / "sales.csv").write_text("date,quantity\n2024-01-01,3\n2024-01-02,0\n2024-01-03,5\n")
    cfg = parse_env_config({"demand": {"dist": "replay", "path": "sales.csv"}}, base_dir=str(tmp_path))
    assert cfg.demand.values == [3, 0, 5]


def test_replay_csv_with_bad_value_names_row_and_column(tmp_path):
    (tmp_path / "sales.csv").write_text("quantity\n3\nabc\n")
    with pytest.raises(ConfigError, match=r"row 3, column 'quantity': 'abc'"):
        parse_env_config({"demand": {"dist": "replay", "path": "sales.csv"}}, base_dir=str(tmp_path))
