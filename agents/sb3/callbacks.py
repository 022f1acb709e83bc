"""Callbacks of SB3 training (SB3's ``BaseCallback`` API) used by :class:`~stocklab.agents.sb3.agent.SB3Agent`.

Fixed-seed evaluation (every evaluation sees the same demand), keeping the best network, whole-agent
checkpoints, and a wall-time limit whose clock also drives ``lin_`` schedules. stable_baselines3 is
imported inside the factories, on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.registration import make_inventory_env

if TYPE_CHECKING:
    from stocklab.agents.sb3.agent import SB3Agent


class WallClock:
    """Fraction of a wall-time budget left (1.0 when no budget is running).

    Linear schedules take min(SB3's progress remaining, this fraction), so a time-limited run (``max_seconds``)
    still anneals its learning rate to 0 at the end of its budget.
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter) -> None:
        self._start: float | None = None
        self._limit = 0.0
        self.timer = timer
        """The clock read: ``time.perf_counter`` (wall time) or ``time.process_time`` (CPU time)."""

    def start(self, seconds: float) -> None:
        """Start a budget of ``seconds`` on :attr:`timer`."""
        self._start, self._limit = self.timer(), seconds

    def stop(self) -> None:
        """Stop the budget: :meth:`remaining` is 1.0 again."""
        self._start = None

    def remaining(self) -> float:
        """Fraction of the budget left, in [0, 1] (1.0 when no budget is running)."""
        if self._start is None:
            return 1.0
        return max(0.0, 1.0 - (self.timer() - self._start) / self._limit)


def keep_best_callback(agent: SB3Agent) -> Any:
    """EvalCallback's ``callback_on_new_best``: snapshots the agent's network and VecNormalize statistics."""
    from stable_baselines3.common.callbacks import BaseCallback

    class KeepBest(BaseCallback):
        """Run by EvalCallback on a new best score: remembers the network and statistics."""

        best: Any = None

        def _on_step(self) -> bool:
            self.best = agent._snapshot()
            return True

    return KeepBest()


def fixed_seed_eval(
    agent: SB3Agent, eval_freq: int, episodes: int, periods: int, seed: int, keeper: Any, stop: Any
) -> Any:
    """SB3's EvalCallback, re-seeded with ``seed`` before every evaluation.

    Every evaluation thus sees the same demand (common random numbers); every ``eval_freq`` env steps it scores ``episodes`` episodes of
    ``periods`` periods and appends (steps, average cost per period) to ``agent.evaluations``.
    """
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    config = agent.env_config.model_copy(update={"periods": periods})
    eval_env: Any = DummyVecEnv([lambda: Monitor(make_inventory_env(config=config))])
    if agent._norm_kwargs is not None:
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **agent._norm_kwargs)

    class FixedSeedEval(EvalCallback):
        def _on_step(self) -> bool:
            due = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
            if due:
                self.eval_env.seed(seed)
            go = super()._on_step()
            if due:
                agent.evaluations.append((self.num_timesteps, -float(self.last_mean_reward) / periods))
            return go

    return FixedSeedEval(
        eval_env, callback_on_new_best=keeper, callback_after_eval=stop, n_eval_episodes=episodes,
        eval_freq=max(eval_freq // agent.n_envs, 1), deterministic=True, verbose=0, warn=False,
    )  # fmt: skip


def scored_eval(
    agent: SB3Agent, eval_freq: int, evaluate: Callable[[Any], float], keeper: Any, patience: int | None
) -> Any:
    """Scores the deterministic policy with ``evaluate(policy) -> cost`` every ``eval_freq`` env steps.

    For an exact scorer (the DP's policy evaluation, passed in by the caller: agents do not import
    the baselines) there is no noise, so the best checkpoint is the best policy, not the luckiest.
    Appends (steps, cost) to ``agent.evaluations``, hands a new best to ``keeper`` and stops training
    after ``patience`` scores in a row without improvement.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    class ScoredEval(BaseCallback):
        best = float("inf")
        stale = 0

        def _on_training_start(self) -> None:
            if self.num_timesteps == 0:  # the starting policy (a warm start's) is a candidate too
                self._score()

        def _on_step(self) -> bool:
            if self.n_calls % max(eval_freq // agent.n_envs, 1):
                return True
            return self._score()

        def _score(self) -> bool:
            cost = float(evaluate(agent.policy()))
            agent.evaluations.append((self.num_timesteps, cost))
            if cost < self.best:
                self.best, self.stale = cost, 0
                keeper.best = agent._snapshot()
                return True
            self.stale += 1
            return patience is None or self.stale < patience

    return ScoredEval()


def warm_start_callback(agent: SB3Agent, spec: Any) -> Any:
    """Fits the network to a tuned, rollout-improved capped base-stock rule when training starts (:mod:`.warm_start`).

    Sets ``agent.warm_info`` to what was done.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    class WarmStart(BaseCallback):
        def _on_training_start(self) -> None:
            from stocklab.agents.sb3.warm_start import warm_start

            agent.warm_info = warm_start(agent, spec)

        def _on_step(self) -> bool:
            return True

    return WarmStart()


def time_limit_callback(max_seconds: float, clock: WallClock) -> Any:
    """Stops training after ``max_seconds`` of wall time, running ``clock`` meanwhile."""
    from stable_baselines3.common.callbacks import BaseCallback

    if max_seconds <= 0:
        raise PolicyError(f"max_seconds (={max_seconds}) must be > 0")

    class TimeLimit(BaseCallback):
        """Stops training once ``max_seconds`` of wall time have passed.

        Meanwhile ``lin_`` schedules follow the wall clock too (see :class:`WallClock`).
        """

        def _on_training_start(self) -> None:
            clock.start(max_seconds)

        def _on_step(self) -> bool:
            return clock.remaining() > 0.0

        def _on_training_end(self) -> None:
            clock.stop()

    return TimeLimit()


def checkpoint_callback(agent: SB3Agent, freq: int, directory: Path) -> Any:
    """Saves the whole agent to ``directory/<algo>_<steps>_steps`` every ``freq`` env steps."""
    from stable_baselines3.common.callbacks import CheckpointCallback

    class AgentCheckpoint(CheckpointCallback):
        """SB3's CheckpointCallback writing a whole agent directory (resumable with SB3Agent.load)."""

        saved: list[Path]

        def _on_step(self) -> bool:
            if self.n_calls % self.save_freq == 0:
                out = agent.save(directory / f"{self.name_prefix}_{self.num_timesteps}_steps")
                self.saved = [*getattr(self, "saved", []), out]
            return True

    return AgentCheckpoint(max(freq // agent.n_envs, 1), str(directory), name_prefix=agent.algo)


def budget_callbacks(
    agent: SB3Agent,
    max_seconds: float | None,
    clock: str,
    checkpoint_freq: int | None,
    checkpoint_dir: str | Path | None,
) -> list[Any]:
    """The time limit (``max_seconds`` on ``clock``) and the periodic saves of a training, as asked."""
    from stocklab.agents.tabular.callbacks import timer_of

    callbacks = []
    if max_seconds is not None:
        agent.clock.timer = timer_of(clock)
        callbacks.append(time_limit_callback(max_seconds, agent.clock))
    if checkpoint_freq:
        if checkpoint_dir is None:
            raise PolicyError("train.checkpoint_freq needs a checkpoint directory")
        callbacks.append(checkpoint_callback(agent, checkpoint_freq, Path(checkpoint_dir)))
    return callbacks
