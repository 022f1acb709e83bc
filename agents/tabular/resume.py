"""Checkpoints of a tabular training, taken between episodes, and the resume from the latest.

Between episodes the env holds nothing (each episode resets it with its own seed), so the state is the
agent's (table, visit counts, average-reward estimate, step and episode counters, resolved exploration
schedule, exploration generator: :meth:`TabularAgent.save`) and the evaluation callback's (scores, best
table, early-stopping count). See :mod:`stocklab.agents.resume`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stocklab.agents.resume import ResumePoint
from stocklab.agents.tabular.agent import TabularAgent
from stocklab.agents.tabular.callbacks import CallbackList, EvalCallback, TabularCallback
from stocklab.envs.core.errors import PolicyError


class ResumeCallback(CallbackList):
    """Runs a training's callbacks, then writes a checkpoint every ``point.every`` env steps.

    The checkpoint follows the other callbacks of the same episode (an evaluation due at that step is
    in it), and is skipped when they stop training or the budget of ``end`` steps is spent: a resumed
    training always has steps left to take, as the uninterrupted one had.
    """

    def __init__(
        self, point: ResumePoint, callbacks: list[TabularCallback], evaluation: EvalCallback | None, end: int
    ) -> None:
        super().__init__(callbacks)
        self.point, self.evaluation, self.end = point, evaluation, end
        self._last = 0

    def _init_callback(self) -> None:
        super()._init_callback()
        self._last = self.num_timesteps

    def _on_step(self) -> bool:
        go = super()._on_step()
        if go and self.num_timesteps < self.end and self.num_timesteps - self._last >= self.point.every:
            self._last = self.num_timesteps
            assert self.agent is not None
            agent, evaluation = self.agent, self.evaluation
            self.point.commit(self.num_timesteps, lambda path: _write(path, agent, evaluation))
        return go


def _write(path: Path, agent: TabularAgent, evaluation: EvalCallback | None) -> None:
    agent.save(path / "agent")
    if evaluation is not None:
        info, flat = evaluation.state()
        np.save(path / "best.npy", np.asarray(flat if flat is not None else [], dtype=np.float64))
        (path / "evaluation.json").write_text(json.dumps({**info, "has_best": flat is not None}))


def resume_from(point: ResumePoint, evaluation: EvalCallback | None) -> TabularAgent | None:
    """The agent of the latest checkpoint with the evaluation state put back, or None (start afresh)."""
    found = point.latest()
    if found is None:
        return None
    path, _ = found
    agent = TabularAgent.load(path / "agent")
    if evaluation is not None:
        try:
            info: dict[str, Any] = json.loads((path / "evaluation.json").read_text(encoding="utf-8"))
            flat = np.load(path / "best.npy", allow_pickle=False).tolist() if info["has_best"] else None
            evaluation.load_state(info, flat, [len(a) for a in agent.actions])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
    return agent
