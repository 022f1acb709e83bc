"""Rollouts from a given state: placing the batched engine's stocking points and replaying demand.

Simulation-based policy improvement (:mod:`stocklab.agents.sb3.teacher`) needs to start many
stocking points in chosen states and drive them with demand it chose (common random numbers); a
:class:`~stocklab.envs.engines.batched.BatchedEngine` gets both from this mixin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stocklab.envs.core.errors import ConfigError


class StatePlacement:
    """:meth:`set_state` and :meth:`replay_demand` of the batched engine (its arrays, see BatchedEngine)."""

    #: A demand source set for rollouts, not state: checkpoints leave it out (envs.core.state).
    __transient__ = ("_replay",)
    _replay: Callable[[], np.ndarray] | None = None
    size: int
    n_pipeline: int
    params: Any
    on_hand: np.ndarray
    backlog: np.ndarray
    on_order: np.ndarray
    _pipe: np.ndarray
    _head: int
    _zi: np.ndarray

    def set_state(self, on_hand: Any, pipeline: Any, backlog: Any = None) -> None:
        """Put every stocking point in a given stock state (after :meth:`reset`, or with :meth:`replay_demand`).

        ``on_hand`` (B,) units, ``pipeline`` (B, n) units as :meth:`pipeline` shows them (slot k due
        in k + 1 periods), ``backlog`` (B,) units (None: 0). What a rollout from a state needs
        (simulation-based policy improvement). Only for a fixed lead time, where the observed
        pipeline is the whole state; ConfigError otherwise.
        """
        lead = self.params.fixed_lead
        if lead is None:
            raise ConfigError(
                "set_state needs a fixed lead time: a random one's pipeline is not its whole state"
            )
        pipe = np.asarray(pipeline, dtype=np.int64).reshape(self.size, -1)
        if pipe.shape[1] != self.n_pipeline:
            raise ValueError(f"pipeline has {pipe.shape[1]} slots; this engine has {self.n_pipeline}")
        self.on_hand = np.asarray(on_hand, dtype=np.int64).reshape(self.size).copy()
        self.backlog = (
            self._zi.copy()
            if backlog is None
            else np.asarray(backlog, dtype=np.int64).reshape(self.size).copy()
        )
        self._pipe[:] = 0
        depth = len(self._pipe)
        for k in range(self.n_pipeline):
            self._pipe[(self._head + k) % depth] = pipe[:, k]
        self.on_order = pipe.sum(axis=1)

    def replay_demand(self, source: Callable[[], np.ndarray] | None) -> None:
        """Take each period's demand ((B,) units) from ``source()`` instead of the streams (None: the streams again).

        Rollouts with common random numbers: every candidate action from a state meets the same demand.
        """
        self._replay = source
