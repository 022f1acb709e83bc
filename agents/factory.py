"""Train, save and load any agent by its config ``kind``: one entry point for the runner and benchmarks.

``kind`` is ``q_learning`` or ``sarsa`` (tabular, :mod:`stocklab.agents.tabular.agent`) or the name of a
Stable-Baselines3 algorithm (``ppo``, ``a2c``, ``dqn``, ...; :mod:`stocklab.agents.sb3.agent`).
``hyperparams`` is the policy's ``hyperparams`` section (see :class:`TabularHyperparams` and the SB3
module docstring); the keyword arguments mirror its ``train`` section.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stocklab.agents.resume import ResumePoint, StaleCheckpoint
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
    clock: str = "wall",
    resume: ResumePoint | None = None,
) -> TrainResult:
    """Train an agent of ``kind`` for ``steps`` env steps (or until ``max_seconds`` / early stopping).

    SB3 kinds train with :func:`stocklab.agents.sb3.defaults.with_defaults` (the tuned defaults of
    ``ppo`` and ``a2c``, overridden by ``hyperparams``). Every ``eval_every`` steps the greedy policy
    is scored on ``episodes`` x ``periods`` periods from the fixed ``eval_seed``, or by
    ``evaluate(policy) -> cost per period`` when given (e.g. exact policy evaluation); the best is kept and
    training stops after ``patience`` scores without improvement. Checkpoints go to
    ``run_dir/checkpoints`` every ``checkpoint_every`` steps, SB3's TensorBoard logs to
    ``run_dir/tensorboard``. ``max_seconds`` is read on ``clock``: ``wall`` time or the process's
    ``cpu`` time (the time on a core of its own, on a shared machine). With ``resume``, training
    goes on from that training's latest checkpoint if there is one (to the same result, to the bit, as
    if never interrupted) and writes one every ``resume.every`` steps (:mod:`stocklab.agents.resume`).
    """
    run = Path(run_dir) if run_dir is not None else None
    ckpt_dir = run / "checkpoints" if run is not None else None
    if checkpoint_every and ckpt_dir is None:
        raise PolicyError("train: checkpoint_every needs a run directory")
    start = time.perf_counter()
    if kind in TABULAR_AGENTS:
        callbacks = _tabular_callbacks(
            kind, eval_every, episodes, periods, eval_seed, patience, evaluate, checkpoint_every, ckpt_dir,
            max_seconds, clock,
        )  # fmt: skip
        agent = _train_tabular(kind, env_config, steps, hyperparams, seed, callbacks, progress_bar, resume)
        ev = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
        evaluations = ev.evaluations if ev is not None else []
        policy: Policy = agent
    else:
        agent, policy, evaluations = _train_sb3(
            kind, env_config, steps, hyperparams, seed, torch_threads, run,
            eval_freq=eval_every, eval_episodes=episodes or 4, eval_periods=periods or 1000,
            eval_seed=eval_seed, patience=patience, checkpoint_freq=checkpoint_every,
            checkpoint_dir=ckpt_dir, progress_bar=progress_bar, max_seconds=max_seconds, evaluate=evaluate,
            clock=clock, resume=resume,
        )  # fmt: skip
    return TrainResult(policy, agent, agent.num_timesteps, time.perf_counter() - start, list(evaluations))


def _train_tabular(
    kind: str,
    env_config: EnvConfig | dict[str, Any],
    steps: int,
    hyperparams: dict[str, Any] | None,
    seed: int,
    callbacks: list[Any],
    progress_bar: bool,
    resume: ResumePoint | None,
) -> TabularAgent:
    """A tabular agent trained for ``steps`` env steps, from ``resume``'s latest checkpoint if any."""
    if resume is None:
        agent = TABULAR_AGENTS[kind](env_config, hyperparams, seed=seed)
        return agent.learn(steps, callback=callbacks, progress_bar=progress_bar)
    from stocklab.agents.tabular.resume import ResumeCallback, resume_from

    ev = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
    try:
        restored = resume_from(resume, ev)
    except PolicyError as exc:  # another version's state: start over
        print(f"{exc}: training from the start", file=sys.stderr)
        resume.clear()
        restored = None
    agent = restored or TABULAR_AGENTS[kind](env_config, hyperparams, seed=seed)
    wrapped = ResumeCallback(resume, callbacks, ev, end=steps)
    return agent.learn(
        steps - agent.num_timesteps, callback=wrapped, progress_bar=progress_bar,
        reset_num_timesteps=restored is None,
    )  # fmt: skip


def _train_sb3(
    kind: str,
    env_config: EnvConfig | dict[str, Any],
    steps: int,
    hyperparams: dict[str, Any] | None,
    seed: int,
    torch_threads: int | None,
    run: Path | None,
    **learn: Any,
) -> tuple[Any, Policy, list[tuple[int, float]]]:
    """An SB3 agent of ``kind`` on its tuned defaults, trained; its greedy policy and evaluations."""
    from stocklab.agents.sb3.agent import SB3Agent
    from stocklab.agents.sb3.defaults import with_defaults

    def build() -> SB3Agent:
        return SB3Agent(
            env_config, kind, with_defaults(kind, hyperparams), seed=seed, torch_threads=torch_threads,
            tensorboard_log=run / "tensorboard" if run is not None else None,
        )  # fmt: skip

    agent = build()
    try:
        agent.learn(steps, **learn)
    except StaleCheckpoint as exc:  # another version's state: start over on a fresh agent
        print(f"{exc}: training from the start", file=sys.stderr)
        agent.close()
        agent = build()
        agent.learn(steps, **learn)
    finally:
        agent.close()
    return agent, agent.policy(), list(agent.evaluations)


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
    clock: str = "wall",
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
        callbacks.append(TimeLimitCallback(max_seconds, clock))
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
