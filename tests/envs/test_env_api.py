"""Gymnasium / SB3 API conformance, registration and seeded determinism."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import stocklab.envs  # noqa: F401  (registers the ids)
from stocklab.envs import ENV_ID, PRESETS, InventoryEnv

RANDOM_LEAD_TIMES = [
    {"dist": "discrete", "values": [1, 2, 4], "probs": [0.5, 0.3, 0.2]},
    {"dist": "poisson", "mean": 2},
    {"dist": "uniform", "low": 1, "high": 3},
    {"dist": "gamma", "mean": 2, "cv": 0.5},
    {"dist": "lognormal", "mean": 1.5, "cv": 0.3, "in_sequence": True},
]

CONFIGS = [
    {},
    {"unmet_demand": "backorder", "lead_time": 0},
    {"action": {"mode": "order_up_to", "max_level": 40}, "capacity": 50},
    {
        "observation": {"recent_demand": 3},
        "demand": {"dist": "negative_binomial", "mean": 4, "dispersion": 2},
    },
    {"holding_accrual": "time_weighted", "unmet_demand": "backorder"},
] + [{"lead_time": lt} for lt in RANDOM_LEAD_TIMES]


def checked(fn, env) -> None:
    """Run an env checker with every warning turned into a failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(env)


@pytest.mark.parametrize("env_id", [ENV_ID, *PRESETS])
def test_registered_ids_pass_both_checkers(env_id):
    env = gym.make(env_id)
    checked(lambda e: gym_check_env(e.unwrapped), env)
    checked(sb3_check_env, env.unwrapped)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c)[:60])
def test_configs_pass_both_checkers(config):
    checked(gym_check_env, gym.make(ENV_ID, **config).unwrapped)
    checked(sb3_check_env, gym.make(ENV_ID, **config).unwrapped)


def test_make_by_module_path_and_time_limit():
    env = gym.make("stocklab.envs:stocklab/Inventory-v0", periods=7)
    env.reset(seed=1)
    flags = [env.step(0)[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]


def rollout(env: gym.Env, seed: int, actions: list[int]) -> tuple[list, list]:
    obs, _ = env.reset(seed=seed)
    observations, infos = [obs], []
    for a in actions:
        obs, _, _, _, info = env.step(a)
        observations.append(obs)
        infos.append(info)
    return observations, infos


@pytest.mark.parametrize(
    "first_gymnasium_import",
    ["import gymnasium as gym", "from gymnasium.wrappers import TimeLimit; import gymnasium as gym"],
)
def test_ids_are_registered_whichever_is_imported_first(first_gymnasium_import):
    # stocklab.envs registers as gymnasium loads (the CLI never loads it); a fresh interpreter each
    code = (
        "import sys, importlib.resources\n"
        "import stocklab.envs\n"
        "assert 'gymnasium' not in sys.modules\n"
        f"{first_gymnasium_import}\n"
        "env = gym.make('stocklab/LostSales-v0')\n"
        "obs, _ = env.reset(seed=3)\n"
        "assert obs.shape == (3,), obs\n"
        "assert gym.make_vec('stocklab/Backorder-v0', num_envs=2, vectorization_mode='vector_entry_point').num_envs == 2\n"
        "assert importlib.resources.files(gym).is_dir()  # the wrapped loader still serves resources\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c)[:60])
def test_same_seed_same_trajectory(config):
    actions = np.random.default_rng(3).integers(0, 10, 200).tolist()
    a = rollout(InventoryEnv(config), 42, actions)
    b = rollout(InventoryEnv(config), 42, actions)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert a[1] == b[1]
    c = rollout(InventoryEnv(config), 43, actions)
    assert a[1] != c[1]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c)[:60])
def test_different_policies_see_the_same_demand(config):
    rng = np.random.default_rng(0)
    lazy = rollout(InventoryEnv(config), 7, [0] * 300)[1]
    busy = rollout(InventoryEnv(config), 7, rng.integers(0, 20, 300).tolist())[1]
    assert [i["demand"] for i in lazy] == [i["demand"] for i in busy]


def test_reset_without_seed_continues_the_seeded_sequence():
    env = InventoryEnv()
    first = rollout(env, 5, [3] * 20)[1]
    second = rollout(env, None, [3] * 20)[1]
    env2 = InventoryEnv()
    rollout(env2, 5, [3] * 20)
    assert rollout(env2, None, [3] * 20)[1] == second
    assert first != second


def test_observation_layout_is_named():
    env = InventoryEnv({"unmet_demand": "backorder", "lead_time": 3, "observation": {"recent_demand": 2}})
    assert env.obs_spec.names() == [
        "on_hand", "backlog", "pipeline[0]", "pipeline[1]", "inventory_position",
        "recent_demand[0]", "recent_demand[1]",
    ]  # fmt: skip
    obs, _ = env.reset(seed=0)
    state = env.state_dict()
    assert np.array_equal(env.obs_spec.vector(state), obs)
    assert env.obs_spec.to_dict(obs)["pipeline"] == [0.0, 0.0]


def test_render_ansi():
    env = InventoryEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(4)
    assert "on_hand" in env.render()
