"""Where the wall time of SB3 training goes: env stepping, its wrappers, the rollout loop, gradient updates.

:func:`profile_training` trains an :class:`~stocklab.agents.sb3.agent.SB3Agent` and times, by wrapping
the methods SB3 calls (no change to SB3 or to the agent):

=================  ==================================================================================
``env_s``          the vectorised envs' ``step_wait`` (BatchedVecEnv, or DummyVecEnv of InventoryEnvs)
``wrappers_s``     VecNormalize's ``step_wait`` minus the envs' (normalising observations and rewards)
``rollout_s``      the rest of ``collect_rollouts``: policy forward passes, action sampling, buffer,
                   callbacks, tensor conversions
``update_s``       ``train()``: the gradient updates (PPO's epochs of minibatches)
``other_s``        everything else in ``learn`` (setup, logging)
=================  ==================================================================================

``steps_per_s`` is env steps (all envs together) per second of the whole ``learn`` call. The
optimality work reuses it to see what a setting buys in quality per minute, not only in steps/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stocklab.agents.sb3.agent import SB3Agent
from stocklab.envs.config import EnvConfig


def _timed(owner: Any, name: str, totals: dict[str, float], key: str) -> None:
    """Replace ``owner.name`` by a version adding its run time to ``totals[key]``.

    An instance attribute shadows the class's method, so SB3's own calls go through the wrapper.
    """
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def profile_agent(agent: SB3Agent, steps: int) -> dict[str, Any]:
    """Train ``agent`` for ``steps`` env steps and split the wall time (see the module docstring)."""
    totals = {"env": 0.0, "wrapped": 0.0, "collect": 0.0, "update": 0.0}
    venv = agent.venv
    inner = getattr(venv, "venv", None)
    if inner is not None:  # VecNormalize around the envs
        _timed(inner, "step_wait", totals, "env")
        _timed(venv, "step_wait", totals, "wrapped")
    else:
        _timed(venv, "step_wait", totals, "env")
    _timed(agent.model, "collect_rollouts", totals, "collect")
    _timed(agent.model, "train", totals, "update")
    start = time.perf_counter()
    agent.learn(steps)
    seconds = time.perf_counter() - start
    stepped = venv_steps = agent.num_timesteps
    wrapped = totals["wrapped"] if inner is not None else totals["env"]
    split = {
        "env_s": totals["env"],
        "wrappers_s": wrapped - totals["env"],
        "rollout_s": totals["collect"] - wrapped,
        "update_s": totals["update"],
        "other_s": seconds - totals["collect"] - totals["update"],
    }
    return {
        "vec_env": agent.vec_kind, "n_envs": agent.n_envs, "steps": venv_steps, "seconds": seconds,
        "steps_per_s": stepped / seconds, **split,
        **{k.replace("_s", "_pct"): 100.0 * v / seconds for k, v in split.items()},
    }  # fmt: skip


def profile_training(
    config: EnvConfig | dict[str, Any],
    hyperparams: dict[str, Any],
    steps: int,
    vec_env: str = "batched",
    algo: str = "ppo",
    seed: int = 0,
) -> dict[str, Any]:
    """Build an SB3 agent on ``vec_env`` (``batched`` or ``dummy``) and profile ``steps`` of training."""
    agent = SB3Agent(config, algo, {**hyperparams, "vec_env": vec_env}, seed=seed, torch_threads=1)
    try:
        return profile_agent(agent, steps)
    finally:
        agent.close()
