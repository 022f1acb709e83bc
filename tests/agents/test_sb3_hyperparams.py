"""The torch-free check of SB3 hyper-parameters decides exactly as the importing check."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stocklab.agents.sb3.hyperparams import check_without_torch
from stocklab.envs.core.errors import PolicyError

CASES = [
    {"n_envs": 4, "learning_rate": "lin_3e-4", "n_steps": 256, "gamma": 0.95},
    {"n_stpes": 256},  # a typo
    {"learning_rate": "lin_fast"},
    {"env": "x"},  # reserved: stocklab sets it
    {"policy_kwargs": {"net_arch": [64, 64], "activation_fn": "tanh"}},
    {"batch_size": 64, "ent_coef": 0.01, "policy": "MlpPolicy", "normalize": False},
]


def _importing_check(name: str, hp: dict) -> str | None:
    from stocklab.agents.sb3.agent import algorithm_kwargs
    from stocklab.agents.sb3.policy import algorithm_class

    try:
        algorithm_kwargs(algorithm_class(name), hp)
    except PolicyError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", ["ppo", "a2c", "dqn"])
@pytest.mark.parametrize("hp", CASES)
def test_static_check_matches_the_importing_check(name, hp):
    expected = _importing_check(name, hp)
    try:
        decided = check_without_torch(name, hp)
        got = None
    except PolicyError as exc:
        decided, got = True, str(exc)
    assert decided
    assert got == expected


def test_a_torch_class_name_it_cannot_resolve_is_left_to_torch():
    assert not check_without_torch("ppo", {"policy_kwargs": {"optimizer_class": "RMSprop"}})
    assert not check_without_torch("ppo", {"policy_kwargs": {"activation_fn": "Sigmoid"}})


def test_validate_imports_neither_torch_nor_scipy_nor_gymnasium():
    # each costs a tenth of a second or more of start-up (target: validate under 1 s)
    code = (
        "import sys\n"
        "sys.argv = ['stocklab', 'validate', 'configs/quickstart.yaml']\n"
        "from stocklab.experiments.cli.app import app\n"  # not main(): it leaves without returning
        "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = ['torch', 'stable_baselines3', 'scipy', 'gymnasium', 'simpy', 'pandas']\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
