"""Train, save and load any agent by its config ``kind``: one entry point for the runner and benchmarks.

``kind`` is ``q_learning`` or ``sarsa`` (tabular, :mod:`stocklab.agents.tabular.agent`) or the name of a
Stable-Baselines3 algorithm (``ppo``, ``a2c``, ``dqn``, ...; :mod:`stocklab.agents.sb3.agent`).
``hyperparams`` is the policy's ``hyperparams`` section (see :class:`TabularHyperparams` and the SB3
module docstring); the keyword arguments mirror its ``train`` section.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stocklab.agents.tabular.agent import TABULAR_AGENTS, TabularAgent
from stocklab.agents.tabular.callbacks import CheckpointCallback, EvalCallback, TimeLimitCallback
from stocklab.envs.config import EnvConfig
from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.policy import Policy


@dataclass
class TrainResult:
    """A trained policy and how it got there."""

    policy: Policy
    """The trained deterministic policy (the best one evaluated, when evaluation was on)."""
    agent: Any
    """The training object (TabularAgent or SB3Agent), e.g. to save a resumable checkpoint."""
    steps: int
    """Env steps (periods) trained."""
    seconds: float
    """Wall time of training."""
    evaluations: list[tuple[int, float]] = field(default_factory=list)
    """Learning curve: (env steps, average cost per period on the evaluation seeds)."""


def train_agent(
    kind: str,
    env_config: EnvConfig | dict[str, Any],
    steps: int,
    hyperparams: dict[str, Any] | None = None,
    *,
    seed: int = 0,
    eval_every: int | None = None,
    episodes: int | None = None,
    periods: int | None = None,
    eval_seed: int = 12345,
    patience: int | None = None,
    run_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress_bar: bool = False,
    max_seconds: float | None = None,
    torch_threads: int | None = 1,
    evaluate: Any = None,
) -> TrainResult:
    """Train an agent of ``kind`` for ``steps`` env steps (or until ``max_seconds`` / early stopping).

    Every ``eval_every`` steps the greedy policy is scored on ``episodes`` x ``periods`` periods from
    the fixed ``eval_seed`` (tabular: or by ``evaluate(policy) -> cost``); the best is kept and
    training stops after ``patience`` scores without improvement. Checkpoints go to
    ``run_dir/checkpoints`` every ``checkpoint_every`` steps, SB3's TensorBoard logs to
    ``run_dir/tensorboard``.
    """
    run = Path(run_dir) if run_dir is not None else None
    ckpt_dir = run / "checkpoints" if run is not None else None
    if checkpoint_every and ckpt_dir is None:
        raise PolicyError("train: checkpoint_every needs a run directory")
    start = time.perf_counter()
    if kind in TABULAR_AGENTS:
        agent = TABULAR_AGENTS[kind](env_config, hyperparams, seed=seed)
        callbacks = _tabular_callbacks(
            kind, eval_every, episodes, periods, eval_seed, patience, evaluate, checkpoint_every, ckpt_dir,
            max_seconds,
        )  # fmt: skip
        agent.learn(steps, callback=callbacks, progress_bar=progress_bar)
        ev = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
        evaluations = ev.evaluations if ev is not None else []
        policy: Policy = agent
    else:
        from stocklab.agents.sb3.agent import SB3Agent

        agent = SB3Agent(
            env_config, kind, hyperparams, seed=seed, torch_threads=torch_threads,
            tensorboard_log=run / "tensorboard" if run is not None else None,
        )  # fmt: skip
        try:
            agent.learn(
                steps, eval_freq=eval_every, eval_episodes=episodes or 4, eval_periods=periods or 1000,
                eval_seed=eval_seed, patience=patience, checkpoint_freq=checkpoint_every,
                checkpoint_dir=ckpt_dir, progress_bar=progress_bar, max_seconds=max_seconds,
            )  # fmt: skip
        finally:
            agent.close()
        evaluations = agent.evaluations
        policy = agent.policy()
    return TrainResult(policy, agent, agent.num_timesteps, time.perf_counter() - start, list(evaluations))


def _tabular_callbacks(
    kind: str,
    eval_every: int | None,
    episodes: int | None,
    periods: int | None,
    eval_seed: int,
    patience: int | None,
    evaluate: Any,
    checkpoint_every: int | None,
    ckpt_dir: Path | None,
    max_seconds: float | None,
) -> list[Any]:
    """The callbacks of a tabular training run: evaluation, checkpoints, a time limit."""
    callbacks: list[Any] = []
    if eval_every:
        callbacks.append(
            EvalCallback(
                eval_every,
                n_eval_episodes=episodes or 4,
                eval_periods=periods or 2000,
                eval_seed=eval_seed,
                evaluate=evaluate,
                patience=patience,
            )  # fmt: skip
        )
    if checkpoint_every and ckpt_dir is not None:
        callbacks.append(CheckpointCallback(checkpoint_every, ckpt_dir, name_prefix=kind))
    if max_seconds is not None:
        callbacks.append(TimeLimitCallback(max_seconds))
    return callbacks


def save_policy(policy: Policy, path: str | Path) -> Path:
    """Save a trained agent's policy to directory ``path`` (tabular: npz + JSON; SB3: zip + JSON)."""
    save = getattr(policy, "save", None)
    if save is None:
        raise PolicyError(f"{policy.name}: not an agent policy that can be saved")
    return save(path)


def load_policy(path: str | Path) -> Policy:
    """Load a policy saved by :func:`save_policy` (the kind is read from the directory)."""
    path = Path(path)
    if (path / "table.npz").is_file():
        return TabularAgent.load(path)
    if (path / "model.zip").is_file():
        from stocklab.agents.sb3.policy import SB3Policy

        return SB3Policy.load(path)
    raise PolicyError(f"{path}: no saved agent here (expected table.npz or model.zip)")
