"""Callbacks of tabular training, after SB3's template method (``stable_baselines3.common.callbacks``).

The training loop calls the public :meth:`TabularCallback.on_step` once per training episode; it
updates the counters and calls the overridable :meth:`TabularCallback._on_step`, whose False stops
training. :class:`EvalCallback` scores the greedy policy on fixed evaluation seeds (common random
numbers, so successive scores differ only by the policy), keeps the best table and stops early;
:class:`CheckpointCallback` saves resumable checkpoints; :class:`ProgressBarCallback` shows a tqdm bar
with an ETA.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stocklab.envs.core.errors import PolicyError
from stocklab.envs.core.seeding import episode_seeds
from stocklab.envs.rollout import episode_costs

if TYPE_CHECKING:
    from stocklab.agents.tabular.agent import TabularAgent
    from stocklab.envs.core.policy import Policy


class TabularCallback:
    """Base class: override :meth:`_on_step` (and optionally the other ``_on_*`` hooks)."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.agent: TabularAgent | None = None
        self.n_calls = 0
        self.num_timesteps = 0

    def init_callback(self, agent: TabularAgent) -> None:
        """Attach to the agent before training starts."""
        self.agent = agent
        self.num_timesteps = agent.num_timesteps
        self._init_callback()

    def on_training_start(self) -> None:
        """Called once before the first training episode."""
        self._on_training_start()

    def on_step(self) -> bool:
        """Called after each training episode; False stops training."""
        self.n_calls += 1
        assert self.agent is not None
        self.num_timesteps = self.agent.num_timesteps
        return self._on_step()

    def on_training_end(self) -> None:
        """Called once after the last training episode."""
        self._on_training_end()

    def _init_callback(self) -> None:
        pass

    def _on_training_start(self) -> None:
        pass

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        pass


class CallbackList(TabularCallback):
    """Runs several callbacks in order; training stops if any of them returns False."""

    def __init__(self, callbacks: Sequence[TabularCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        assert self.agent is not None
        for cb in self.callbacks:
            cb.init_callback(self.agent)

    def _on_training_start(self) -> None:
        for cb in self.callbacks:
            cb.on_training_start()

    def _on_step(self) -> bool:
        go = True
        for cb in self.callbacks:
            go = cb.on_step() and go
        return go

    def _on_training_end(self) -> None:
        for cb in self.callbacks:
            cb.on_training_end()


class EvalCallback(TabularCallback):
    """Scores the greedy policy every ``eval_freq`` env steps; keeps the best; stops early.

    The score is the average cost per period (money) over ``n_eval_episodes`` episodes of
    ``eval_periods`` periods after ``warmup`` periods, on the fixed seeds ``episode_seeds(eval_seed,
    n_eval_episodes)``, or whatever ``evaluate(policy) -> cost`` returns when given. Training stops after
    ``patience`` evaluations in a row without an improvement of more than ``min_delta`` x the best
    cost (None: never). With ``restore_best`` the best table is put back when training ends.
    ``evaluations`` holds ``(num_timesteps, cost)`` pairs.
    """

    def __init__(
        self,
        eval_freq: int,
        n_eval_episodes: int = 4,
        eval_periods: int = 2000,
        warmup: int = 100,
        eval_seed: int = 12345,
        evaluate: Callable[[Policy], float] | None = None,
        patience: int | None = None,
        min_delta: float = 0.0,
        restore_best: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if eval_freq < 1 or n_eval_episodes < 1 or eval_periods < 1:
            raise PolicyError(
                f"evaluation: eval_freq (={eval_freq}), eval_episodes (={n_eval_episodes}) and "
                f"eval_periods (={eval_periods}) must be >= 1"
            )
        if patience is not None and patience < 1:
            raise PolicyError(f"train.patience (={patience}) must be >= 1 or null")
        self.eval_freq = eval_freq
        self.seeds = episode_seeds(eval_seed, n_eval_episodes)
        self.eval_periods, self.warmup = eval_periods, warmup
        self.evaluate = evaluate
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.evaluations: list[tuple[int, float]] = []
        self.best_cost = math.inf
        self.best_timesteps = 0
        self._best: Any = None
        self._last_eval: int | None = None  # None until training starts (or a checkpoint sets it)
        self._stale = 0

    def _init_callback(self) -> None:
        if self._last_eval is None:
            self._last_eval = self.num_timesteps

    def state(self) -> tuple[dict[str, Any], list[float] | None]:
        """What a resumed training needs of this callback: counters and scores (JSON), the best table."""
        info = {
            "evaluations": self.evaluations,
            "best_cost": None if math.isinf(self.best_cost) else self.best_cost,
            "best_timesteps": self.best_timesteps,
            "last_eval": self._last_eval,
            "stale": self._stale,
            "best_rho": None if self._best is None else self._best[1],
        }
        flat = None if self._best is None else [x for row in self._best[0] for x in row]
        return info, flat

    def load_state(self, info: dict[str, Any], flat: list[float] | None, row_lengths: list[int]) -> None:
        """Put back a :meth:`state`; ``row_lengths`` are the agent's table rows (allowed actions)."""
        evaluations = [(int(s), float(c)) for s, c in info["evaluations"]]
        best_cost = math.inf if info["best_cost"] is None else float(info["best_cost"])
        best_timesteps, stale = int(info["best_timesteps"]), int(info["stale"])
        last_eval = None if info["last_eval"] is None else int(info["last_eval"])
        best = None
        if flat is not None:
            rows, at = [], 0
            for n in row_lengths:
                rows.append([float(x) for x in flat[at : at + n]])
                at += n
            best = (rows, float(info["best_rho"]))
        self.evaluations, self.best_cost, self.best_timesteps = evaluations, best_cost, best_timesteps
        self._stale, self._last_eval, self._best = stale, last_eval, best

    def score(self) -> float:
        """Average cost per period of the current greedy policy (lower is better)."""
        assert self.agent is not None
        if self.evaluate is not None:
            return float(self.evaluate(self.agent))
        costs = episode_costs(
            self.agent.env_config, self.agent.act, self.seeds, self.eval_periods, self.warmup
        )
        return float(np.mean(costs))

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_eval < self.eval_freq:
            return True
        self._last_eval = self.num_timesteps
        return self._evaluate()

    def _evaluate(self) -> bool:
        assert self.agent is not None
        cost = self.score()
        self.evaluations.append((self.num_timesteps, cost))
        if cost < self.best_cost * (1.0 - self.min_delta):
            self._stale = 0
        else:
            self._stale += 1
        if cost < self.best_cost:
            self.best_cost, self.best_timesteps = cost, self.num_timesteps
            self._best = self.agent.snapshot()
        if self.verbose:
            print(
                f"eval @ {self.num_timesteps}: cost {cost:.4f} (best {self.best_cost:.4f})", file=sys.stderr
            )
        return self.patience is None or self._stale < self.patience

    def _on_training_end(self) -> None:
        assert self.agent is not None
        if self.num_timesteps > self._last_eval:
            self._last_eval = self.num_timesteps
            self._evaluate()
        if self.restore_best and self._best is not None:
            self.agent.restore(self._best)


class CheckpointCallback(TabularCallback):
    """Saves the agent to ``save_path/<name_prefix>_<steps>_steps`` every ``save_freq`` env steps.

    A checkpoint is taken between episodes, so ``TabularAgent.load(path).learn(n,
    reset_num_timesteps=False)`` continues exactly as the uninterrupted run would.
    """

    def __init__(self, save_freq: int, save_path: str | Path, name_prefix: str = "tabular", verbose: int = 0):
        super().__init__(verbose)
        if save_freq < 1:
            raise PolicyError(f"train.checkpoint_freq (={save_freq}) must be >= 1")
        self.save_freq, self.save_path, self.name_prefix = save_freq, Path(save_path), name_prefix
        self.saved: list[Path] = []
        self._last = 0

    def _init_callback(self) -> None:
        self._last = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.save_freq:
            assert self.agent is not None
            self._last = self.num_timesteps
            path = self.save_path / f"{self.name_prefix}_{self.num_timesteps}_steps"
            self.saved.append(self.agent.save(path))
            if self.verbose:
                print(f"checkpoint: {path}", file=sys.stderr)
        return True


class TimeLimitCallback(TabularCallback):
    """Stops training once ``max_seconds`` have passed since training started.

    ``clock``: ``wall`` (elapsed time) or ``cpu`` (this process's CPU time: on a machine shared with
    other jobs, the time the run would take on a core of its own).
    """

    def __init__(self, max_seconds: float, clock: str = "wall") -> None:
        super().__init__()
        if max_seconds <= 0:
            raise PolicyError(f"max_seconds (={max_seconds}) must be > 0")
        self.max_seconds = max_seconds
        self._timer = timer_of(clock)
        self._start = 0.0

    def _on_training_start(self) -> None:
        self._start = self._timer()

    def _on_step(self) -> bool:
        return self._timer() - self._start < self.max_seconds


#: Budget clocks: elapsed wall time, or the process's CPU time.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def timer_of(clock: str) -> Callable[[], float]:
    """The timer of budget clock ``clock`` (``wall`` or ``cpu``); PolicyError otherwise."""
    if clock not in CLOCKS:
        raise PolicyError(f"budget clock {clock!r}; allowed: {', '.join(CLOCKS)}")
    return CLOCKS[clock]


class ProgressBarCallback(TabularCallback):
    """A tqdm progress bar (steps, rate, ETA) on stderr; silent when stderr is not a terminal."""

    def __init__(self, total_timesteps: int, disable: bool | None = None) -> None:
        super().__init__()
        self.total = total_timesteps
        self.disable = (not sys.stderr.isatty()) if disable is None else disable
        self._bar: Any = None
        self._start = 0

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self._start = self.num_timesteps
        self._bar = tqdm(total=self.total, unit="step", unit_scale=True, disable=self.disable, leave=False)

    def _on_step(self) -> bool:
        self._bar.update(self.num_timesteps - self._start - self._bar.n)
        return True

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
